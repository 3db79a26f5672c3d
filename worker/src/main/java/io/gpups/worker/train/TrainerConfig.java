package io.gpups.worker.train;

import io.gpups.core.optim.OptimizerSpec;
import io.gpups.worker.compress.CodecPolicy;
import io.gpups.worker.data.DataSource;
import io.gpups.worker.model.ModelSpec;

/**
 * One worker's training job.
 *
 * @param model        the architecture, e.g. {@code mlp:256,128}
 * @param batch        rows per training step on this worker
 * @param epochs       passes over the training set
 * @param optimizer    the update rule the shards apply (its lr is the learning rate)
 * @param rank         this worker, in [0, workers)
 * @param workers      workers in the job; must match the cluster's count
 * @param data         where the samples come from
 * @param seed         seeds the weight initializers and the per-epoch shuffles; the same on every worker
 * @param evalBatch    rows per forward pass when rank 0 evaluates the test set
 * @param compression  which codec each tensor's gradients are pushed with
 */
public record TrainerConfig(ModelSpec model, int batch, int epochs, OptimizerSpec optimizer, int rank, int workers,
                            DataSource data, long seed, int evalBatch, CodecPolicy compression) {

    public static final int DEFAULT_EVAL_BATCH = 1000;

    public TrainerConfig {
        if (model == null || optimizer == null || data == null) {
            throw new IllegalArgumentException("model, optimizer and data must be given");
        }
        if (batch <= 0) {
            throw new IllegalArgumentException("batch must be > 0, got " + batch);
        }
        if (epochs <= 0) {
            throw new IllegalArgumentException("epochs must be > 0, got " + epochs);
        }
        if (workers <= 0) {
            throw new IllegalArgumentException("workers must be > 0, got " + workers);
        }
        if (rank < 0 || rank >= workers) {
            throw new IllegalArgumentException("rank must be in [0, " + workers + "), got " + rank);
        }
        if (compression == null) {
            throw new IllegalArgumentException("compression policy must be given (CodecPolicy.NONE for none)");
        }
        if (evalBatch <= 0) {
            throw new IllegalArgumentException("eval batch must be > 0, got " + evalBatch);
        }
        optimizer.validate();
    }

    /** A config with the optimizer named as on the command line ({@code sgd}, {@code adam}, ...) and its defaults. */
    public static TrainerConfig of(String model, int batch, int epochs, String optimizer, float lr, int rank,
                                   int workers, DataSource data, long seed) {
        return new TrainerConfig(ModelSpec.parse(model), batch, epochs, OptimizerSpec.defaults(optimizer, lr), rank,
                workers, data, seed, DEFAULT_EVAL_BATCH, CodecPolicy.NONE);
    }

    /** This config with gradients pushed as {@code policy} says. */
    public TrainerConfig withCompression(CodecPolicy policy) {
        return new TrainerConfig(model, batch, epochs, optimizer, rank, workers, data, seed, evalBatch, policy);
    }

    public float learningRate() {
        return optimizer.lr();
    }
}
