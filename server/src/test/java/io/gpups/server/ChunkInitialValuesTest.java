package io.gpups.server;

import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.Messages;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import org.junit.jupiter.api.Test;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A chunk's initial values reach the device a slice at a time: a chunk larger than the slice gets exactly the
 * initializer's values at every element, across slice boundaries, and no array handed to the device is longer
 * than the slice, whatever the chunk's size.
 */
class ChunkInitialValuesTest {

    /** The CPU device, with the length of every float[] uploaded from recorded. */
    private static Device recording(Device device, List<Integer> uploadedArrays) {
        return (Device) Proxy.newProxyInstance(Device.class.getClassLoader(), new Class<?>[] {Device.class}, (proxy, m, args) -> {
            if (m.getName().equals("upload") && args[0] instanceof float[] src) {
                uploadedArrays.add(src.length);
            }
            try {
                return m.invoke(device, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        });
    }

    @Test
    void aChunkOfTwoAndAHalfSlicesHoldsTheInitializersValuesAndIsStagedASliceAtATime() {
        int slice = InitialValues.SLICE_FLOATS;
        int chunkElements = 2 * slice + slice / 2 + 3;
        // Chunk 1 of 2 starts at element chunkElements, so slices start at offsets that are no multiple of anything.
        Initializer normal = new Initializer(Initializer.Kind.NORMAL, 0.02f, 77);
        TensorSpec spec = new TensorSpec("big", new long[] {2L * chunkElements - 5}, normal, new OptimizerSpec.Sgd(0.1f, 0f));
        TensorState tensor = new TensorState(0, new Messages.Register(spec, chunkElements, new int[] {1}));
        List<Integer> uploaded = new ArrayList<>();
        try (Device cpu = Devices.installed().open("cpu", line -> { });
             ChunkState chunk = new ChunkState(tensor, 1, recording(cpu, uploaded), false, 1)) {
            assertEquals(chunkElements, chunk.offset);
            assertEquals(chunkElements - 5, chunk.length);
            assertEquals(List.of(slice, slice, slice), uploaded, "three uploads through one slice-long array");
            float[] values = new float[chunk.length];
            cpu.download(chunk.param, 0, values, 0, chunk.length);
            for (int i = 0; i < values.length; i++) {
                if (Float.floatToIntBits(values[i]) != Float.floatToIntBits(normal.valueAt(chunk.offset + i))) {
                    throw new AssertionError("element " + i + " of the chunk (tensor element " + (chunk.offset + i) + "): "
                            + values[i] + ", the initializer gives " + normal.valueAt(chunk.offset + i));
                }
            }
        }
    }

    @Test
    void constantChunksAreFilledOnTheDeviceWithNoStagingArray() {
        TensorSpec spec = new TensorSpec("c", new long[] {3 * 1000 + 1}, new Initializer(Initializer.Kind.CONSTANT, 0.25f, 0),
                new OptimizerSpec.Sgd(0.1f, 0f));
        TensorState tensor = new TensorState(0, new Messages.Register(spec, 1000, new int[] {3}));
        List<Integer> uploaded = new ArrayList<>();
        try (Device cpu = Devices.installed().open("cpu", line -> { });
             ChunkState chunk = new ChunkState(tensor, 3, recording(cpu, uploaded), false, 1)) {
            assertTrue(uploaded.isEmpty(), "no array uploaded: " + uploaded);
            float[] values = new float[chunk.length];
            cpu.download(chunk.param, 0, values, 0, chunk.length);
            assertEquals(1, values.length);
            assertEquals(0.25f, values[0]);
        }
    }
}
