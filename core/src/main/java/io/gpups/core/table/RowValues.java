package io.gpups.core.table;

import java.nio.ByteBuffer;

/**
 * Rows of float32 values to and from their wire types ({@link RowDtype}), on the host: what clients do with the rows
 * they push and pull. The shards' devices do the same conversions in the kernel header {@code gpups/tables.cuh};
 * both round to nearest even.
 */
public final class RowValues {

    private RowValues() {
    }

    /** Writes {@code rows} rows of {@code dim} values from {@code values[offset..]} into {@code out} as {@code dtype}, advancing it. */
    public static void encode(float[] values, int offset, int rows, int dim, RowDtype dtype, ByteBuffer out) {
        switch (dtype) {
            case FP32 -> {
                for (int i = 0; i < rows * dim; i++) {
                    out.putFloat(values[offset + i]);
                }
            }
            case BF16 -> {
                for (int i = 0; i < rows * dim; i++) {
                    out.putShort(toBf16(values[offset + i]));
                }
            }
            case FP16 -> {
                for (int i = 0; i < rows * dim; i++) {
                    out.putShort(toHalf(values[offset + i]));
                }
            }
            case INT8 -> {
                for (int r = 0; r < rows; r++) {
                    int base = offset + r * dim;
                    float max = 0f;
                    for (int j = 0; j < dim; j++) {
                        max = Math.max(max, Math.abs(values[base + j]));
                    }
                    float scale = max / 127f;
                    out.putFloat(scale);
                    for (int j = 0; j < dim; j++) {
                        out.put(scale == 0f ? 0 : (byte) Math.max(-127, Math.min(127, Math.round(values[base + j] / scale))));
                    }
                }
            }
        }
    }

    /** Reads {@code rows} rows of {@code dim} values of {@code dtype} from {@code in} (advancing it) into {@code out[offset..]}. */
    public static void decode(ByteBuffer in, int rows, int dim, RowDtype dtype, float[] out, int offset) {
        switch (dtype) {
            case FP32 -> {
                for (int i = 0; i < rows * dim; i++) {
                    out[offset + i] = in.getFloat();
                }
            }
            case BF16 -> {
                for (int i = 0; i < rows * dim; i++) {
                    out[offset + i] = Float.intBitsToFloat((in.getShort() & 0xFFFF) << 16);
                }
            }
            case FP16 -> {
                for (int i = 0; i < rows * dim; i++) {
                    out[offset + i] = fromHalf(in.getShort());
                }
            }
            case INT8 -> {
                for (int r = 0; r < rows; r++) {
                    float scale = in.getFloat();
                    for (int j = 0; j < dim; j++) {
                        out[offset + r * dim + j] = scale * in.get();
                    }
                }
            }
        }
    }

    /** bfloat16 bits of {@code v}, rounded to nearest even; a NaN stays a (quiet) NaN. */
    public static short toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** IEEE binary16 bits of {@code v}, rounded to nearest even: too large becomes infinity, tiny values subnormal or 0. */
    public static short toHalf(float v) {
        int bits = Float.floatToRawIntBits(v);
        int sign = (bits >>> 16) & 0x8000;
        int exp = (bits >>> 23) & 0xFF;
        int mant = bits & 0x7FFFFF;
        if (exp == 0xFF) {
            return (short) (sign | 0x7C00 | (mant != 0 ? 0x0200 | (mant >>> 13) : 0));
        }
        int e = exp - 127 + 15;
        if (e >= 0x1F) {
            return (short) (sign | 0x7C00);
        }
        if (e <= 0) {
            if (e < -10) {
                return (short) sign;
            }
            // Subnormal: shift the mantissa (with its implicit 1) right and round to nearest even.
            int m = mant | 0x800000;
            int shift = 14 - e;
            int half = m >>> shift;
            int rest = m & ((1 << shift) - 1);
            int mid = 1 << (shift - 1);
            if (rest > mid || (rest == mid && (half & 1) != 0)) {
                half++;
            }
            return (short) (sign | half);
        }
        int half = (e << 10) | (mant >>> 13);
        int rest = mant & 0x1FFF;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) != 0)) {
            half++;  // may carry into the exponent, up to infinity: still the right rounding
        }
        return (short) (sign | half);
    }

    /** The float32 value of IEEE binary16 bits {@code h} (exact). */
    public static float fromHalf(short h) {
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1F;
        int mant = h & 0x3FF;
        if (exp == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        }
        if (exp == 0) {
            float magnitude = mant * 0x1.0p-24f;
            return sign != 0 ? -magnitude : magnitude;
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }
}
