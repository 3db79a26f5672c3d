package io.gpups.core.device;

/**
 * A device allocation failed for lack of device memory (on CUDA: {@code CUDA_ERROR_OUT_OF_MEMORY}). It concerns
 * the request that asked for the memory, not the device: what was allocated before is intact and the device keeps
 * working, so a shard answers that one request with an error and goes on serving. The message names the size asked
 * for and, where known, the device's free memory.
 */
public final class DeviceOutOfMemoryException extends RuntimeException {
    public DeviceOutOfMemoryException(String message) {
        super(message);
    }
}
