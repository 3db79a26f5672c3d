package io.gpups.core.tensor;

/**
 * How a shard fills a tensor's parameters at registration. The value of element {@code i} depends only on
 * the initializer and {@code i} (a counter-based generator), so it is the same however the tensor is cut
 * into chunks or spread over shards, and a single-process reference can reproduce it.
 */
public record Initializer(Kind kind, float value, long seed) {

    public enum Kind {
        /** Every element 0. */
        ZEROS(0),
        /** Every element {@code value}. */
        CONSTANT(1),
        /** Uniform in [-value, value). */
        UNIFORM(2),
        /** Normal with mean 0 and standard deviation {@code value}. */
        NORMAL(3);

        public final int id;

        Kind(int id) {
            this.id = id;
        }

        public static Kind ofId(int id) {
            for (Kind k : values()) {
                if (k.id == id) {
                    return k;
                }
            }
            throw new IllegalArgumentException("unknown initializer id " + id + ", expected 0..3");
        }
    }

    public Initializer {
        if (kind == null) {
            throw new IllegalArgumentException("initializer kind must be given");
        }
        if (!Float.isFinite(value)) {
            throw new IllegalArgumentException("initializer value must be finite, got " + value);
        }
        if ((kind == Kind.UNIFORM || kind == Kind.NORMAL) && value < 0) {
            throw new IllegalArgumentException(kind + " initializer scale must be >= 0, got " + value);
        }
    }

    public static Initializer zeros() {
        return new Initializer(Kind.ZEROS, 0f, 0L);
    }

    /** Glorot/Xavier uniform for a {@code fanIn x fanOut} weight matrix. */
    public static Initializer glorotUniform(long fanIn, long fanOut, long seed) {
        return new Initializer(Kind.UNIFORM, (float) Math.sqrt(6.0 / (fanIn + fanOut)), seed);
    }

    /** The initial value of element {@code index}. */
    public float valueAt(long index) {
        return switch (kind) {
            case ZEROS -> 0f;
            case CONSTANT -> value;
            case UNIFORM -> (float) ((2.0 * unit(index, 0) - 1.0) * value);
            case NORMAL -> {
                double u1 = Math.max(unit(index, 1), 0x1.0p-53);
                double u2 = unit(index, 2);
                yield (float) (value * Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2));
            }
        };
    }

    /** Fills {@code out[0..count)} with the values of elements {@code first..first+count}. */
    public void fill(long first, float[] out, int count) {
        for (int i = 0; i < count; i++) {
            out[i] = valueAt(first + i);
        }
    }

    /** A uniform double in [0, 1) from (seed, index, stream), by SplitMix64. */
    private double unit(long index, int stream) {
        long z = seed + 0x9E3779B97F4A7C15L * (index * 3 + stream + 1);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return (z >>> 11) * 0x1.0p-53;
    }
}
