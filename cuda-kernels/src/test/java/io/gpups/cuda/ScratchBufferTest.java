package io.gpups.cuda;

import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.device.DeviceOutOfMemoryException;
import io.gpups.nativecpu.CpuDevice;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The growth rule of the CUDA device's scratch buffers, with real (CPU device) buffers and an allocator that fails
 * when told to: after an out-of-memory error the scratch holds no closed buffer, and the next request is served.
 */
class ScratchBufferTest {

    private final CpuDevice device = new CpuDevice(1);
    private final List<DeviceBuffer> allocated = new ArrayList<>();
    /** Requests above this many floats fail as a full device does. */
    private long limit = Long.MAX_VALUE;

    private DeviceBuffer allocate(long elements) {
        if (elements > limit) {
            throw new DeviceOutOfMemoryException("cannot allocate " + elements + " floats (limit " + limit + ")");
        }
        DeviceBuffer b = device.allocate(elements);
        allocated.add(b);
        return b;
    }

    @AfterEach
    void close() {
        device.close();
    }

    @Test
    void aFailedGrowthLeavesNoClosedBufferBehindAndTheNextRequestIsServed() {
        ScratchBuffer<DeviceBuffer> scratch = new ScratchBuffer<>(this::allocate);
        DeviceBuffer first = scratch.atLeast(10);
        assertEquals(ScratchBuffer.MIN_ELEMENTS, first.elements());
        assertSame(first, scratch.atLeast(ScratchBuffer.MIN_ELEMENTS), "large enough: kept");

        limit = 1500;
        assertThrows(DeviceOutOfMemoryException.class, () -> scratch.atLeast(4000));
        assertEquals(null, scratch.current(), "the old buffer was given up for the growth, and none was kept");
        DeviceBuffer again = scratch.atLeast(100);
        device.upload(new float[] {1, 2, 3}, 0, again, 0, 3); // a closed buffer would fail here
        float[] back = new float[3];
        device.download(again, 0, back, 0, 3);
        assertEquals(3f, back[2]);
        scratch.close();
    }

    @Test
    void whenDoublingDoesNotFitExactlyTheRequestIsTried() {
        ScratchBuffer<DeviceBuffer> scratch = new ScratchBuffer<>(this::allocate);
        scratch.atLeast(1000);
        limit = 1500;
        DeviceBuffer grown = scratch.atLeast(1400); // doubling wants 2048
        assertEquals(1400, grown.elements());
        assertTrue(allocated.get(0) != grown);
        scratch.close();
    }
}
