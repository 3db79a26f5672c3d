package io.gpups.worker.data;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EpochShardingTest {

    private static final int SAMPLES = 1003;
    private static final int WORKERS = 3;
    private static final int BATCH = 7;

    @Test
    void sharesAreDisjointEqualAndCoverTheWholeSteps() {
        int steps = SAMPLES / (WORKERS * BATCH); // 47
        Set<Integer> seen = new HashSet<>();
        for (int rank = 0; rank < WORKERS; rank++) {
            EpochSharding sharding = new EpochSharding(SAMPLES, WORKERS, rank, BATCH, 42L);
            assertEquals(steps, sharding.stepsPerEpoch());
            int[] share = sharding.share(3);
            assertEquals(steps * BATCH, share.length);
            for (int index : share) {
                assertTrue(index >= 0 && index < SAMPLES, "index " + index + " out of range");
                assertTrue(seen.add(index), "index " + index + " is in two shares");
            }
        }
        assertEquals(steps * WORKERS * BATCH, seen.size());
    }

    @Test
    void everyWorkerComputesTheSameShuffleForAnEpoch() {
        EpochSharding a = new EpochSharding(SAMPLES, WORKERS, 1, BATCH, 42L);
        EpochSharding b = new EpochSharding(SAMPLES, WORKERS, 1, BATCH, 42L);

        assertArrayEquals(a.share(5), b.share(5));
        assertFalse(Arrays.equals(a.share(5), a.share(6)), "epochs 5 and 6 were shuffled alike");
    }

    @Test
    void tooFewSamplesForOneStepIsAnError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new EpochSharding(20, 3, 0, 7, 1L));

        assertTrue(e.getMessage().contains("20 samples"), e.getMessage());
    }

    @Test
    void rankMustBeAWorker() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new EpochSharding(SAMPLES, WORKERS, 3, BATCH, 1L));

        assertTrue(e.getMessage().contains("got 3"), e.getMessage());
    }
}
