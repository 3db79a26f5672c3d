// Gradient codecs, one element (or one block) at a time: the wire formats of io.gpups.core.codec.Codec.
//
// Encoding happens on the worker's device with error feedback: the value encoded is a = gradient +
// residual, and the residual keeps a - decoded(a), so nothing a lossy codec drops is lost, only delayed.
// Decoding happens on the shard's device, fused into the accumulation or the optimizer step: every
// decoder below is a functor whose operator[](i) yields element i's gradient, so the optimizer loops of
// optimizers.cuh read compressed bytes directly and no inflated copy is ever made.
//
// Payload bytes may sit at any address (a Netty frame puts them wherever the header ends), so multi-byte
// fields are read with memcpy, which both compilers turn into plain (unaligned) loads.
#ifndef GPUPS_CODECS_CUH
#define GPUPS_CODECS_CUH

#include <string.h>

#include "gpups/common.cuh"

namespace gpups {

/** Elements per scale of the int8 and sign codecs (io.gpups.core.codec.Codec.BLOCK). */
#define GPUPS_CODEC_BLOCK 256

/** Codec ids: the codec byte of a PUSH header (io.gpups.core.codec.Codec.Kind.id). */
enum CodecId {
    CODEC_ID_NONE = 0,
    CODEC_ID_FP16 = 1,
    CODEC_ID_BF16 = 2,
    CODEC_ID_INT8 = 3,
    CODEC_ID_TOPK = 4,
    CODEC_ID_RANDOMK = 5,
    CODEC_ID_SIGN = 6
};

GPUPS_HD unsigned int float_bits(float f) {
    unsigned int u;
    memcpy(&u, &f, sizeof u);
    return u;
}

GPUPS_HD float bits_float(unsigned int u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

// ---- fp16 and bf16: round to nearest, ties to even --------------------------------------------------

/** IEEE binary16 bits of f, rounded to nearest even; overflow gives infinity, NaN stays NaN. */
GPUPS_HD unsigned short float_to_half(float f) {
    const unsigned int x = float_bits(f);
    const unsigned int sign = (x >> 16) & 0x8000u;
    const unsigned int a = x & 0x7fffffffu;
    if (a >= 0x7f800000u) {
        return (unsigned short) (sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u));
    }
    if (a >= 0x477ff000u) {  // >= 65520 rounds to infinity
        return (unsigned short) (sign | 0x7c00u);
    }
    if (a < 0x38800000u) {  // below 2^-14: a subnormal half, or zero
        if (a < 0x33000000u) {  // at most 2^-25, which ties to even (zero)
            return (unsigned short) sign;
        }
        const unsigned int e = a >> 23;
        const unsigned int m = (a & 0x7fffffu) | 0x800000u;
        const unsigned int s = 126u - e;  // 14..24
        unsigned int h = m >> s;
        const unsigned int rem = m & ((1u << s) - 1u);
        const unsigned int half = 1u << (s - 1u);
        if (rem > half || (rem == half && (h & 1u))) {
            ++h;
        }
        return (unsigned short) (sign | h);
    }
    unsigned int h = (a >> 13) - (112u << 10);
    const unsigned int rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) {
        ++h;  // may carry into the exponent: still the right value
    }
    return (unsigned short) (sign | h);
}

GPUPS_HD float half_to_float(unsigned short h) {
    const unsigned int sign = ((unsigned int) h & 0x8000u) << 16;
    const unsigned int e = ((unsigned int) h >> 10) & 0x1fu;
    const unsigned int m = (unsigned int) h & 0x3ffu;
    if (e == 0) {
        const float v = (float) m * 5.9604644775390625e-8f;  // m * 2^-24, exact
        return sign ? -v : v;
    }
    if (e == 31) {
        return bits_float(sign | 0x7f800000u | (m << 13));
    }
    return bits_float(sign | ((e + 112u) << 23) | (m << 13));
}

