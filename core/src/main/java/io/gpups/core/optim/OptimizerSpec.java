package io.gpups.core.optim;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

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
 * lion      c = b1*m + (1-b1)*g;  p -= lr*(sign(c) + wd*p);  m = b2*m + (1-b2)*g    (sign(0) = 0)
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

    /** The hyper-parameters in wire order (see docs/PROTOCOL.md, REGISTER; names: {@link OptimizerKind#hyperParameterNames}). */
    float[] hyperParameters();

    /**
     * The terms of the kernel's parameter struct that depend on the 1-based {@code step}, computed on the host; they
     * follow the hyper-parameters in the struct ({@link KernelParameters}). None unless the rule says otherwise.
     */
    default float[] stepTerms(long step) {
        return new float[0];
    }

    /** Throws {@link IllegalArgumentException} naming the first bad value. */
    void validate();

    /**
     * The kind table: each optimizer's id (on the wire and on every device), its name, its state slots and its
     * hyper-parameters in wire order. The ids, names and slot counts are those of the kernel headers' table
     * ({@code gpups/optimizers.cuh}, {@code GPUPS_OPTIMIZER_KINDS}); {@code OptimizerKindTableTest} compares the two.
     */
    enum OptimizerKind {
        SGD(0, List.of(), List.of("lr", "weight_decay")),
        MOMENTUM(1, List.of("momentum"), List.of("lr", "momentum", "weight_decay")),
        NESTEROV(2, List.of("momentum"), List.of("lr", "momentum", "weight_decay")),
        ADAGRAD(3, List.of("sum"), List.of("lr", "eps", "initial_accumulator", "weight_decay")),
        ADAM(4, List.of("m", "v"), List.of("lr", "beta1", "beta2", "eps", "weight_decay")),
        ADAMW(5, List.of("m", "v"), List.of("lr", "beta1", "beta2", "eps", "weight_decay")),
        LION(6, List.of("m"), List.of("lr", "beta1", "beta2", "weight_decay"));

        public final int id;
        /** State buffers of the size of the parameters, as many as {@link #slotNames}. */
        public final int slots;
        /** The state slots' names (checkpoints), in the order the devices keep them. */
        public final List<String> slotNames;
        /** The hyper-parameters' names in wire order ({@link OptimizerSpec#hyperParameters()}). */
        public final List<String> hyperParameterNames;

        OptimizerKind(int id, List<String> slotNames, List<String> hyperParameterNames) {
            this.id = id;
            this.slots = slotNames.size();
            this.slotNames = slotNames;
            this.hyperParameterNames = hyperParameterNames;
        }

        public static OptimizerKind ofId(int id) {
            for (OptimizerKind k : values()) {
                if (k.id == id) {
                    return k;
                }
            }
            throw new IllegalArgumentException("unknown optimizer id " + id + ", expected one of "
                    + Arrays.stream(values()).map(k -> k.id + " (" + k.cliName() + ")").collect(Collectors.joining(", ")));
        }

        /** The kind named as on the command line, in any case. */
        public static OptimizerKind ofName(String name) {
            for (OptimizerKind k : values()) {
                if (k.cliName().equals(name.toLowerCase(Locale.ROOT))) {
                    return k;
                }
            }
            throw new IllegalArgumentException("optimizer '" + name + "': expected " + names());
        }

        /** Every kind's name, comma-separated, in id order. */
        public static String names() {
            return Arrays.stream(values()).map(OptimizerKind::cliName).collect(Collectors.joining(", "));
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
        /** The bias corrections {@code 1 - beta1^t} and {@code 1 - beta2^t}. */
        public float[] stepTerms(long step) {
            return new float[] {KernelParameters.biasCorrection(beta1, step), KernelParameters.biasCorrection(beta2, step)};
        }
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
        /** The bias corrections {@code 1 - beta1^t} and {@code 1 - beta2^t}. */
        public float[] stepTerms(long step) {
            return new float[] {KernelParameters.biasCorrection(beta1, step), KernelParameters.biasCorrection(beta2, step)};
        }
        public void validate() {
            Check.positive("adamw lr", lr);
            Check.unitInterval("adamw beta1", beta1);
            Check.unitInterval("adamw beta2", beta2);
            Check.positive("adamw eps", eps);
            Check.nonNegative("adamw weight_decay", weightDecay);
        }
    }

    /** Lion (Chen et al. 2023): the sign of the interpolated momentum; weight decay decoupled, as in AdamW. */
    record Lion(float lr, float beta1, float beta2, float weightDecay) implements OptimizerSpec {
        public OptimizerKind kind() { return OptimizerKind.LION; }
        public float[] hyperParameters() { return new float[] {lr, beta1, beta2, weightDecay}; }
        public void validate() {
            Check.positive("lion lr", lr);
            Check.unitInterval("lion beta1", beta1);
            Check.unitInterval("lion beta2", beta2);
            Check.nonNegative("lion weight_decay", weightDecay);
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
            case LION -> new Lion(h[0], h[1], h[2], h[3]);
        };
        spec.validate();
        return spec;
    }

    static int hyperParameterCount(OptimizerKind kind) {
        return kind.hyperParameterNames.size();
    }

    /** The usual defaults for a name given on the command line, with learning rate {@code lr}. */
    static OptimizerSpec defaults(String name, float lr) {
        OptimizerSpec spec = switch (OptimizerKind.ofName(name)) {
            case SGD -> new Sgd(lr, 0f);
            case MOMENTUM -> new Momentum(lr, 0.9f, 0f);
            case NESTEROV -> new Nesterov(lr, 0.9f, 0f);
            case ADAGRAD -> new Adagrad(lr, 1e-10f, 0f, 0f);
            case ADAM -> new Adam(lr, 0.9f, 0.999f, 1e-8f, 0f);
            case ADAMW -> new AdamW(lr, 0.9f, 0.999f, 1e-8f, 0.01f);
            case LION -> new Lion(lr, 0.9f, 0.99f, 0f);
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
