package io.gpups.server;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The log of non-finite pushes: one line per rank per minute at most, on an injected clock. */
class NonFiniteLogTest {

    private long now = 5_000_000_000L;
    private final List<String> lines = new ArrayList<>();
    private final NonFiniteLog log = new NonFiniteLog(() -> now, lines::add);

    @Test
    void oneLinePerRankPerMinuteSayingHowManyPushesWentUnlogged() {
        log.push(1, "rank 1 push a");
        log.push(1, "rank 1 push b");
        log.push(2, "rank 2 push a");
        now += TimeUnit.SECONDS.toNanos(59);
        log.push(1, "rank 1 push c");
        assertEquals(List.of("rank 1 push a", "rank 2 push a"), lines);
        now += TimeUnit.SECONDS.toNanos(1);
        log.push(1, "rank 1 push d");
        assertEquals(3, lines.size());
        assertTrue(lines.get(2).startsWith("rank 1 push d; 2 more such push(es) from this rank"), lines.get(2));
        log.push(2, "rank 2 push b");
        assertEquals("rank 2 push b", lines.get(3), "rank 2's minute is its own; it had nothing unlogged");
        now += NonFiniteLog.INTERVAL_NANOS;
        log.push(1, "rank 1 push e");
        assertEquals("rank 1 push e", lines.get(4));
    }

    @Test
    void aClockThatStartsNegativeStillLogsTheFirstPush() {
        now = -TimeUnit.HOURS.toNanos(1);
        log.push(0, "first");
        assertEquals(List.of("first"), lines);
    }
}
