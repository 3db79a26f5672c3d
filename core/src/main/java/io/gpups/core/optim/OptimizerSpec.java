package io.gpups.core.optim;

import java.util.Locale;

/**
 * The update rule a shard applies to a tensor, with its typed hyper-parameters. The formulas, exactly as
 * the shared kernel headers ({@code gpups/optimizers.cuh}) implement them, with {@code g} the (scaled)
 * gradient and {@code t} the 1-based step:
 *
 * <pre>
 * sgd       g += wd*p;  p -= lr*g
 * momentum  g += wd*p;  v = mu*v + g;  p -= lr*v
 * nesterov  g += wd*p;  v = mu*v + g;  p -= lr*(g + mu*v)
 * adagrad   g += wd*p;  h += g*g;      p -= lr*g / (sqrt(h) + eps)
 * adam      g += wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
 *           p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 * adamw     p -= lr*wd*p (decoupled); then adam with wd = 0
 * </pre>
 */
public sealed interface OptimizerSpec {

    /** Wire and kernel identifier. */
    OptimizerKind kind();

    /** Number of state buffers of the size of the parameters (momentum: v; adam: m, v). */
    default int slots() {
        return kind().slots;
    }

    /** Learning rate. */
    float lr();

    /** The hyper-parameters in wire order (see docs/PROTOCOL.md, REGISTER). */
    float[] hyperParameters();

    /** Throws {@link IllegalArgumentException} naming the first bad value. */
    void validate();

    enum OptimizerKind {
        SGD(0, 0), MOMENTUM(1, 1), NESTEROV(2, 1), ADAGRAD(3, 1), ADAM(4, 2), ADAMW(5, 2);

        public final int id;
        public final int slots;

        OptimizerKind(int id, int slots) {
            this.id = id;
            this.slots = slots;
        }

        public static OptimizerKind ofId(int id) {
            for (OptimizerKind k : values()) {
                if (k.id == id) {
                    return k;
                }
            }
            throw new IllegalArgumentException("unknown optimizer id " + id + ", expected 0..5");
        }

        public String cliName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    record Sgd(float lr, float weightDecay) implements OptimizerSpec {
        public OptimizerKind kind() { return OptimizerKind.SGD; }
        public float[] hyperParameters() { return new float[] {lr, weightDecay}; }
        public void validate() {
            Check.positive("sgd lr", lr);
            Check.nonNegative("sgd weight_decay", weightDecay);
        }
    }

    record Momentum(float lr, float momentum, float weightDecay) implements OptimizerSpec {
        public OptimizerKind kind() { return OptimizerKind.MOMENTUM; }
        public float[] hyperParameters() { return new float[] {lr, momentum, weightDecay}; }
        public void validate() {
            Check.positive("momentum lr", lr);
            Check.unitInterval("momentum momentum", momentum);
            Check.nonNegative("momentum weight_decay", weightDecay);
        }
    }

    record Nesterov(float lr, float momentum, float weightDecay) implements OptimizerSpec {
        public OptimizerKind kind() { return OptimizerKind.NESTEROV; }
        public float[] hyperParameters() { return new float[] {lr, momentum, weightDecay}; }
        public void validate() {
            Check.positive("nesterov lr", lr);
            Check.unitInterval("nesterov momentum", momentum);
            Check.nonNegative("nesterov weight_decay", weightDecay);
        }
    }

    /** {@code initialAccumulator} is the starting value of the squared-gradient sum h. */
    record Adagrad(float lr, float eps, float initialAccumulator, float weightDecay) implements OptimizerSpec {
        public OptimizerKind kind() { return OptimizerKind.ADAGRAD; }
        public float[] hyperParameters() { return new float[] {lr, eps, initialAccumulator, weightDecay}; }
        public void validate() {
            Check.positive("adagrad lr", lr);
            Check.positive("adagrad eps", eps);
            Check.nonNegative("adagrad initial_accumulator", initialAccumulator);
            Check.nonNegative("adagrad weight_decay", weightDecay);
        }
    }

