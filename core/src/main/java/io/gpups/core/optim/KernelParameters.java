package io.gpups.core.optim;

/**
 * The hyper-parameter struct an optimizer kernel takes ({@code gpups/optimizers.cuh}: {@code SgdParams},
 * {@code MomentumParams}, {@code AdagradParams}, {@code AdamParams}), as its float fields in declaration order. Every
 * device builds it here, so the host half of the update (the gradient scale, Adam's bias corrections) is computed one
 * way: the CUDA device passes the array by value as the struct, the CPU device hands it to its host loops.
 */
public final class KernelParameters {

    private KernelParameters() {
    }

    /**
     * The struct of {@code spec}'s kernel for the 1-based {@code step}, with {@code gradScale} applied to the raw
     * gradient: sgd {@code (lr, wd, gradScale)}, momentum and nesterov {@code (lr, mu, wd, gradScale)}, adagrad
     * {@code (lr, eps, wd, gradScale)} (its initial accumulator is the slot's start value, not a kernel field), adam and
     * adamw {@code (lr, beta1, beta2, eps, wd, 1 - beta1^t, 1 - beta2^t, gradScale)}.
     */
    public static float[] of(OptimizerSpec spec, long step, float gradScale) {
        if (spec == null) {
            throw new IllegalArgumentException("optimizer spec is null");
        }
        return switch (spec.kind()) {
            case SGD -> {
                OptimizerSpec.Sgd o = (OptimizerSpec.Sgd) spec;
                yield new float[] {o.lr(), o.weightDecay(), gradScale};
            }
            case MOMENTUM -> {
                OptimizerSpec.Momentum o = (OptimizerSpec.Momentum) spec;
                yield new float[] {o.lr(), o.momentum(), o.weightDecay(), gradScale};
            }
            case NESTEROV -> {
                OptimizerSpec.Nesterov o = (OptimizerSpec.Nesterov) spec;
                yield new float[] {o.lr(), o.momentum(), o.weightDecay(), gradScale};
            }
            case ADAGRAD -> {
                OptimizerSpec.Adagrad o = (OptimizerSpec.Adagrad) spec;
                yield new float[] {o.lr(), o.eps(), o.weightDecay(), gradScale};
            }
            case ADAM -> {
                OptimizerSpec.Adam o = (OptimizerSpec.Adam) spec;
                yield adam(o.lr(), o.beta1(), o.beta2(), o.eps(), o.weightDecay(), step, gradScale);
            }
            case ADAMW -> {
                OptimizerSpec.AdamW o = (OptimizerSpec.AdamW) spec;
                yield adam(o.lr(), o.beta1(), o.beta2(), o.eps(), o.weightDecay(), step, gradScale);
            }
        };
    }

    private static float[] adam(float lr, float beta1, float beta2, float eps, float wd, long step, float gradScale) {
        return new float[] {lr, beta1, beta2, eps, wd, biasCorrection(beta1, step), biasCorrection(beta2, step),
                gradScale};
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