/** bfloat16 bits of f, rounded to nearest even; NaN stays a quiet NaN. */
GPUPS_HD unsigned short float_to_bf16(float f) {
    const unsigned int x = float_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        return (unsigned short) ((x >> 16) | 0x40u);
    }
    return (unsigned short) ((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

GPUPS_HD float bf16_to_float(unsigned short b) {
    return bits_float((unsigned int) b << 16);
}

// ---- int8: absmax scale per block -----------------------------------------------------------------

/** The block's scale from its largest magnitude: values map to -127..127. */
GPUPS_HD float int8_scale(float absmax) {
    return absmax / 127.0f;
}

/**
 * q = round(a / scale), clamped to -127..127; a zero scale means an all-zero block. A division, not a
 * multiplication by 1/scale: for a subnormal scale the reciprocal overflows to infinity.
 */
GPUPS_HD signed char int8_quantize(float a, float scale) {
    if (!(scale > 0.0f)) {
        return 0;
    }
    float q = rintf(a / scale);
    q = q > 127.0f ? 127.0f : (q < -127.0f ? -127.0f : q);
    return (signed char) q;
}

GPUPS_HD float int8_dequantize(signed char q, float scale) {
    return (float) q * scale;
}

// ---- sign: one bit per element, mean magnitude per block --------------------------------------------

/** The decoded value of a sign bit: -scale for a set bit, +scale otherwise. */
GPUPS_HD float sign_decode(unsigned int word, int bit, float scale) {
    return ((word >> bit) & 1u) ? -scale : scale;
}

/** The sign bit of a: set for negative values (-0 and NaN send +scale). */
GPUPS_HD unsigned int sign_bit(float a) {
    return a < 0.0f ? 1u : 0u;
}

/** The block's scale: the mean magnitude of its count elements, from their sum. */
GPUPS_HD float sign_scale(float sum_of_magnitudes, long long count) {
    return sum_of_magnitudes / (float) count;
}

// ---- top-k: sampled threshold (DGC) -----------------------------------------------------------------

/** Element of a chunk of n whose magnitude is sample j of m (m <= n): evenly strided, first at 0. */
GPUPS_HD long long topk_sample_index(long long j, long long n, long long m) {
    return j * n / m;
}

/**
 * The magnitude top-k samples for its threshold: |a|, with NaN as 0. A NaN is never selected (topk_selected is false
 * for it), so it counts as the smallest magnitude; and the sample holds no NaN, which would leave its order
 * unspecified (nth_element on the CPU and a sort on the GPU path would then pick different thresholds).
 */
GPUPS_HD float topk_sample_magnitude(float a) {
    const float m = fabsf(a);
    return m == m ? m : 0.0f;
}

/** Whether top-k sends an element of this magnitude: at or above the threshold, and not zero (never NaN). */
GPUPS_HD bool topk_selected(float magnitude, float threshold) {
    return magnitude >= threshold && magnitude > 0.0f;
}

// ---- decoders: element i's gradient, read from a payload --------------------------------------------

/** none payload: n x f32. */
struct F32Payload {
    const unsigned char* bytes;
    GPUPS_HD float operator[](long long i) const {
        float v;
        memcpy(&v, bytes + 4 * i, sizeof v);
        return v;
    }
};

struct Fp16Payload {
    const unsigned char* bytes;
    GPUPS_HD float operator[](long long i) const {
        unsigned short h;
        memcpy(&h, bytes + 2 * i, sizeof h);
        return half_to_float(h);
    }
};

struct Bf16Payload {
    const unsigned char* bytes;
    GPUPS_HD float operator[](long long i) const {
        unsigned short b;
        memcpy(&b, bytes + 2 * i, sizeof b);
        return bf16_to_float(b);
    }
};

/** int8 payload: blocks x f32 scales, then n x i8. */
struct Int8Payload {
    const unsigned char* scales;
    const signed char* values;
    GPUPS_HD float operator[](long long i) const {
        float scale;
        memcpy(&scale, scales + 4 * (i / GPUPS_CODEC_BLOCK), sizeof scale);
        return int8_dequantize(values[i], scale);
    }
};

/** sign payload: blocks x f32 scales, then ceil(n/32) x u32 sign words. */
struct SignPayload {
    const unsigned char* scales;
    const unsigned char* words;
    GPUPS_HD float operator[](long long i) const {
        float scale;
        unsigned int word;
        memcpy(&scale, scales + 4 * (i / GPUPS_CODEC_BLOCK), sizeof scale);
        memcpy(&word, words + 4 * (i / 32), sizeof word);
        return sign_decode(word, (int) (i % 32), scale);
    }
};

/** Index of entry j of a randomk payload (io.gpups.core.codec.RandomKSelection). */
GPUPS_HD long long randomk_index(long long j, long long start, long long stride, long long n) {
    return (start + j * stride) % n;
}

/** Offset of a sparse payload's entries: after u32 k and u32 0 (io.gpups.core.codec.CodecPayloads.SPARSE_HEADER). */
#define GPUPS_SPARSE_HEADER 8

/** topk payload: u32 k | u32 0 | k x u32 index | k x f32 value; entry j is (index(j), value(j)). */
struct TopkPayload {
    const unsigned char* bytes;
    long long k;
    GPUPS_HD long long index(long long j) const {
        unsigned int index;
        memcpy(&index, bytes + GPUPS_SPARSE_HEADER + 4 * j, sizeof index);
        return (long long) index;
    }
    GPUPS_HD float value(long long j) const {
        float v;
        memcpy(&v, bytes + GPUPS_SPARSE_HEADER + 4 * k + 4 * j, sizeof v);
        return v;
    }
};

/** randomk payload: u32 k | u32 0 | k x f32 value; the indices come from the shared seed's start and stride. */
struct RandomkPayload {
    const unsigned char* bytes;
    long long start;
    long long stride;
    long long n;
    GPUPS_HD long long index(long long j) const {
        return randomk_index(j, start, stride, n);
    }
    GPUPS_HD float value(long long j) const {
        float v;
        memcpy(&v, bytes + GPUPS_SPARSE_HEADER + 4 * j, sizeof v);
        return v;
    }
};

}  // namespace gpups

#endif  // GPUPS_CODECS_CUH