    record Adam(float lr, float beta1, float beta2, float eps, float weightDecay) implements OptimizerSpec {
        public OptimizerKind kind() { return OptimizerKind.ADAM; }
        public float[] hyperParameters() { return new float[] {lr, beta1, beta2, eps, weightDecay}; }
        public void validate() {
            Check.positive("adam lr", lr);
            Check.unitInterval("adam beta1", beta1);
            Check.unitInterval("adam beta2", beta2);
            Check.positive("adam eps", eps);
            Check.nonNegative("adam weight_decay", weightDecay);
        }
    }

    record AdamW(float lr, float beta1, float beta2, float eps, float weightDecay) implements OptimizerSpec {
        public OptimizerKind kind() { return OptimizerKind.ADAMW; }
        public float[] hyperParameters() { return new float[] {lr, beta1, beta2, eps, weightDecay}; }
        public void validate() {
            Check.positive("adamw lr", lr);
            Check.unitInterval("adamw beta1", beta1);
            Check.unitInterval("adamw beta2", beta2);
            Check.positive("adamw eps", eps);
            Check.nonNegative("adamw weight_decay", weightDecay);
        }
    }

    /** Builds a spec from its kind and hyper-parameters in wire order, and validates it. */
    static OptimizerSpec of(OptimizerKind kind, float[] h) {
        int expected = hyperParameterCount(kind);
        if (h.length != expected) {
            throw new IllegalArgumentException(kind.cliName() + " takes " + expected + " hyper-parameters, got " + h.length);
        }
        OptimizerSpec spec = switch (kind) {
            case SGD -> new Sgd(h[0], h[1]);
            case MOMENTUM -> new Momentum(h[0], h[1], h[2]);
            case NESTEROV -> new Nesterov(h[0], h[1], h[2]);
            case ADAGRAD -> new Adagrad(h[0], h[1], h[2], h[3]);
            case ADAM -> new Adam(h[0], h[1], h[2], h[3], h[4]);
            case ADAMW -> new AdamW(h[0], h[1], h[2], h[3], h[4]);
        };
        spec.validate();
        return spec;
    }

    static int hyperParameterCount(OptimizerKind kind) {
        return switch (kind) {
            case SGD -> 2;
            case MOMENTUM, NESTEROV -> 3;
            case ADAGRAD -> 4;
            case ADAM, ADAMW -> 5;
        };
    }

    /** The usual defaults for a name given on the command line, with learning rate {@code lr}. */
    static OptimizerSpec defaults(String name, float lr) {
        OptimizerSpec spec = switch (name.toLowerCase(Locale.ROOT)) {
            case "sgd" -> new Sgd(lr, 0f);
            case "momentum" -> new Momentum(lr, 0.9f, 0f);
            case "nesterov" -> new Nesterov(lr, 0.9f, 0f);
            case "adagrad" -> new Adagrad(lr, 1e-10f, 0f, 0f);
            case "adam" -> new Adam(lr, 0.9f, 0.999f, 1e-8f, 0f);
            case "adamw" -> new AdamW(lr, 0.9f, 0.999f, 1e-8f, 0.01f);
            default -> throw new IllegalArgumentException(
                    "optimizer '" + name + "': expected sgd, momentum, nesterov, adagrad, adam or adamw");
        };
        spec.validate();
        return spec;
    }

    /** Validation helpers: each names the bad value. */
    final class Check {
        private Check() {
        }

        static void positive(String what, float v) {
            if (!(v > 0f) || Float.isInfinite(v)) {
                throw new IllegalArgumentException(what + " must be a finite number > 0, got " + v);
            }
        }

        static void nonNegative(String what, float v) {
            if (!(v >= 0f) || Float.isInfinite(v)) {
                throw new IllegalArgumentException(what + " must be a finite number >= 0, got " + v);
            }
        }

        static void unitInterval(String what, float v) {
            if (!(v >= 0f && v < 1f)) {
                throw new IllegalArgumentException(what + " must be in [0, 1), got " + v);
            }
        }
    }
}
