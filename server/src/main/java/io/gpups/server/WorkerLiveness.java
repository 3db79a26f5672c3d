package io.gpups.server;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.LongSupplier;

/**
 * Which workers are alive. Event loops record when each rank was last heard from (any request, heartbeats
 * included) without locks; the shard agent asks, between tasks, which ranks have been silent longer than
 * the timeout and marks them dead, and a dead rank that speaks again is alive again. Every consistency mode
 * counts only live workers: under bsp a step completes with the gradients of the live workers; under ssp and
 * asp the slowest clock is the slowest live one.
 *
 * <p>The timeout counts from a rank's first word, not from the shard's start: a job waits for every worker
 * to show up once (a worker process takes seconds to start and load its data, more than a short timeout),
 * and only a worker that went silent after it had spoken is dropped.
 *
 * <p>Time comes from the {@code nanoTime} given ({@link System#nanoTime} in a shard), so tests drive it.
 */
final class WorkerLiveness {

    /** When each rank last spoke; {@link #NEVER} before its first word. */
    private final AtomicLongArray lastHeardNanos;
    /** Owned by the agent thread. */
    private final boolean[] alive;
    private final long timeoutNanos;
    private final LongSupplier nanoTime;
    private int live;

    /** {@link #lastHeardNanos} of a rank not heard from yet. */
    private static final long NEVER = Long.MIN_VALUE;

    /**
     * @param timeoutMillis silence after which a worker is dropped; 0 never drops anyone
     * @param nanoTime      the clock silence is measured on
     */
    WorkerLiveness(int workers, long timeoutMillis, LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
        this.lastHeardNanos = new AtomicLongArray(workers);
        this.alive = new boolean[workers];
        this.timeoutNanos = timeoutMillis * 1_000_000L;
        for (int r = 0; r < workers; r++) {
            lastHeardNanos.set(r, NEVER);
            alive[r] = true;
        }
        this.live = workers;
    }

    /** Any thread: rank {@code rank} just sent something. */
    void heard(int rank) {
        if (rank >= 0 && rank < alive.length) {
            lastHeardNanos.set(rank, nanoTime.getAsLong());
        }
    }

    /** Agent thread: marks a dead rank that has been heard from since alive again; true if it was dead. */
    boolean revive(int rank) {
        if (rank < 0 || rank >= alive.length || alive[rank]) {
            return false;
        }
        alive[rank] = true;
        live++;
        return true;
    }

    /**
     * Agent thread: the ranks silent past the timeout, now marked dead; empty when the timeout is off or
     * everyone spoke recently. A rank that has never spoken is not dropped, and a job never loses its last
     * live worker this way.
     */
    int[] expire() {
        if (timeoutNanos <= 0) {
            return new int[0];
        }
        long now = nanoTime.getAsLong();
        int[] dropped = new int[alive.length];
        int n = 0;
        for (int r = 0; r < alive.length; r++) {
            long heard = lastHeardNanos.get(r);
            if (alive[r] && live > 1 && heard != NEVER && now - heard > timeoutNanos) {
                alive[r] = false;
                live--;
                dropped[n++] = r;
            }
        }
        return java.util.Arrays.copyOf(dropped, n);
    }

    /** Whether silent workers are dropped at all (a timeout was given). */
    boolean dropsSilentWorkers() {
        return timeoutNanos > 0;
    }

    int workers() {
        return alive.length;
    }

    /**
     * Any thread: true when the timeout is on and {@code rank} has been silent past it (whether or not the
     * agent has dropped it yet); a connection holding such a rank may be taken over by a new HELLO.
     */
    boolean timedOut(int rank) {
        long heard = lastHeardNanos.get(rank);
        return timeoutNanos > 0 && heard != NEVER && nanoTime.getAsLong() - heard > timeoutNanos;
    }

    boolean alive(int rank) {
        return alive[rank];
    }

    int live() {
        return live;
    }

    /** Seconds since the rank was last heard from; NaN if it never was. */
    double silentSeconds(int rank) {
        long heard = lastHeardNanos.get(rank);
        return heard == NEVER ? Double.NaN : (nanoTime.getAsLong() - heard) / 1e9;
    }
}
