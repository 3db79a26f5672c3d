package io.gpups.cuda;

/**
 * Grid and block size of a one-dimensional grid-stride kernel launch. Every kernel of {@code gpups_kernels.cu}
 * loops until it has covered its range, so any grid is correct; the size only decides speed. The grid is capped at
 * what the device keeps resident at once (SMs x threads per SM / block), which is what a grid-stride loop wants:
 * every thread resident, no tail of late blocks, and each thread walking the range in coalesced strides.
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

    /** The shape of a launch over {@code elements} items on a device with these properties. */
    static LaunchConfig forElements(long elements, DeviceShape device) {
        int block = Math.min(DEFAULT_BLOCK, device.maxThreadsPerBlock());
        long resident = (long) device.multiprocessors() * Math.max(1, device.maxThreadsPerMultiprocessor() / block);
        long needed = Math.max(1, elements / block + (elements % block == 0 ? 0 : 1)); // no overflow near Long.MAX_VALUE
        return new LaunchConfig((int) Math.max(1, Math.min(needed, resident)), block);
    }

    /**
     * A launch whose blocks must have exactly {@code threadsPerBlock} threads (a kernel that maps thread t to element t
     * of a block of work, e.g. a codec block) over {@code workBlocks} such blocks: at most one resident wave, each
     * block striding over the work blocks.
     */
    static LaunchConfig forBlocks(long workBlocks, int threadsPerBlock, DeviceShape device) {
        if (threadsPerBlock > device.maxThreadsPerBlock()) {
            throw new IllegalArgumentException("kernel needs " + threadsPerBlock + " threads per block, the device allows "
                    + device.maxThreadsPerBlock());
        }
        return new LaunchConfig((int) Math.max(1, Math.min(workBlocks, residentBlocks(threadsPerBlock, device))),
                threadsPerBlock);
    }

    /** Blocks of {@code threadsPerBlock} threads the device keeps resident at once (by thread count). */
    static long residentBlocks(int threadsPerBlock, DeviceShape device) {
        return (long) device.multiprocessors() * Math.max(1, device.maxThreadsPerMultiprocessor() / threadsPerBlock);
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
