package io.gpups.server;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Who is dropped, and when: plain objects, a 100 ms timeout and sleeps past it. */
class WorkerLivenessTest {

    @Test
    void aWorkerThatNeverSpokeIsWaitedForNotDropped() throws Exception {
        WorkerLiveness liveness = new WorkerLiveness(3, 100);
        Thread.sleep(150);
        assertArrayEquals(new int[0], liveness.expire(), "nobody has spoken: a starting job waits for everyone");
        liveness.heard(0);
        liveness.heard(2);
        Thread.sleep(150);
        // 0 and 2 went silent after they spoke: dropped. 1 never spoke: still awaited.
        assertArrayEquals(new int[] {0, 2}, liveness.expire());
        assertEquals(1, liveness.live());
        assertTrue(liveness.alive(1));
        assertTrue(Double.isNaN(liveness.silentSeconds(1)));
    }

    @Test
    void aDroppedWorkerThatSpeaksAgainIsRevivedOnce() throws Exception {
        WorkerLiveness liveness = new WorkerLiveness(2, 100);
        liveness.heard(0);
        liveness.heard(1);
        Thread.sleep(150);
        liveness.heard(1);
        assertArrayEquals(new int[] {0}, liveness.expire());
        assertFalse(liveness.alive(0));
        Thread.sleep(150);
        assertArrayEquals(new int[0], liveness.expire(), "the last live worker is never dropped");
        liveness.heard(0);
        assertTrue(liveness.revive(0));
        assertFalse(liveness.revive(0), "already alive");
        assertEquals(2, liveness.live());
    }

    @Test
    void aZeroTimeoutNeverDrops() throws Exception {
        WorkerLiveness liveness = new WorkerLiveness(2, 0);
        liveness.heard(0);
        Thread.sleep(150);
        assertArrayEquals(new int[0], liveness.expire());
    }
}
