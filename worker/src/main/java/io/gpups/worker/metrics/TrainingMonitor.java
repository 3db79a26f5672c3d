package io.gpups.worker.metrics;

import io.gpups.worker.train.EpochReport;

import java.util.List;

/**
 * What a {@link io.gpups.worker.train.Trainer} tells as it trains, for metrics and progress displays. Called
 * on the training thread; an implementation must be quick (a few additions per step) and must not block.
 * Every method has an empty default, and {@link #NONE} is what a trainer without a monitor uses.
 */
public interface TrainingMonitor {

    TrainingMonitor NONE = new TrainingMonitor() {
    };

    /**
     * Training begins at global step {@code step} (counted across epochs from 0): 0 in a new job; under bsp,
     * a worker that joins a job already under way (restarted after it was dropped) starts at the step the
     * shards are collecting (the job's step count if they have finished: nothing is left to do).
     */
    default void trainingStarted(long step) {
    }

    /** Epoch {@code epoch} (0-based) of {@code epochs} begins; it has {@code steps} steps on this worker. */
    default void epochStarted(int epoch, int epochs, int steps) {
    }

    /** Step {@code step} (0-based within the epoch) of {@code steps} is done: {@code samples} samples, batch mean loss {@code loss}. */
    default void stepEnded(int epoch, int step, int steps, int samples, double loss) {
    }

    /** One tensor's gradient for a step went out: {@code wireBytes} as encoded, {@code rawBytes} as fp32. */
    default void tensorPushed(String tensor, long wireBytes, long rawBytes) {
    }

    /**
     * Whether {@link #residualNorm} should be called at the end of each epoch. Computing a norm downloads the
     * tensor's error-feedback residual from the device, so a trainer does it only when asked, once per epoch.
     */
    default boolean wantsResidualNorms() {
        return false;
    }

    /** The L2 norm of a compressed tensor's error-feedback residual (what compression has held back so far). */
    default void residualNorm(String tensor, double norm) {
    }

    /** Rank 0 measured the test accuracy after an epoch. */
    default void testAccuracy(double accuracy) {
    }

    /** The epoch's report, after the trainer's listener got it. */
    default void epochEnded(EpochReport report) {
    }

    /** A monitor that tells every one of {@code monitors}, in order. */
    static TrainingMonitor all(List<TrainingMonitor> monitors) {
        List<TrainingMonitor> list = List.copyOf(monitors);
        if (list.size() == 1) {
            return list.get(0);
        }
        return new TrainingMonitor() {
            @Override
            public void trainingStarted(long step) {
                list.forEach(m -> m.trainingStarted(step));
            }

            @Override
            public void epochStarted(int epoch, int epochs, int steps) {
                list.forEach(m -> m.epochStarted(epoch, epochs, steps));
            }

            @Override
            public void stepEnded(int epoch, int step, int steps, int samples, double loss) {
                for (TrainingMonitor m : list) {
                    m.stepEnded(epoch, step, steps, samples, loss);
                }
            }

            @Override
            public void tensorPushed(String tensor, long wireBytes, long rawBytes) {
                for (TrainingMonitor m : list) {
                    m.tensorPushed(tensor, wireBytes, rawBytes);
                }
            }

            @Override
            public boolean wantsResidualNorms() {
                return list.stream().anyMatch(TrainingMonitor::wantsResidualNorms);
            }

            @Override
            public void residualNorm(String tensor, double norm) {
                list.forEach(m -> m.residualNorm(tensor, norm));
            }

            @Override
            public void testAccuracy(double accuracy) {
                list.forEach(m -> m.testAccuracy(accuracy));
            }

            @Override
            public void epochEnded(EpochReport report) {
                list.forEach(m -> m.epochEnded(report));
            }
        };
    }
}
