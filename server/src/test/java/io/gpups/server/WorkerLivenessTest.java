package io.gpups.server;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Who is dropped, and when: plain objects, a 100 ms timeout and a clock the test moves. */
class WorkerLivenessTest {

    private static final long MS = 1_000_000L;

    /** The test's clock, in nanoseconds; it starts far from 0 so nothing depends on a zero origin. */
    private final AtomicLong now = new AtomicLong(5_000_000_000L);

    @Test
    void aWorkerThatNeverSpokeIsWaitedForNotDropped() {
        WorkerLiveness liveness = new WorkerLiveness(3, 100, now::get);
        now.addAndGet(150 * MS);
        assertArrayEquals(new int[0], liveness.expire(), "nobody has spoken: a starting job waits for everyone");
        liveness.heard(0);
        liveness.heard(2);
        now.addAndGet(150 * MS);
        // 0 and 2 went silent after they spoke: dropped. 1 never spoke: still awaited.
        assertArrayEquals(new int[] {0, 2}, liveness.expire());
        assertEquals(1, liveness.live());
        assertTrue(liveness.alive(1));
        assertTrue(Double.isNaN(liveness.silentSeconds(1)));
        assertEquals(0.15, liveness.silentSeconds(0), 1e-9);
    }

    @Test
    void aWorkerIsDroppedOnlyOnceItsSilenceExceedsTheTimeout() {
        WorkerLiveness liveness = new WorkerLiveness(2, 100, now::get);
        liveness.heard(0);
        liveness.heard(1);
        now.addAndGet(100 * MS);
        assertArrayEquals(new int[0], liveness.expire(), "exactly the timeout: not past it");
        liveness.heard(1);
        now.addAndGet(1);
        assertArrayEquals(new int[] {0}, liveness.expire());
    }

    @Test
    void aDroppedWorkerThatSpeaksAgainIsRevivedOnce() {
        WorkerLiveness liveness = new WorkerLiveness(2, 100, now::get);
        liveness.heard(0);
        liveness.heard(1);
        now.addAndGet(150 * MS);
        liveness.heard(1);
        assertArrayEquals(new int[] {0}, liveness.expire());
        assertFalse(liveness.alive(0));
        now.addAndGet(150 * MS);
        assertArrayEquals(new int[0], liveness.expire(), "the last live worker is never dropped");
        liveness.heard(0);
        assertTrue(liveness.revive(0));
        assertFalse(liveness.revive(0), "already alive");
        assertEquals(2, liveness.live());
    }

    @Test
    void aZeroTimeoutNeverDrops() {
        WorkerLiveness liveness = new WorkerLiveness(2, 0, now::get);
        liveness.heard(0);
        now.addAndGet(3_600_000 * MS);
        assertArrayEquals(new int[0], liveness.expire());
        assertFalse(liveness.dropsSilentWorkers());
    }
}
