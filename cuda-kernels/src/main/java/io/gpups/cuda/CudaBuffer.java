package io.gpups.cuda;

import io.gpups.core.device.DeviceBuffer;

import jcuda.driver.CUdeviceptr;

/**
 * float32 storage in one GPU's memory, owned by a {@link CudaDevice}: zero-filled at allocation, freed by
 * {@link #close()} (idempotent, from any thread) or when its device closes.
 */
public final class CudaBuffer implements DeviceBuffer {

    private final CudaDevice device;
    private final long id;
    private final long elements;
    private volatile CUdeviceptr pointer;
    /** The device address of element 0, as a kernel sees it (written into batch tables). */
    private final long address;

    CudaBuffer(CudaDevice device, long id, long elements, CUdeviceptr pointer, long address) {
        this.device = device;
        this.id = id;
        this.elements = elements;
        this.pointer = pointer;
        this.address = address;
    }

    @Override
    public long elements() {
        return elements;
    }

    CudaDevice device() {
        return device;
    }

    boolean isClosed() {
        return pointer == null;
    }

    /** The device address of element {@code offset}; throws if the buffer was closed. */
    CUdeviceptr at(long offset) {
        CUdeviceptr p = pointer;
        if (p == null) {
            throw new IllegalStateException(this + " is closed");
        }
        return offset == 0 ? p : p.withByteOffset(offset * Float.BYTES);
    }

    /** The device address of element {@code offset}, for a table a kernel reads; throws if the buffer was closed. */
    long address(long offset) {
        if (pointer == null) {
            throw new IllegalStateException(this + " is closed");
        }
        return address + offset * Float.BYTES;
    }

    @Override
    public void close() {
        CUdeviceptr p;
        synchronized (this) {
            p = pointer;
            pointer = null;
        }
        if (p != null) {
            device.free(this, p);
        }
    }

    @Override
    public String toString() {
        return device.name() + " buffer #" + id + " (" + elements + " floats)";
    }
}
