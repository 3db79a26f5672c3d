package io.gpups.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class LaunchConfigTest {

    /** An H100 SXM: 132 SMs, 2048 threads per SM, 1024 per block. */
    private static final LaunchConfig.DeviceShape H100 = new LaunchConfig.DeviceShape(132, 2048, 1024);

    @Test
    void smallRangesGetJustEnoughBlocks() {
        assertEquals(new LaunchConfig(1, 256), LaunchConfig.forElements(1, H100));
        assertEquals(new LaunchConfig(1, 256), LaunchConfig.forElements(256, H100));
        assertEquals(new LaunchConfig(2, 256), LaunchConfig.forElements(257, H100));
    }

    @Test
    void largeRangesAreCappedAtOneResidentWaveAndGridStride() {
        // 132 SMs x (2048 / 256) resident blocks each.
        assertEquals(new LaunchConfig(1056, 256), LaunchConfig.forElements(1L << 30, H100));
        assertEquals(new LaunchConfig(1056, 256), LaunchConfig.forElements(Long.MAX_VALUE, H100));
    }

    @Test
    void theBlockNeverExceedsTheDeviceLimit() {
        LaunchConfig.DeviceShape small = new LaunchConfig.DeviceShape(2, 128, 128);
        assertEquals(new LaunchConfig(2, 128), LaunchConfig.forElements(1 << 20, small));
    }

    @Test
    void fixedBlockLaunchesCoverTheWorkBlocksUpToOneResidentWave() {
        assertEquals(new LaunchConfig(1, 256), LaunchConfig.forBlocks(1, 256, H100));
        assertEquals(new LaunchConfig(40, 256), LaunchConfig.forBlocks(40, 256, H100));
        assertEquals(new LaunchConfig(1056, 256), LaunchConfig.forBlocks(1L << 20, 256, H100));
        assertEquals(1056, LaunchConfig.residentBlocks(256, H100));
        assertThrows(IllegalArgumentException.class,
                () -> LaunchConfig.forBlocks(4, 256, new LaunchConfig.DeviceShape(2, 128, 128)));
    }

    /** A kernel whose registers let an SM hold 3 of its 256-thread blocks, not the 8 its threads would allow. */
    @Test
    void theKernelsOccupancyCapsTheGridBelowWhatThreadsAloneAllow() {
        assertEquals(new LaunchConfig(396, 256), LaunchConfig.forElements(1L << 30, H100, 3));
        assertEquals(396, LaunchConfig.residentBlocks(256, H100, 3));
        assertEquals(new LaunchConfig(396, 256), LaunchConfig.forBlocks(1L << 20, 256, H100, 3));
        // Occupancy above the thread limit is capped by the threads; unknown (0) falls back to them.
        assertEquals(1056, LaunchConfig.residentBlocks(256, H100, 32));
        assertEquals(1056, LaunchConfig.residentBlocks(256, H100, LaunchConfig.BY_THREADS));
        // Small ranges still get just enough blocks.
        assertEquals(new LaunchConfig(2, 256), LaunchConfig.forElements(257, H100, 3));
    }

    @Test
    void nonsenseIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new LaunchConfig.DeviceShape(0, 2048, 1024));
        assertThrows(IllegalArgumentException.class, () -> new LaunchConfig(0, 256));
    }
}
