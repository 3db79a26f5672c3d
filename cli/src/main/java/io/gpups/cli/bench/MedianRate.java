package io.gpups.cli.bench;

import java.util.Arrays;

/** Calls per second of an operation: the median of five timed batches after one untimed call. */
final class MedianRate {

    private static final int BATCHES = 5;

    private MedianRate() {
    }

    /**
     * Times {@code op} in five batches of about {@code seconds / 5} each (at least one call per batch) and returns
     * the median batch's calls per second. {@code op} must include whatever waits for its completion.
     */
    static double callsPerSecond(double seconds, Runnable op) {
        op.run();
        long t0 = System.nanoTime();
        op.run();
        double once = Math.max(1e-7, (System.nanoTime() - t0) / 1e9);
        long calls = Math.max(1, (long) (seconds / BATCHES / once));
        double[] rates = new double[BATCHES];
        for (int r = 0; r < rates.length; r++) {
            long start = System.nanoTime();
            for (long c = 0; c < calls; c++) {
                op.run();
            }
            rates[r] = calls / ((System.nanoTime() - start) / 1e9);
        }
        Arrays.sort(rates);
        return rates[BATCHES / 2];
    }
}
