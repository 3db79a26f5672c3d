package io.gpups.worker.metrics;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BinaryMetricsTest {

    @Test
    void aucCountsTheOrderedPositiveNegativePairs() {
        // Positives 0.35 and 0.8, negatives 0.1 and 0.4: 0.35 beats 0.1, 0.8 beats both, 0.35 loses to 0.4: 3 of 4.
        float[] scores = {0.1f, 0.4f, 0.35f, 0.8f};
        float[] labels = {0, 0, 1, 1};
        assertEquals(0.75, BinaryMetrics.auc(scores, labels, 4), 1e-12);
    }

    @Test
    void aucCountsATiedPairAsOneHalf() {
        // Positive 0.5 ties both negatives (2 x 1/2), positive 0.9 beats both (2): 3 of 4.
        float[] scores = {0.5f, 0.5f, 0.5f, 0.9f};
        float[] labels = {0, 1, 0, 1};
        assertEquals(0.75, BinaryMetrics.auc(scores, labels, 4), 1e-12);
        assertEquals(0.5, BinaryMetrics.auc(new float[] {2, 2, 2, 2}, new float[] {1, 0, 1, 0}, 4), 1e-12);
    }

    @Test
    void aucTiesMinusZeroWithPlusZero() {
        assertEquals(0.5, BinaryMetrics.auc(new float[] {-0f, 0f}, new float[] {1, 0}, 2), 1e-12);
    }

    @Test
    void aucIsOneForAPerfectRankingAndZeroForTheInvertedOne() {
        float[] labels = {0, 1, 0, 1, 1, 0};
        float[] perfect = {-3f, 0.9f, 0.2f, 0.7f, 5f, -1f};
        float[] inverted = new float[perfect.length];
        for (int i = 0; i < perfect.length; i++) {
            inverted[i] = -perfect[i];
        }
        assertEquals(1.0, BinaryMetrics.auc(perfect, labels, 6), 1e-12);
        assertEquals(0.0, BinaryMetrics.auc(inverted, labels, 6), 1e-12);
    }

    @Test
    void aucMatchesCountingEveryPairOnRandomScoresWithManyTies() {
        SplittableRandom random = new SplittableRandom(5);
        int n = 2_000;
        float[] scores = new float[n];
        float[] labels = new float[n];
        for (int i = 0; i < n; i++) {
            scores[i] = random.nextInt(40) - 20;  // few distinct values, so ties are everywhere
            labels[i] = random.nextDouble() < 0.3 + 0.02 * scores[i] ? 1 : 0;
        }
        double wins = 0;
        long pairs = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                if (labels[i] == 1 && labels[j] == 0) {
                    pairs++;
                    wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0;
                }
            }
        }
        assertEquals(wins / pairs, BinaryMetrics.auc(scores, labels, n), 1e-12);
    }

    @Test
    void aucReadsOnlyTheFirstNEntries() {
        float[] scores = {0.1f, 0.9f, 100f};
        float[] labels = {0, 1, 0};
        assertEquals(1.0, BinaryMetrics.auc(scores, labels, 2), 1e-12);
    }

    @Test
    void aucOfOneClassIsNaN() {
        assertTrue(Double.isNaN(BinaryMetrics.auc(new float[] {0.1f, 0.2f}, new float[] {1, 1}, 2)));
        assertTrue(Double.isNaN(BinaryMetrics.auc(new float[] {0.1f, 0.2f}, new float[] {0, 0}, 2)));
    }

    @Test
    void badInputIsNamed() {
        float[] two = {0.1f, 0.2f};
        assertEquals("n is 3, expected 1 .. min(2 scores, 2 labels)",
                assertThrows(IllegalArgumentException.class, () -> BinaryMetrics.auc(two, two, 3)).getMessage());
        assertEquals("n is 0, expected 1 .. min(2 probabilities, 2 labels)",
                assertThrows(IllegalArgumentException.class, () -> BinaryMetrics.logLoss(two, new float[] {0, 1}, 0)).getMessage());
        assertEquals("label 1 is 0.5, expected 0 or 1",
                assertThrows(IllegalArgumentException.class, () -> BinaryMetrics.auc(two, new float[] {0, 0.5f}, 2)).getMessage());
        assertEquals("score 0 is NaN, expected a number",
                assertThrows(IllegalArgumentException.class,
                        () -> BinaryMetrics.auc(new float[] {Float.NaN, 1}, new float[] {0, 1}, 2)).getMessage());
        assertEquals("probability 1 is 1.5, expected a number in [0, 1]",
                assertThrows(IllegalArgumentException.class,
                        () -> BinaryMetrics.logLoss(new float[] {0.5f, 1.5f}, new float[] {0, 1}, 2)).getMessage());
    }

    @Test
    void logLossIsTheMeanCrossEntropy() {
        double expected = -(Math.log(0.8) + Math.log(1 - 0.3)) / 2;
        assertEquals(expected, BinaryMetrics.logLoss(new float[] {0.8f, 0.3f}, new float[] {1, 0}, 2), 1e-7);
        assertEquals(Math.log(2), BinaryMetrics.logLoss(new float[] {0.5f, 0.5f, 0.5f}, new float[] {1, 0, 1}, 3), 1e-12);
    }

    @Test
    void logLossClampsCertainAnswers() {
        // A certain wrong answer costs -log(1e-7), not infinity; a certain right one costs -log(1 - 1e-7), not 0.
        assertEquals(-Math.log(1e-7), BinaryMetrics.logLoss(new float[] {0f}, new float[] {1}, 1), 1e-9);
        assertEquals(-Math.log(1e-7), BinaryMetrics.logLoss(new float[] {1f}, new float[] {0}, 1), 1e-9);
        assertEquals(-Math.log1p(-1e-7), BinaryMetrics.logLoss(new float[] {1f}, new float[] {1}, 1), 1e-15);
    }
}
