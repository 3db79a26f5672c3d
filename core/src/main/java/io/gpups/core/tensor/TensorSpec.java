package io.gpups.core.tensor;

import io.gpups.core.optim.OptimizerSpec;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A dense float32 tensor as registered with the shards: its name, shape, initializer and update rule.
 * Two specs conflict when they share a name but differ in anything else.
 */
public record TensorSpec(String name, long[] shape, Initializer initializer, OptimizerSpec optimizer) {

    /** Longest name in UTF-8 bytes. */
    public static final int MAX_NAME_BYTES = 256;
    /** Most dimensions. */
    public static final int MAX_RANK = 8;

    public TensorSpec {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("tensor name must not be empty");
        }
        int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
        if (nameBytes > MAX_NAME_BYTES) {
            throw new IllegalArgumentException("tensor name '" + name + "' is " + nameBytes
                    + " bytes in UTF-8, at most " + MAX_NAME_BYTES + " allowed");
        }
        if (shape == null || shape.length == 0 || shape.length > MAX_RANK) {
            throw new IllegalArgumentException("tensor '" + name + "': rank must be 1.." + MAX_RANK
                    + ", got " + (shape == null ? "no shape" : shape.length));
        }
        shape = shape.clone();
        long n = 1;
        for (long d : shape) {
            if (d <= 0) {
                throw new IllegalArgumentException("tensor '" + name + "': dimensions must be > 0, got shape "
                        + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        if (n > Integer.MAX_VALUE * 8L) {
            throw new IllegalArgumentException("tensor '" + name + "' has " + n + " elements, too many");
        }
        if (initializer == null || optimizer == null) {
            throw new IllegalArgumentException("tensor '" + name + "': initializer and optimizer must be given");
        }
        optimizer.validate();
    }

    /** Number of float32 elements. */
    public long elements() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorSpec t && name.equals(t.name) && Arrays.equals(shape, t.shape)
                && initializer.equals(t.initializer) && optimizer.equals(t.optimizer);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape) + " init=" + initializer.kind().name().toLowerCase()
                + "(" + initializer.value() + ", seed " + initializer.seed() + ") optimizer=" + optimizer;
    }
}
