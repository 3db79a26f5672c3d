package io.gpups.core.optim;

/**
 * The parameter struct an optimizer kernel takes ({@code gpups/optimizers.cuh}: {@code SgdParams},
 * {@code MomentumParams}, ...), as its float fields in declaration order. There is one order for every kind: the spec's
 * {@linkplain OptimizerSpec#hyperParameters() hyper-parameters} in wire order, then its {@linkplain
 * OptimizerSpec#stepTerms(long) per-step terms}, then the gradient scale. Every device builds the struct here, so the
 * host half of the update is computed one way: the CUDA device passes it by value (padded to {@link #MAX_FLOATS}), the
 * CPU device hands it to its host loops.
 */
public final class KernelParameters {

    /**
     * Floats of the padded struct that holds any kind's parameters ({@code GPUPS_OPTIMIZER_PARAMS_MAX},
     * {@code OptimizerParams}): what a kernel serving every kind takes, and what a batch entry carries.
     */
    public static final int MAX_FLOATS = 8;

    private KernelParameters() {
    }

    /**
     * The struct of {@code spec}'s kernel for the 1-based {@code step}, with {@code gradScale} applied to the raw
     * gradient: for example adagrad {@code (lr, eps, initial_accumulator, weight_decay, gradScale)} (the step does not
     * read initial_accumulator: it is the slot's start value) and adam {@code (lr, beta1, beta2, eps, weight_decay,
     * 1 - beta1^t, 1 - beta2^t, gradScale)}.
     */
    public static float[] of(OptimizerSpec spec, long step, float gradScale) {
        if (spec == null) {
            throw new IllegalArgumentException("optimizer spec is null");
        }
        float[] hyper = spec.hyperParameters();
        float[] terms = spec.stepTerms(step);
        int length = hyper.length + terms.length + 1;
        if (length > MAX_FLOATS) {
            throw new IllegalStateException(spec.kind().cliName() + "'s kernel struct has " + length
                    + " floats, more than " + MAX_FLOATS);
        }
        float[] struct = new float[length];
        System.arraycopy(hyper, 0, struct, 0, hyper.length);
        System.arraycopy(terms, 0, struct, hyper.length, terms.length);
        struct[length - 1] = gradScale;
        return struct;
    }

    /**
     * {@code 1 - beta^step}, computed in double and rounded to float ({@code optimizers.cuh}, "Numerics"): in float,
     * {@code beta^step} for beta = 0.999 loses about three digits to the subtraction at small steps, which would bias
     * the first Adam updates.
     */
    public static float biasCorrection(float beta, long step) {
        return (float) (1.0 - Math.pow(beta, step));
    }
}
