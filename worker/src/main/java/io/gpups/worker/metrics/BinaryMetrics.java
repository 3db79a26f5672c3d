package io.gpups.worker.metrics;

import java.util.Arrays;

/**
 * Quality of a binary classifier's scores against 0/1 labels: the area under the ROC curve and the log loss.
 * Both read the first {@code n} entries of their arrays; {@code n} must be in {@code [1, length]} of both, every
 * label must be 0 or 1, and no score may be NaN, else they throw {@link IllegalArgumentException} naming the bad
 * value.
 */
public final class BinaryMetrics {

    /** The probabilities {@link #logLoss} clamps to, so that a confident wrong answer costs a finite loss. */
    public static final double MIN_PROBABILITY = 1e-7;
    public static final double MAX_PROBABILITY = 1 - 1e-7;

    private BinaryMetrics() {
    }

    /**
     * The exact ROC AUC: the probability that a random positive scores above a random negative, a tie counting
     * one half (the Mann-Whitney U statistic over P * N). Computed from ranks: scores are sorted, tied scores share
     * the mean of their ranks, and {@code AUC = (R - P (P + 1) / 2) / (P N)} where R sums the positives' ranks.
     * O(n log n), no boxing.
     *
     * @return the AUC in [0, 1]; {@code NaN} when the n labels are all of one class, where the AUC is undefined
     *         (no positive-negative pair exists): a caller reports it as "undefined", never as a number
     */
    public static double auc(float[] scores, float[] labels, int n) {
        check(scores, labels, n, "scores");
        // Sort (score, index) pairs as longs: the score's bits made order-preserving as a signed int in the high
        // half, the index in the low half. -0 is folded into +0 so that the two tie.
        long[] keys = new long[n];
        long positives = 0;
        for (int i = 0; i < n; i++) {
            float s = scores[i];
            if (Float.isNaN(s)) {
                throw new IllegalArgumentException("score " + i + " is NaN, expected a number");
            }
            int bits = Float.floatToIntBits(s == 0f ? 0f : s);
            int ordered = bits ^ ((bits >> 31) & 0x7FFF_FFFF);
            keys[i] = ((long) ordered << 32) | i;
            positives += labels[i] == 1f ? 1 : 0;
        }
        long negatives = n - positives;
        if (positives == 0 || negatives == 0) {
            return Double.NaN;
        }
        Arrays.sort(keys);
        double positiveRankSum = 0;
        int start = 0;
        while (start < n) {
            int end = start + 1;
            while (end < n && (keys[end] >> 32) == (keys[start] >> 32)) {
                end++;
            }
            // Ranks start + 1 .. end (1-based) share their mean.
            double meanRank = (start + 1 + end) / 2.0;
            for (int k = start; k < end; k++) {
                if (labels[(int) keys[k]] == 1f) {
                    positiveRankSum += meanRank;
                }
            }
            start = end;
        }
        double u = positiveRankSum - positives * (positives + 1) / 2.0;
        return u / ((double) positives * negatives);
    }

    /**
     * The mean binary cross-entropy {@code -(y log p + (1 - y) log(1 - p))}, natural log, with p clamped to
     * [{@link #MIN_PROBABILITY}, {@link #MAX_PROBABILITY}]. Every probability must be in [0, 1].
     */
    public static double logLoss(float[] probabilities, float[] labels, int n) {
        check(probabilities, labels, n, "probabilities");
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float raw = probabilities[i];
            if (!(raw >= 0f && raw <= 1f)) {
                throw new IllegalArgumentException("probability " + i + " is " + raw + ", expected a number in [0, 1]");
            }
            double p = Math.min(Math.max(raw, MIN_PROBABILITY), MAX_PROBABILITY);
            sum -= labels[i] == 1f ? Math.log(p) : Math.log1p(-p);
        }
        return sum / n;
    }

    private static void check(float[] values, float[] labels, int n, String what) {
        if (n < 1 || n > values.length || n > labels.length) {
            throw new IllegalArgumentException("n is " + n + ", expected 1 .. min(" + values.length + " " + what + ", "
                    + labels.length + " labels)");
        }
        for (int i = 0; i < n; i++) {
            if (labels[i] != 0f && labels[i] != 1f) {
                throw new IllegalArgumentException("label " + i + " is " + labels[i] + ", expected 0 or 1");
            }
        }
    }
}
