package io.gpups.worker.train;

/**
 * A worker's own training loss came out NaN or infinite: the model diverged (or its data holds non-finite values),
 * and every gradient from here on would be as bad. The worker stops before pushing that step's gradients.
 */
public final class NonFiniteLossException extends RuntimeException {

    private final int rank;
    private final long step;
    private final int epoch;
    private final double loss;

    public NonFiniteLossException(int rank, long step, int epoch, int batch, int batches, double loss) {
        super("worker " + rank + ": training loss " + loss + " at step " + step + " (epoch " + epoch + ", batch "
                + (batch + 1) + " of " + batches + "); stopping before its gradients are pushed. The model diverged or "
                + "the data holds non-finite values: lower --lr, or check the data");
        this.rank = rank;
        this.step = step;
        this.epoch = epoch;
        this.loss = loss;
    }

    public int rank() {
        return rank;
    }

    public long step() {
        return step;
    }

    public int epoch() {
        return epoch;
    }

    public double loss() {
        return loss;
    }
}
