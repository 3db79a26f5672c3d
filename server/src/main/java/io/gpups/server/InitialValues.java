package io.gpups.server;

import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.tensor.Initializer;

/**
 * Writes a chunk's initial parameter values to the device. Values are a pure function of the element's index
 * in its tensor ({@link Initializer#valueAt}), so they are computed and uploaded a slice at a time through one
 * staging array of at most {@link #SLICE_FLOATS} floats: the heap a chunk's initialization takes is bounded by
 * the slice, not by the chunk (a 256 MiB chunk stages 4 MiB at a time). Zeros and constants need no staging.
 */
final class InitialValues {

    /** Floats computed and uploaded at a time: 1 Mi (4 MiB of heap). */
    static final int SLICE_FLOATS = 1 << 20;

    private InitialValues() {
    }

    /** Fills {@code dst[0..length)} with the values of elements {@code first..first+length} of the tensor. */
    static void write(Initializer initializer, long first, Device device, DeviceBuffer dst, int length) {
        write(initializer, first, device, dst, length, SLICE_FLOATS);
    }

    static void write(Initializer initializer, long first, Device device, DeviceBuffer dst, int length, int sliceFloats) {
        if (initializer.kind() == Initializer.Kind.ZEROS || initializer.kind() == Initializer.Kind.CONSTANT) {
            device.fill(dst, initializer.valueAt(first), length);
            return;
        }
        float[] slice = new float[Math.min(sliceFloats, length)];
        for (int done = 0; done < length; done += slice.length) {
            int n = Math.min(slice.length, length - done);
            initializer.fill(first + done, slice, n);
            device.upload(slice, 0, dst, done, n);
        }
    }
}
