package io.gpups.nativecpu;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs one elementwise operation over {@code [0, count)} on several threads, each on its own slice, when the
 * operation is large enough to repay the hand-off: a single thread cannot saturate memory bandwidth with the
 * optimizer loops (their square root and division, and a single core's limit on misses in flight).
 *
 * <p>Slices start on multiples of {@value #ALIGNMENT} elements (64 bytes, a cache line and one AVX-512
 * vector) and hold at least {@value #MIN_SLICE} elements. The calling thread runs the first slice itself and
 * returns when every slice is done, so the operation stays synchronous. Elementwise loops give the same bits
 * however they are split.
 */
final class RangeSplitter implements AutoCloseable {

    /** The smallest slice worth another thread: 128 Ki elements, about 50 to 100 us of an optimizer step. */
    static final long MIN_SLICE = 1 << 17;
    /** Slice boundaries are multiples of this many elements. */
    static final long ALIGNMENT = 16;

    /** One slice of an operation: {@code count} elements from element {@code offset}. */
    @FunctionalInterface
    interface Slice {
        void run(long offset, long count);
    }

    private final int threads;
    /** Threads - 1 helpers; null with one thread. */
    private final ExecutorService helpers;

    RangeSplitter(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("cpu device thread count must be >= 1, got " + threads);
        }
        this.threads = threads;
        if (threads == 1) {
            helpers = null;
        } else {
            AtomicInteger next = new AtomicInteger();
            helpers = Executors.newFixedThreadPool(threads - 1, r -> {
                Thread t = new Thread(r, "gpups-cpu-" + next.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        }
    }

    int threads() {
        return threads;
    }

    /** How many slices {@code count} elements are cut into. */
    int slices(long count) {
        return (int) Math.max(1, Math.min(threads, count / MIN_SLICE));
    }

    /** Runs {@code slice} over {@code [0, count)}, split when large; rethrows the first slice's failure. */
    void run(long count, Slice slice) {
        run(count, slices(count), ALIGNMENT, slice);
    }

    /**
     * Runs {@code slice} over {@code [0, rows)} rows of {@code rowElements} elements each, split into slices of whole
     * rows when the elements are many (the same rule as {@link #run}: at least {@value #MIN_SLICE} elements a slice).
     */
    void runRows(long rows, long rowElements, Slice slice) {
        int parts = (int) Math.max(1, Math.min(Math.min(threads, rows), rows * rowElements / MIN_SLICE));
        run(rows, parts, 1, slice);
    }

    private void run(long count, int parts, long alignment, Slice slice) {
        if (parts == 1) {
            slice.run(0, count);
            return;
        }
        long[] bounds = new long[parts + 1];
        for (int i = 1; i < parts; i++) {
            bounds[i] = count * i / parts / alignment * alignment;
        }
        bounds[parts] = count;
        @SuppressWarnings("unchecked")
        Future<?>[] others = new Future<?>[parts - 1];
        for (int i = 1; i < parts; i++) {
            long from = bounds[i];
            long n = bounds[i + 1] - from;
            others[i - 1] = helpers.submit(() -> slice.run(from, n));
        }
        RuntimeException failure = null;
        try {
            slice.run(0, bounds[1]);
        } catch (RuntimeException e) {
            failure = e;
        }
        boolean interrupted = false;
        for (Future<?> other : others) {
            while (true) {
                try {
                    other.get();
                    break;
                } catch (InterruptedException e) {
                    // The slices write into buffers the caller owns: wait for them whatever happens.
                    interrupted = true;
                } catch (ExecutionException e) {
                    if (failure == null) {
                        failure = e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
                    }
                    break;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public void close() {
        if (helpers != null) {
            helpers.shutdown();
        }
    }
}
