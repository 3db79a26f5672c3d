// Embedding tables, one row (or one id) at a time: the hash of an id, the bucket policy of io.gpups.core.table.RowTable
// (its javadoc is the specification), the per-row optimizer parameters, and the row value codecs. The CPU device runs
// these in host loops (native/src/main/cpp/gpups_cpu.h), the CUDA kernels in device threads.
//
// A table is struct-of-arrays over its slots (TableView): u64 keys (TABLE_EMPTY_KEY marks a free slot), u64 last-touch
// clocks, u32 touch counts (saturating), u64 optimizer steps, and the values and optimizer state as slots x dim floats.
// Slots come in buckets of TABLE_BUCKET_SLOTS. A slot, once taken, is never freed (an eviction hands it to the new id),
// so the taken slots of a bucket are always a prefix of it and a lookup may stop at the first free slot it sees.
//
// Numerics of a row's step: the row's own step t gives Adam's bias corrections 1 - beta^t, with beta^t computed by
// repeated squaring in double (pow_by_squaring). The dense path computes the same term with Math.pow once per step on
// the host; rows need it per row on every device, and plain double multiplies are the same bits in Java, g++ and
// nvcc, where pow() is not specified to the last bit.
#ifndef GPUPS_TABLES_CUH
#define GPUPS_TABLES_CUH

#include <string.h>

#include <type_traits>

#include "gpups/codecs.cuh"
#include "gpups/common.cuh"
#include "gpups/finite.cuh"
#include "gpups/optimizers.cuh"

