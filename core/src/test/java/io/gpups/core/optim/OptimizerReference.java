package io.gpups.core.optim;

/**
 * The optimizer formulas of {@link OptimizerSpec}'s javadoc, written out plainly: the slow, obvious answer every
 * device is compared with. In double precision, the hyper-parameters being the spec's float values widened to double;
 * Lion alone in float (see {@link #lion}). Test code of the device modules, shared through gpups-core's test jar.
 */
public final class OptimizerReference {

    private OptimizerReference() {
    }

    /** One step of {@code spec} on every element; {@code slots} as many arrays as {@code spec.slots()}. */
    public static void step(OptimizerSpec spec, double[] p, double[][] slots, float[] grad, long t, float gradScale) {
        if (spec instanceof OptimizerSpec.Lion o) {
            float[] pf = toFloat(p);
            float[] mf = toFloat(slots[0]);
            lion(o, pf, mf, grad, gradScale);
            for (int i = 0; i < p.length; i++) {
                p[i] = pf[i];
                slots[0][i] = mf[i];
            }
            return;
        }
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
                case LION -> throw new AssertionError("Lion is stepped in float, above");
            }
        }
    }

    /**
     * One Lion step on every element, in float: {@code c = b1*m + (1-b1)*g; p -= lr*(sign(c) + wd*p);
     * m = b2*m + (1-b2)*g}, with {@code g = gradScale * grad}. Every product is rounded on its own, as Java rounds
     * float arithmetic and as the kernels compute it, so a device gives the same bits; in double the sign of a c near
     * 0 could differ, since it depends on c's last bits.
     */
    public static void lion(OptimizerSpec.Lion o, float[] p, float[] m, float[] grad, float gradScale) {
        for (int i = 0; i < p.length; i++) {
            float g = gradScale * grad[i];
            float c = o.beta1() * m[i] + (1f - o.beta1()) * g;
            float sign = c > 0f ? 1f : c < 0f ? -1f : 0f;
            p[i] -= o.lr() * (sign + o.weightDecay() * p[i]);
            m[i] = o.beta2() * m[i] + (1f - o.beta2()) * g;
        }
    }

    private static float[] toFloat(double[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (float) values[i];
        }
        return out;
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
