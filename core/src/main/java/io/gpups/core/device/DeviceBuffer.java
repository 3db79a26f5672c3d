package io.gpups.core.device;

/**
 * A float32 buffer in a device's memory. Its owner closes it; closing twice is harmless.
 * A buffer may only be used with the device that allocated it.
 */
public interface DeviceBuffer extends AutoCloseable {

    /** Capacity in float32 elements. */
    long elements();

    @Override
    void close();
}