namespace gpups {

typedef unsigned long long u64;

/** Slots per bucket (RowTable.BUCKET_SLOTS). */
#define GPUPS_TABLE_BUCKET_SLOTS 16
constexpr long long TABLE_BUCKET_SLOTS = GPUPS_TABLE_BUCKET_SLOTS;

/** The key of a free slot (RowTable.EMPTY_KEY): all ones. */
constexpr u64 TABLE_EMPTY_KEY = ~0ull;

/** XORed into an id before its bucket's mix (RowIds.BUCKET_SALT). */
constexpr u64 TABLE_BUCKET_SALT = 0xD6E8FEB86659FD93ull;

/** Eviction ids (io.gpups.core.table.Eviction.id). */
enum TableEviction { EVICTION_NONE = 0, EVICTION_LRU = 1, EVICTION_LFU = 2 };

/** Row dtype ids (io.gpups.core.table.RowDtype.id). */
enum RowDtypeId { ROW_FP32 = 0, ROW_BF16 = 1, ROW_FP16 = 2, ROW_INT8 = 3 };

// ---- ids ----------------------------------------------------------------------------------------------------------

/** The splitmix64 finalizer (RowIds.mix). */
GPUPS_HD u64 mix64(u64 z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/** The high 64 bits of the unsigned 128-bit product a * b. */
GPUPS_HD u64 mul_high64(u64 a, u64 b) {
#if defined(__CUDA_ARCH__)
    return __umul64hi(a, b);
#else
    return (u64) (((unsigned __int128) a * b) >> 64);
#endif
}

/** The home bucket of id among buckets (> 0): RowIds.bucketOf. */
GPUPS_HD long long bucket_of(u64 id, long long buckets) {
    return (long long) mul_high64(mix64(id ^ TABLE_BUCKET_SALT), (u64) buckets);
}

// ---- the row's optimizer parameters ---------------------------------------------------------------------------------

/** b^t by repeated squaring in double: the same IEEE multiplies, in the same order, on every device. */
GPUPS_HD double pow_by_squaring(double b, u64 t) {
    double result = 1.0;
    double base = b;
    while (t != 0) {
#if defined(__CUDA_ARCH__)
        // Round each product on its own: no contraction with the subtraction that follows (bias_correction).
        if (t & 1ull) {
            result = __dmul_rn(result, base);
        }
        base = __dmul_rn(base, base);
#else
        if (t & 1ull) {
            result *= base;
        }
        base *= base;
#endif
        t >>= 1;
    }
    return result;
}

/** 1 - beta^t for a row at step t, rounded to float. */
GPUPS_HD float bias_correction(float beta, u64 t) {
    return (float) (1.0 - pow_by_squaring((double) beta, t));
}

template <class Kind>
struct KindHasBiasCorrections
    : std::integral_constant<bool, std::is_same<Kind, AdamKind>::value || std::is_same<Kind, AdamWKind>::value> {};

/**
 * Kind's parameter struct for a row at step t (1-based): the spec's hyper-parameters in wire order (hyper), then the
 * per-step terms (adam, adamw: 1 - beta1^t, 1 - beta2^t from hyper[1] and hyper[2]), then grad_scale. The same field
 * order as io.gpups.core.optim.KernelParameters.of.
 */
template <class Kind>
GPUPS_HD typename Kind::Params row_params(const float* hyper, u64 t, float grad_scale) {
    constexpr int fields = (int) (sizeof(typename Kind::Params) / sizeof(float));
    float f[GPUPS_OPTIMIZER_PARAMS_MAX];
    if constexpr (KindHasBiasCorrections<Kind>::value) {
        static_assert(fields == 8, "adam's struct: 5 hyper-parameters, 2 bias corrections, grad_scale");
        for (int i = 0; i < 5; ++i) {
            f[i] = hyper[i];
        }
        f[5] = bias_correction(hyper[1], t);
        f[6] = bias_correction(hyper[2], t);
    } else {
        for (int i = 0; i < fields - 1; ++i) {
            f[i] = hyper[i];
        }
    }
    f[fields - 1] = grad_scale;
    return kind_params<Kind>(f);
}

// ---- row values on the wire -------------------------------------------------------------------------------------------

/** Bytes of one row of dim elements as dtype (RowDtype.rowBytes). */
GPUPS_HD long long row_bytes(int dtype, int dim) {
    switch (dtype) {
        case ROW_FP32: return 4ll * dim;
        case ROW_BF16:
        case ROW_FP16: return 2ll * dim;
        default: return 4ll + dim;  // ROW_INT8: a float32 scale, then dim signed bytes
    }
}

/** Element j of a row of dtype at row (any byte address, little-endian), as float. */
GPUPS_HD float decode_row_element(int dtype, const unsigned char* row, int j) {
    switch (dtype) {
        case ROW_FP32: {
            float v;
            memcpy(&v, row + 4ll * j, sizeof v);
            return v;
        }
        case ROW_BF16: {
            unsigned short b;
            memcpy(&b, row + 2ll * j, sizeof b);
            return bf16_to_float(b);
        }
        case ROW_FP16: {
            unsigned short h;
            memcpy(&h, row + 2ll * j, sizeof h);
            return half_to_float(h);
        }
        default: {
            float scale;
            memcpy(&scale, row, sizeof scale);
            return scale * (float) (signed char) row[4 + j];
        }
    }
}

/** Writes v as element j of a row of a pullable dtype (fp32, bf16, fp16) at row. */
GPUPS_HD void encode_row_element(int dtype, unsigned char* row, int j, float v) {
    if (dtype == ROW_FP32) {
        memcpy(row + 4ll * j, &v, sizeof v);
        return;
    }
    const unsigned short h = dtype == ROW_BF16 ? float_to_bf16(v) : float_to_half(v);
    memcpy(row + 2ll * j, &h, sizeof h);
}

// ---- the bucket policy ------------------------------------------------------------------------------------------------

/** A table's slot arrays (device memory of the table's device). */
struct TableView {
    u64* keys;
    u64* last_touch;
    unsigned int* touches;
    u64* steps;
    long long buckets;
    int eviction;
};

/** The counters of a row just touched at clock (found or born): touches saturate at 2^32 - 1. */
GPUPS_HD void touch_row(const TableView& t, long long slot, u64 clock) {
    t.last_touch[slot] = clock;
    t.touches[slot] = t.touches[slot] == 0xFFFFFFFFu ? 0xFFFFFFFFu : t.touches[slot] + 1u;
}

/** The counters of a row born at clock: step 0, one touch. */
GPUPS_HD void birth_row(const TableView& t, long long slot, u64 clock) {
    t.last_touch[slot] = clock;
    t.touches[slot] = 1u;
    t.steps[slot] = 0;
}

/** Buckets a lookup of id may visit, in order: eviction none probes every bucket from home (wrapping), lru/lfu home only. */
GPUPS_HD long long probe_buckets(const TableView& t) {
    return t.eviction == EVICTION_NONE ? t.buckets : 1;
}

/**
 * The lookup of id, one thread: returns id's slot, or -1 where it is not stored; *free_slot is then the first free
 * slot where the lookup stopped (the slot a new id takes), or -1 where every visited bucket was full.
 */
GPUPS_HD long long table_lookup(const TableView& t, u64 id, long long* free_slot) {
    const long long home = bucket_of(id, t.buckets);
    const long long probes = probe_buckets(t);
    *free_slot = -1;
    for (long long p = 0; p < probes; ++p) {
        long long b = home + p;
        b = b >= t.buckets ? b - t.buckets : b;
        for (long long j = 0; j < TABLE_BUCKET_SLOTS; ++j) {
            const long long s = b * TABLE_BUCKET_SLOTS + j;
            const u64 k = t.keys[s];
            if (k == id) {
                return s;
            }
            if (k == TABLE_EMPTY_KEY) {
                *free_slot = s;
                return -1;
            }
        }
    }
    return -1;
}

/**
 * Whether the row in slot a is a better victim than the one in slot b (a > b, both not touched at this clock):
 * lru the older last touch; lfu the fewer touches, then the older last touch. Equal scores keep b, the lower slot.
 */
GPUPS_HD bool better_victim(const TableView& t, int eviction, long long a, long long b) {
    if (eviction == EVICTION_LFU && t.touches[a] != t.touches[b]) {
        return t.touches[a] < t.touches[b];
    }
    return t.last_touch[a] < t.last_touch[b];
}

/**
 * The slot in id's (full) home bucket whose row a new id replaces (lru, lfu): the lowest score among the rows not
 * touched at clock; -1 where every row of the bucket was touched at clock, or for eviction none.
 */
GPUPS_HD long long table_victim(const TableView& t, u64 id, u64 clock) {
    if (t.eviction == EVICTION_NONE) {
        return -1;
    }
    const long long first = bucket_of(id, t.buckets) * TABLE_BUCKET_SLOTS;
    long long victim = -1;
    for (long long s = first; s < first + TABLE_BUCKET_SLOTS; ++s) {
        if (t.last_touch[s] < clock && (victim < 0 || better_victim(t, t.eviction, s, victim))) {
            victim = s;
        }
    }
    return victim;
}

/** The start value of a born row's optimizer state: adagrad's initial accumulator (hyper[2]) for its one slot, else 0. */
GPUPS_HD float state_start_value(int optimizer, const float* hyper) {
    return optimizer == AdagradKind::id ? hyper[2] : 0.0f;
}

}  // namespace gpups

#endif  // GPUPS_TABLES_CUH
