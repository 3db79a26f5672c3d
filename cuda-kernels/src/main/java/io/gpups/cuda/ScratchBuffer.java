package io.gpups.cuda;

import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.device.DeviceOutOfMemoryException;

import java.util.function.LongFunction;

/**
 * A device buffer a {@link CudaDevice} keeps between calls and grows on demand (doubling, so a run of growing requests
 * costs few allocations). It never holds a closed buffer: the old buffer is dropped before the new one is allocated,
 * so when that allocation fails the next request simply allocates again. When doubling does not fit, exactly the
 * requested size is tried before giving up.
 *
 * @param <B> the buffer type (generic so the growth rule is tested with any device's buffers)
 */
final class ScratchBuffer<B extends DeviceBuffer> implements AutoCloseable {

    /** The least size allocated, in floats. */
    static final long MIN_ELEMENTS = 1024;

    private final LongFunction<B> allocate;
    private B buffer;

    ScratchBuffer(LongFunction<B> allocate) {
        this.allocate = allocate;
    }

    /** A buffer of at least {@code elements} floats: the one held if it is large enough, else a new one. */
    B atLeast(long elements) {
        B current = buffer;
        if (current != null && current.elements() >= elements) {
            return current;
        }
        long wanted = Math.max(elements, current == null ? MIN_ELEMENTS : 2 * current.elements());
        buffer = null;
        if (current != null) {
            current.close();
        }
        B grown;
        try {
            grown = allocate.apply(wanted);
        } catch (DeviceOutOfMemoryException e) {
            if (wanted == elements) {
                throw e;
            }
            grown = allocate.apply(elements);
        }
        buffer = grown;
        return grown;
    }

    /** The buffer held now, or null. */
    B current() {
        return buffer;
    }

    /** Drops the buffer held (a later {@link #atLeast} allocates a fresh, zero-filled one). */
    void discard() {
        B current = buffer;
        buffer = null;
        if (current != null) {
            current.close();
        }
    }

    @Override
    public void close() {
        discard();
    }
}
