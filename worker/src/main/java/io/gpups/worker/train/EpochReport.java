package io.gpups.worker.train;

/**
 * What one worker did in one epoch.
 *
 * @param epoch           0-based
 * @param meanTrainLoss   mean over this worker's steps of the batch's mean cross-entropy
 * @param samplesPerSecond this worker's training samples over the epoch's training time (evaluation excluded)
 * @param testAccuracy    fraction of the test set classified right after the epoch; NaN except on rank 0
 * @param pushes          pushes this worker's client made so far (cumulative)
 * @param bytesPushed     gradient bytes this worker's client pushed so far, as sent on the wire (cumulative)
 * @param bytesPushedRaw  the same gradients counted as fp32, uncompressed (cumulative)
 * @param seconds         wall time of the epoch, evaluation included
 * @param testAuc         area under the ROC curve on the test set, for binary labels; NaN where not measured
 * @param testLogLoss     mean log loss on the test set, for binary labels; NaN where not measured
 */
public record EpochReport(int epoch, double meanTrainLoss, double samplesPerSecond, double testAccuracy,
                          long pushes, long bytesPushed, long bytesPushedRaw, double seconds, double testAuc,
                          double testLogLoss) {

    /** A report without binary metrics (a classifier's). */
    public EpochReport(int epoch, double meanTrainLoss, double samplesPerSecond, double testAccuracy, long pushes,
                       long bytesPushed, long bytesPushedRaw, double seconds) {
        this(epoch, meanTrainLoss, samplesPerSecond, testAccuracy, pushes, bytesPushed, bytesPushedRaw, seconds,
                Double.NaN, Double.NaN);
    }

    @Override
    public String toString() {
        return String.format("epoch %d: loss %.4f, %.0f samples/s, test accuracy %s%s, %d pushes, %d bytes, %.2f s",
                epoch, meanTrainLoss, samplesPerSecond,
                Double.isNaN(testAccuracy) ? "-" : String.format("%.4f", testAccuracy),
                Double.isNaN(testAuc) ? "" : String.format(", test AUC %.4f, log loss %.4f", testAuc, testLogLoss),
                pushes, bytesPushed, seconds);
    }
}
