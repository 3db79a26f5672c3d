package io.gpups.loadgen;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RowIdDistributionTest {

    /** Draws fixed by the seed: the counts are the same on every run. */
    private static long[] counts(RowIdDistribution d, int draws, int ranks) {
        SplittableRandom r = new SplittableRandom(11);
        long[] c = new long[ranks + 1];
        for (int i = 0; i < draws; i++) {
            long k = d.nextRank(r);
            assertTrue(k >= 1 && k <= d.rows(), "rank " + k);
            if (k <= ranks) {
                c[(int) k]++;
            }
        }
        return c;
    }

    @Test
    void zipfRanksFollowTheirWeights() {
        // Over 1000 ranks with s = 1.1, P(k) = k^-1.1 / H where H = sum of k^-1.1.
        RowIdDistribution d = RowIdDistribution.parse("zipf:1.1", 1000);
        double h = 0;
        for (int k = 1; k <= 1000; k++) {
            h += Math.pow(k, -1.1);
        }
        int draws = 400_000;
        long[] c = counts(d, draws, 10);
        for (int k = 1; k <= 10; k++) {
            double expected = draws * Math.pow(k, -1.1) / h;
            assertEquals(expected, c[k], 5 * Math.sqrt(expected), "rank " + k);
        }
    }

    @Test
    void uniformRanksAreFlat() {
        RowIdDistribution d = RowIdDistribution.parse("uniform", 10);
        long[] c = counts(d, 100_000, 10);
        for (int k = 1; k <= 10; k++) {
            assertEquals(10_000, c[k], 5 * Math.sqrt(10_000), "rank " + k);
        }
    }

    @Test
    void badSpecsAreNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RowIdDistribution.parse("zipf:0", 10));
        assertEquals("--ids zipf:0: the Zipf exponent must be a number in (0, 10]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> RowIdDistribution.parse("normal", 10));
        assertEquals("--ids normal: expected uniform or zipf:S (for example zipf:1.1)", e.getMessage());
    }
}
