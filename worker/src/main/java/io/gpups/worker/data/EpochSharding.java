package io.gpups.worker.data;

import java.util.SplittableRandom;

/**
 * Splits each epoch's samples among the workers. Every epoch shuffles all sample indices with a generator
 * seeded from (seed, epoch), the same on every worker; worker r then takes the r-th contiguous share of
 * {@code stepsPerEpoch * batch} indices. {@code stepsPerEpoch = floor(samples / (workers * batch))}, so
 * every worker runs the same number of steps (bsp needs that) and the remainder sits out the epoch.
 */
public final class EpochSharding {

    private final int samples;
    private final int workers;
    private final int rank;
    private final int batch;
    private final long seed;
    private final int stepsPerEpoch;
    private final int[] permutation;

    public EpochSharding(int samples, int workers, int rank, int batch, long seed) {
        if (workers <= 0) {
            throw new IllegalArgumentException("workers must be > 0, got " + workers);
        }
        if (rank < 0 || rank >= workers) {
            throw new IllegalArgumentException("rank must be in [0, " + workers + "), got " + rank);
        }
        if (batch <= 0) {
            throw new IllegalArgumentException("batch must be > 0, got " + batch);
        }
        long perStep = (long) workers * batch;
        if (samples < perStep) {
            throw new IllegalArgumentException(samples + " samples are too few for " + workers
                    + " worker(s) x batch " + batch + " = " + perStep + " per step");
        }
        this.samples = samples;
        this.workers = workers;
        this.rank = rank;
        this.batch = batch;
        this.seed = seed;
        this.stepsPerEpoch = (int) (samples / perStep);
        this.permutation = new int[samples];
    }

    public int stepsPerEpoch() {
        return stepsPerEpoch;
    }

    /** Samples this worker sees per epoch: {@code stepsPerEpoch * batch}. */
    public int shareSize() {
        return stepsPerEpoch * batch;
    }

    /** A new array holding this worker's indices for {@code epoch}, in the order to train on them. */
    public int[] share(int epoch) {
        int[] out = new int[shareSize()];
        fillShare(epoch, out);
        return out;
    }

    /** Writes this worker's indices for {@code epoch} into {@code out[0 .. shareSize())}. */
    public void fillShare(int epoch, int[] out) {
        if (out.length < shareSize()) {
            throw new IllegalArgumentException("share buffer holds " + out.length + " indices, needs " + shareSize());
        }
        for (int i = 0; i < samples; i++) {
            permutation[i] = i;
        }
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
        for (int i = samples - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int tmp = permutation[i];
            permutation[i] = permutation[j];
            permutation[j] = tmp;
        }
        System.arraycopy(permutation, rank * shareSize(), out, 0, shareSize());
    }

    @Override
    public String toString() {
        return "EpochSharding[samples=" + samples + ", workers=" + workers + ", rank=" + rank + ", batch=" + batch
                + ", steps/epoch=" + stepsPerEpoch + "]";
    }
}
