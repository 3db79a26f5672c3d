package io.gpups.cuda;

import io.gpups.core.optim.OptimizerSpec;

/**
 * The optimizer formulas of {@link OptimizerSpec}'s javadoc, written out plainly in double precision (Lion's sign
 * decision in float, see there): the
 * slow, obvious answer every device is compared with. Hyper-parameters are the spec's float values widened
 * to double.
 */
final class OptimizerReference {

    private OptimizerReference() {
    }

    /** One step of {@code spec} on every element; {@code slots} as many arrays as {@code spec.slots()}. */
    static void step(OptimizerSpec spec, double[] p, double[][] slots, float[] grad, long t, float gradScale) {
        for (int i = 0; i < p.length; i++) {
            double g = (double) gradScale * grad[i];
            switch (spec.kind()) {
                case SGD -> {
                    OptimizerSpec.Sgd o = (OptimizerSpec.Sgd) spec;
                    g += o.weightDecay() * p[i];
                    p[i] -= o.lr() * g;
                }
                case MOMENTUM -> {
                    OptimizerSpec.Momentum o = (OptimizerSpec.Momentum) spec;
                    g += o.weightDecay() * p[i];
                    slots[0][i] = o.momentum() * slots[0][i] + g;
                    p[i] -= o.lr() * slots[0][i];
                }
                case NESTEROV -> {
                    OptimizerSpec.Nesterov o = (OptimizerSpec.Nesterov) spec;
                    g += o.weightDecay() * p[i];
                    slots[0][i] = o.momentum() * slots[0][i] + g;
                    p[i] -= o.lr() * (g + o.momentum() * slots[0][i]);
                }
                case ADAGRAD -> {
                    OptimizerSpec.Adagrad o = (OptimizerSpec.Adagrad) spec;
                    g += o.weightDecay() * p[i];
                    slots[0][i] += g * g;
                    p[i] -= o.lr() * g / (Math.sqrt(slots[0][i]) + o.eps());
                }
                case ADAM -> {
                    OptimizerSpec.Adam o = (OptimizerSpec.Adam) spec;
                    g += o.weightDecay() * p[i];
                    p[i] = adam(p[i], slots, i, g, o.lr(), o.beta1(), o.beta2(), o.eps(), t);
                }
                case ADAMW -> {
                    OptimizerSpec.AdamW o = (OptimizerSpec.AdamW) spec;
                    p[i] -= (double) o.lr() * o.weightDecay() * p[i];
                    p[i] = adam(p[i], slots, i, g, o.lr(), o.beta1(), o.beta2(), o.eps(), t);
                }
                case LION -> {
                    // The momentum and c in float, each product rounded on its own, as the kernels compute them: the
                    // sign of a c near 0 depends on its last bits. The step itself in double.
                    OptimizerSpec.Lion o = (OptimizerSpec.Lion) spec;
                    float gf = gradScale * grad[i];
                    float m = (float) slots[0][i];
                    float c = o.beta1() * m + (1f - o.beta1()) * gf;
                    double sign = c > 0 ? 1 : c < 0 ? -1 : 0;
                    p[i] -= o.lr() * (sign + o.weightDecay() * p[i]);
                    slots[0][i] = o.beta2() * m + (1f - o.beta2()) * gf;
                }
            }
        }
    }

    private static double adam(double p, double[][] slots, int i, double g,
                               double lr, double beta1, double beta2, double eps, long t) {
        slots[0][i] = beta1 * slots[0][i] + (1 - beta1) * g;
        slots[1][i] = beta2 * slots[1][i] + (1 - beta2) * g * g;
        double mHat = slots[0][i] / (1 - Math.pow(beta1, t));
        double vHat = slots[1][i] / (1 - Math.pow(beta2, t));
        return p - lr * mHat / (Math.sqrt(vHat) + eps);
    }
}
