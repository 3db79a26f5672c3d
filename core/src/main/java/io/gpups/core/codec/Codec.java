package io.gpups.core.codec;

import java.util.Locale;

/**
 * How a gradient chunk travels from worker to shard. The wire layout of each codec's payload (after the
 * 24-byte PUSH header, whose count field is the chunk's element count n) is drawn in docs/PROTOCOL.md:
 *
 * <pre>
 * none       n x f32
 * fp16       n x u16 (IEEE half, round to nearest even)
 * bf16       n x u16 (bfloat16, round to nearest even)
 * int8       ceil(n/256) x f32 scale | n x i8          value = q * scale of its block (absmax / 127)
 * topk:R     u32 k | u32 0 | k x u32 index | k x f32   indices strictly ascending, k &lt;= n
 * randomk:R  u32 k | u32 0 | k x f32                   indices from the shared seed ({@link RandomKSelection})
 * sign       ceil(n/256) x f32 scale | ceil(n/32) x u32 sign bits   value = bit ? -scale : +scale
 * </pre>
 *
 * int8, topk, randomk and sign keep an error-feedback residual on the worker; none, fp16 and bf16 do not.
 *
 * @param kind  the codec
 * @param ratio for topk and randomk, the fraction of elements sent, in (0, 1]; 0 for the others
 */
public record Codec(Kind kind, float ratio) {

    /** Elements per scale of int8 and sign. */
    public static final int BLOCK = 256;

    public enum Kind {
        NONE(0, "none", false),
        FP16(1, "fp16", false),
        BF16(2, "bf16", false),
        INT8(3, "int8", true),
        TOPK(4, "topk", true),
        RANDOMK(5, "randomk", true),
        SIGN(6, "sign", true);

        /** The codec byte of a PUSH header. */
        public final int id;
        public final String cliName;
        public final boolean errorFeedback;

        Kind(int id, String cliName, boolean errorFeedback) {
            this.id = id;
            this.cliName = cliName;
            this.errorFeedback = errorFeedback;
        }

        public static Kind ofId(int id) {
            for (Kind k : values()) {
                if (k.id == id) {
                    return k;
                }
            }
            return null;
        }

        public boolean sparse() {
            return this == TOPK || this == RANDOMK;
        }
    }

    public static final Codec NONE = new Codec(Kind.NONE, 0f);
    public static final Codec FP16 = new Codec(Kind.FP16, 0f);
    public static final Codec BF16 = new Codec(Kind.BF16, 0f);
    public static final Codec INT8 = new Codec(Kind.INT8, 0f);
    public static final Codec SIGN = new Codec(Kind.SIGN, 0f);

    public Codec {
        if (kind == null) {
            throw new IllegalArgumentException("codec kind must be given");
        }
        if (kind.sparse()) {
            if (!(ratio > 0f && ratio <= 1f)) {
                throw new IllegalArgumentException(kind.cliName + " ratio must be in (0, 1], got " + ratio);
            }
        } else if (ratio != 0f) {
            throw new IllegalArgumentException(kind.cliName + " takes no ratio, got " + ratio);
        }
    }

    public static Codec topk(float ratio) {
        return new Codec(Kind.TOPK, ratio);
    }

    public static Codec randomk(float ratio) {
        return new Codec(Kind.RANDOMK, ratio);
    }

    /** Parses {@code none}, {@code fp16}, {@code bf16}, {@code int8}, {@code sign}, {@code topk:R}, {@code randomk:R}. */
    public static Codec parse(String text) {
        String s = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        int colon = s.indexOf(':');
        String name = colon < 0 ? s : s.substring(0, colon);
        for (Kind k : Kind.values()) {
            if (!k.cliName.equals(name)) {
                continue;
            }
            if (k.sparse()) {
                if (colon < 0) {
                    throw new IllegalArgumentException("codec '" + text + "': " + name + " needs a ratio, e.g. " + name + ":0.01");
                }
                float r;
                try {
                    r = Float.parseFloat(s.substring(colon + 1));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("codec '" + text + "': ratio '" + s.substring(colon + 1) + "' is not a number");
                }
                return new Codec(k, r);
            }
            if (colon >= 0) {
                throw new IllegalArgumentException("codec '" + text + "': " + name + " takes no ratio");
            }
            return new Codec(k, 0f);
        }
        throw new IllegalArgumentException("codec '" + text + "': expected none, fp16, bf16, int8, topk:R, randomk:R or sign");
    }

    public boolean errorFeedback() {
        return kind.errorFeedback;
    }

    /** Elements a sparse codec aims to send out of {@code n}: ceil(ratio * n), at least 1. */
    public int targetK(int n) {
        return (int) Math.max(1, Math.min(n, Math.ceil((double) ratio * n)));
    }

    /**
     * Most elements top-k may send for a chunk of {@code n}: twice the target (the sampled threshold is an
     * estimate), capped at n. What does not fit stays in the residual.
     */
    public int topkCapacity(int n) {
        return (int) Math.min(n, 2L * targetK(n) + 16);
    }

    /** Largest payload this codec writes for a chunk of {@code n} elements. */
    public int maxPayloadBytes(int n) {
        return switch (kind) {
            case NONE -> 4 * n;
            case FP16, BF16 -> 2 * n;
            case INT8 -> 4 * blocks(n) + n;
            case SIGN -> 4 * blocks(n) + 4 * words(n);
            case TOPK -> 8 + 8 * topkCapacity(n);
            case RANDOMK -> 8 + 4 * targetK(n);
        };
    }

    public static int blocks(int n) {
        return (n + BLOCK - 1) / BLOCK;
    }

    public static int words(int n) {
        return (n + 31) / 32;
    }

    @Override
    public String toString() {
        return kind.sparse() ? kind.cliName + ":" + ratio : kind.cliName;
    }
}
