package io.gpups.nativecpu;

import io.gpups.core.device.DeviceBuffer;

import org.bytedeco.javacpp.FloatPointer;

/**
 * Off-heap float32 storage of a {@link CpuDevice}: zero-filled at allocation, freed by {@link #close()}
 * (idempotent) or when its device closes. Memory is owned explicitly, like device memory on a GPU: it is not
 * counted against JavaCPP's {@code maxBytes} and not freed by the garbage collector, so a buffer that is
 * never closed lives until its device closes.
 */
public final class CpuDeviceBuffer implements DeviceBuffer {

    private final CpuDevice device;
    private final long id;
    private final long elements;
    private FloatPointer storage;

    CpuDeviceBuffer(CpuDevice device, long id, long elements, FloatPointer storage) {
        this.device = device;
        this.id = id;
        this.elements = elements;
        this.storage = storage;
    }

    @Override
    public long elements() {
        return elements;
    }

    CpuDevice device() {
        return device;
    }

    /** The storage positioned at element {@code offset}; throws if the buffer was closed. */
    FloatPointer at(long offset) {
        FloatPointer p = storage;
        if (p == null) {
            throw new IllegalStateException(this + " is closed");
        }
        return offset == 0 ? p : new FloatPointer(p).position(offset);
    }

    boolean isClosed() {
        return storage == null;
    }

    @Override
    public void close() {
        FloatPointer p = storage;
        if (p != null) {
            storage = null;
            device.released(this);
            CpuKernels.free_floats(p);
        }
    }

    @Override
    public String toString() {
        return device.name() + " buffer #" + id + " (" + elements + " floats)";
    }
}
