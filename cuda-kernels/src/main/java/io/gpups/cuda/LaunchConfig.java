package io.gpups.cuda;

/**
 * Grid and block size of a one-dimensional grid-stride kernel launch. Every kernel of {@code gpups_kernels.cu}
 * loops until it has covered its range, so any grid is correct; the size only decides speed. The grid is capped at
 * what the device keeps resident at once, which is what a grid-stride loop wants: every thread resident, no tail of
 * late blocks, and each thread walking the range in coalesced strides. Resident means SMs x the blocks of this kernel
 * one SM holds: its occupancy ({@code cuOccupancyMaxActiveBlocksPerMultiprocessor}, which counts the kernel's
 * registers and shared memory) where the caller knows it, else by threads alone (threads per SM / block).
 *
 * @param blocks          grid size in blocks, >= 1
 * @param threadsPerBlock block size, >= 1
 */
record LaunchConfig(int blocks, int threadsPerBlock) {

    /** A multiple of the warp size that fits every CUDA GPU (limit 1024) and keeps 8 blocks resident per SM on sm_80+. */
    static final int DEFAULT_BLOCK = 256;

    LaunchConfig {
        if (blocks < 1 || threadsPerBlock < 1) {
            throw new IllegalArgumentException("launch needs blocks >= 1 and threads >= 1, got " + blocks + " x "
                    + threadsPerBlock);
        }
    }

    /** Occupancy not known: residency by threads alone. */
    static final int BY_THREADS = 0;

    /** The shape of a launch over {@code elements} items on a device with these properties (residency by threads). */
    static LaunchConfig forElements(long elements, DeviceShape device) {
        return forElements(elements, device, BY_THREADS);
    }

    /**
     * The same for a kernel of which one SM holds {@code blocksPerSm} blocks of {@link #blockFor this device's block
     * size} ({@link #BY_THREADS}: unknown).
     */
    static LaunchConfig forElements(long elements, DeviceShape device, int blocksPerSm) {
        int block = blockFor(device);
        long resident = residentBlocks(block, device, blocksPerSm);
        long needed = Math.max(1, elements / block + (elements % block == 0 ? 0 : 1)); // no overflow near Long.MAX_VALUE
        return new LaunchConfig((int) Math.max(1, Math.min(needed, resident)), block);
    }

    /** The block size of an element-wise launch on this device. */
    static int blockFor(DeviceShape device) {
        return Math.min(DEFAULT_BLOCK, device.maxThreadsPerBlock());
    }

    /**
     * A launch whose blocks must have exactly {@code threadsPerBlock} threads (a kernel that maps thread t to element t
     * of a block of work, e.g. a codec block) over {@code workBlocks} such blocks: at most one resident wave, each
     * block striding over the work blocks.
     */
    static LaunchConfig forBlocks(long workBlocks, int threadsPerBlock, DeviceShape device) {
        return forBlocks(workBlocks, threadsPerBlock, device, BY_THREADS);
    }

    /** The same for a kernel of which one SM holds {@code blocksPerSm} such blocks ({@link #BY_THREADS}: unknown). */
    static LaunchConfig forBlocks(long workBlocks, int threadsPerBlock, DeviceShape device, int blocksPerSm) {
        if (threadsPerBlock > device.maxThreadsPerBlock()) {
            throw new IllegalArgumentException("kernel needs " + threadsPerBlock + " threads per block, the device allows "
                    + device.maxThreadsPerBlock());
        }
        return new LaunchConfig((int) Math.max(1, Math.min(workBlocks,
                residentBlocks(threadsPerBlock, device, blocksPerSm))), threadsPerBlock);
    }

    /** Blocks of {@code threadsPerBlock} threads the device keeps resident at once (by thread count). */
    static long residentBlocks(int threadsPerBlock, DeviceShape device) {
        return residentBlocks(threadsPerBlock, device, BY_THREADS);
    }

    /**
     * Blocks of {@code threadsPerBlock} threads the device keeps resident at once: SMs x the kernel's occupancy
     * {@code blocksPerSm}, never more than the threads allow; by threads alone when the occupancy is
     * {@link #BY_THREADS}. At least one per SM (a kernel that fits none fails at launch, naming the reason).
     */
    static long residentBlocks(int threadsPerBlock, DeviceShape device, int blocksPerSm) {
        int byThreads = Math.max(1, device.maxThreadsPerMultiprocessor() / threadsPerBlock);
        int perSm = blocksPerSm > 0 ? Math.min(blocksPerSm, byThreads) : byThreads;
        return (long) device.multiprocessors() * Math.max(1, perSm);
    }

    /**
     * The properties a launch shape is computed from, read once per device from {@code cuDeviceGetAttribute}.
     *
     * @param multiprocessors             {@code CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT}
     * @param maxThreadsPerMultiprocessor {@code CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR}
     * @param maxThreadsPerBlock          {@code CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK}
     */
    record DeviceShape(int multiprocessors, int maxThreadsPerMultiprocessor, int maxThreadsPerBlock) {
        DeviceShape {
            if (multiprocessors < 1 || maxThreadsPerMultiprocessor < 1 || maxThreadsPerBlock < 1) {
                throw new IllegalArgumentException("device properties must be >= 1: SMs " + multiprocessors
                        + ", threads/SM " + maxThreadsPerMultiprocessor + ", threads/block " + maxThreadsPerBlock);
            }
        }
    }
}
