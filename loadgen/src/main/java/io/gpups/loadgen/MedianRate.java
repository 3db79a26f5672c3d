package io.gpups.loadgen;

import java.util.Arrays;

/** Calls per second of operations: the median of five timed batches after one untimed call. */
final class MedianRate {

    private static final int BATCHES = 5;

    private MedianRate() {
    }

    /**
     * Times {@code op} in five batches of about {@code seconds / 5} each (at least one call per batch) and returns
     * the median batch's calls per second. {@code op} must include whatever waits for its completion.
     */
    static double callsPerSecond(double seconds, Runnable op) {
        return callsPerSecond(seconds, new Runnable[] {op})[0];
    }

    /**
     * Like {@link #callsPerSecond(double, Runnable)} for several operations at once, {@code seconds} in all, with
     * their batches interleaved (batch 1 of each, then batch 2 of each...), so that a machine whose speed drifts
     * (other load, frequency, a neighbour on the host) affects every operation alike and their ratios hold.
     */
    static double[] callsPerSecond(double seconds, Runnable... ops) {
        long[] calls = new long[ops.length];
        for (int i = 0; i < ops.length; i++) {
            ops[i].run();
            long t0 = System.nanoTime();
            ops[i].run();
            double once = Math.max(1e-7, (System.nanoTime() - t0) / 1e9);
            calls[i] = Math.max(1, (long) (seconds / ops.length / BATCHES / once));
        }
        double[][] rates = new double[ops.length][BATCHES];
        for (int b = 0; b < BATCHES; b++) {
            for (int i = 0; i < ops.length; i++) {
                long start = System.nanoTime();
                for (long c = 0; c < calls[i]; c++) {
                    ops[i].run();
                }
                rates[i][b] = calls[i] / ((System.nanoTime() - start) / 1e9);
            }
        }
        double[] medians = new double[ops.length];
        for (int i = 0; i < ops.length; i++) {
            Arrays.sort(rates[i]);
            medians[i] = rates[i][BATCHES / 2];
        }
        return medians;
    }
}
