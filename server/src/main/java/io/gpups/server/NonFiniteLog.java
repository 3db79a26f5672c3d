package io.gpups.server;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The shard's log of pushes with non-finite gradients: at most one line per rank per minute, saying how many such
 * pushes the rank made since its last line. Used by the agent thread only.
 */
final class NonFiniteLog {

    private static final Logger log = LoggerFactory.getLogger(NonFiniteLog.class);
    static final long INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);

    /** What is known of one rank's non-finite pushes. */
    private static final class RankLog {
        long lastLineNanos;
        long unlogged;
    }

    private final LongSupplier nanoClock;
    private final LineSink sink;
    private final Map<Integer, RankLog> ranks = new HashMap<>();

    /** Where lines go: the logger in a shard, a list in tests. */
    @FunctionalInterface
    interface LineSink {
        void line(String text);
    }

    NonFiniteLog() {
        this(System::nanoTime, text -> log.warn(text));
    }

    NonFiniteLog(LongSupplier nanoClock, LineSink sink) {
        this.nanoClock = nanoClock;
        this.sink = sink;
    }

    /** One push from {@code rank} with non-finite values, described by {@code what}; logged unless this rank had a line less than a minute ago. */
    void push(int rank, String what) {
        long now = nanoClock.getAsLong();
        RankLog r = ranks.get(rank);
        if (r == null) {
            r = new RankLog();
            ranks.put(rank, r);
        } else if (now - r.lastLineNanos < INTERVAL_NANOS) {
            r.unlogged++;
            return;
        }
        String more = r.unlogged == 0 ? "" : "; " + r.unlogged + " more such push(es) from this rank since its last line";
        r.lastLineNanos = now;
        r.unlogged = 0;
        sink.line(what + more);
    }
}
