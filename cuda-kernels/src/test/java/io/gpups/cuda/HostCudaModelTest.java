package io.gpups.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host CUDA model itself, through the probe kernels of {@code model_probes.h}: warp collectives exchange the right
 * lanes' values, shared memory is per block and ordered by {@code __syncthreads}, atomics are atomic and return the old
 * value, and the misuses a GPU leaves undefined (a lane outside its collective's mask, a barrier not every thread
 * reaches, a wrong argument) fail the launch with a message naming them.
 */
class HostCudaModelTest {

    @Test
    void shuffleXorReadsTheButterflyPartner() {
        for (int laneMask : new int[] {1, 5, 16, 31}) {
            ModelMemory out = ModelMemory.bytes(4 * 256);
            ModelKernels.launch("probe_shfl_xor", 2, 1, 128, out.at(0), laneMask);
            for (int t = 0; t < 256; t++) {
                assertEquals(t ^ laneMask, out.intAt(4L * t), "thread " + t + ", lane mask " + laneMask);
            }
        }
    }

    @Test
    void ballotAnyAndAllSeeTheWholeWarp() {
        ModelMemory out = ModelMemory.bytes(4 * 8);
        ModelKernels.launch("probe_ballot", 1, 1, 128, out.at(0), 4);
        for (int w = 0; w < 4; w++) {
            assertEquals(0xaaaaaaaa, out.intAt(4L * w), "ballot of warp " + w);
            assertEquals(1, out.intAt(4L * (4 + w)), "any (1) and not all (0) of warp " + w);
        }
    }

    @Test
    void sharedMemoryIsPerBlockAndOrderedByTheBarrier() {
        ModelMemory out = ModelMemory.bytes(4 * 3 * 1024);
        ModelKernels.launch("probe_shared_reverse", 3, 1, 1024, out.at(0));
        for (int b = 0; b < 3; b++) {
            for (int t = 0; t < 1024; t++) {
                assertEquals(b * 10000 + 1023 - t, out.intAt(4L * (b * 1024 + t)), "block " + b + " thread " + t);
            }
        }
    }

    @Test
    void atomicsAddCompareAndSwapAndTakeTheMaximum() {
        ModelMemory ints = ModelMemory.bytes(16);
        ModelMemory uints = ModelMemory.bytes(12);
        ModelMemory sum = ModelMemory.bytes(4);
        for (int i = 0; i < 4; i++) {
            ints.putInt(4L * i, 0);
        }
        for (int i = 0; i < 3; i++) {
            uints.putInt(4L * i, 0);
        }
        sum.putInt(0, 0);
        ModelKernels.launch("probe_atomics", 5, 1, 96, ints.at(0), uints.at(0), sum.at(0));
        int threads = 5 * 96;
        assertEquals(threads, ints.intAt(0), "atomicAdd(int)");
        assertEquals(2 * threads, uints.intAt(0), "atomicAdd(unsigned)");
        assertEquals(threads * 0.5f, sum.buffer().getFloat(0), "atomicAdd(float)");
        assertEquals(threads - 1, ints.intAt(4), "atomicMax(int)");
        assertEquals(3 * (threads - 1), uints.intAt(4), "atomicMax(unsigned)");
        assertTrue(ints.intAt(8) >= 1 && ints.intAt(8) <= threads, "atomicCAS stored one thread's value");
        assertEquals(1, ints.intAt(12), "exactly one atomicCAS saw the 0");
        assertEquals(7, uints.intAt(8), "atomicCAS(unsigned)");
    }

    @Test
    void aLaneOutsideItsCollectivesMaskFailsTheLaunch() {
        ModelMemory out = ModelMemory.bytes(4 * 32);
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> ModelKernels.launch("probe_ballot_lane_outside_mask", 1, 1, 32, out.at(0)));
        assertTrue(e.getMessage().contains("lane 16") && e.getMessage().contains("0x0000ffff"), e.getMessage());
    }

    @Test
    void aBarrierThatHalfTheBlockNeverReachesIsADeadlock() {
        ModelMemory out = ModelMemory.bytes(4 * 64);
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> ModelKernels.launch("probe_divergent_syncthreads", 1, 1, 64, out.at(0)));
        assertTrue(e.getMessage().contains("deadlocked: 32 of 64 threads wait at __syncthreads"), e.getMessage());
    }

    @Test
    void aLaunchChecksTheArgumentsAgainstTheKernelsParameters() {
        ModelMemory x = ModelMemory.floats(8);
        RuntimeException count = assertThrows(RuntimeException.class,
                () -> ModelKernels.launch(KernelNames.FILL, 1, 1, 32, x.at(0), 1f));
        assertTrue(count.getMessage().contains("gpups_fill takes 3 arguments, got 2"), count.getMessage());
        RuntimeException size = assertThrows(RuntimeException.class,
                () -> ModelKernels.launch(KernelNames.FILL, 1, 1, 32, x.at(0), 1f, 8));
        assertTrue(size.getMessage().contains("argument 2 is 8 bytes, got 4"), size.getMessage());
        RuntimeException shape = assertThrows(RuntimeException.class,
                () -> ModelKernels.launch(KernelNames.FILL, 1, 1, 2048, x.at(0), 1f, 8L));
        assertTrue(shape.getMessage().contains("outside CUDA's limits"), shape.getMessage());
    }
}
