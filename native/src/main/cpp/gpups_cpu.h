// Host loops of the CPU device over the shared kernel headers (cuda-kernels/src/main/cuda/include/gpups).
//
// Each function here is one native entry point of io.gpups.nativecpu.CpuKernels. The Java side has
// already checked sizes and buffer ownership; what can only be checked here (labels stored in device
// memory) throws std::invalid_argument, which JavaCPP's generated JNI code turns into a Java
// RuntimeException carrying the message. Nothing here may let a C++ exception or a signal escape.
//
// Loops are plain counted loops over restrict-free pointers with no calls that the compiler cannot
// inline, so g++ -O3 vectorizes them (SSE2 at -march=x86-64). The optimizer loops serve every kind of
// the kind table (optimizers.cuh) and are templates over the gradient source: device memory (float*)
// or a received little-endian payload in host memory
// (any byte address: Netty frames put the payload wherever the header ends, so it may not be 4-byte
// aligned; memcpy reads it safely and compiles to an unaligned vector load).
#ifndef GPUPS_CPU_H
#define GPUPS_CPU_H

#include <algorithm>
#include <new>
#include <stdexcept>
#include <vector>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <string>

#include "gpups/codecs.cuh"
#include "gpups/common.cuh"
#include "gpups/elementwise.cuh"
#include "gpups/finite.cuh"
#include "gpups/nn.cuh"
#include "gpups/optimizers.cuh"
#include "gpups/tables.cuh"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gpups reads little-endian float payloads in place; this host is not little-endian"
#endif

namespace gpups {
namespace cpu {

/** A gradient in device (here: host heap) memory. */
struct FloatGradient {
    const float* values;
    float operator[](long long i) const { return values[i]; }
};

/** A gradient as little-endian float32 bytes at any address (a network payload). */
struct PayloadGradient {
    const unsigned char* bytes;
    float operator[](long long i) const {
        float v;
        memcpy(&v, bytes + 4 * i, sizeof v);
        return v;
    }
};

// ---- memory -------------------------------------------------------------------------------------

/** Transparent huge page size on x86-64 and the allocation size from which huge pages are asked for. */
constexpr size_t HUGE_PAGE_BYTES = (size_t) 2 << 20;

/**
 * Zero-filled storage of at least one byte; null when the allocation fails (the caller throws OutOfMemoryError).
 *
 * From 2 MiB on, the storage is 2 MiB-aligned and advised for transparent huge pages (MADV_HUGEPAGE, a hint
 * that does nothing where THP is off). Streaming optimizer loops over 4 KiB pages spend much of their time in
 * page walks, above all in a virtual machine's nested paging: on a 2-core VM the Adam step over 64 MiB
 * arrays ran twice as fast on huge pages. The memory is written once here, so its pages are faulted in at
 * allocation, not in the first update.
 */
inline void* allocate_zeroed(size_t bytes) {
    bytes = bytes > 0 ? bytes : 1;
    if (bytes < HUGE_PAGE_BYTES) {
        return calloc(1, bytes);
    }
    const size_t rounded = (bytes + HUGE_PAGE_BYTES - 1) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    void* storage = nullptr;
    if (posix_memalign(&storage, HUGE_PAGE_BYTES, rounded) != 0) {
        return nullptr;
    }
#ifdef MADV_HUGEPAGE
    madvise(storage, rounded, MADV_HUGEPAGE);
#endif
    memset(storage, 0, rounded);
    return storage;
}

inline float* allocate_floats(long long count) {
    return static_cast<float*>(allocate_zeroed((count > 0 ? (size_t) count : 1) * sizeof(float)));
}

inline void free_floats(float* p) {
    free(p);
}

/** Copies count floats from little-endian bytes at any address. */
inline void copy_from_payload(float* dst, const unsigned char* src, long long count) {
    memcpy(dst, src, (size_t) count * sizeof(float));
}

/** Copies count floats out to bytes at any address, little-endian. */
inline void copy_to_payload(unsigned char* dst, const float* src, long long count) {
    memcpy(dst, src, (size_t) count * sizeof(float));
}

inline void copy_floats(float* dst, const float* src, long long count) {
    memmove(dst, src, (size_t) count * sizeof(float));
}

inline void fill(float* x, float value, long long count) {
    for (long long i = 0; i < count; ++i) {
        x[i] = value;
    }
}

// ---- server math --------------------------------------------------------------------------------

template <class Gradient>
inline void accumulate_loop(float* acc, Gradient grad, long long count) {
    for (long long i = 0; i < count; ++i) {
        gpups::accumulate(acc[i], grad[i]);
    }
}

inline void accumulate(float* acc, const float* grad, long long count) {
    accumulate_loop(acc, FloatGradient{grad}, count);
}

inline void accumulate_payload(float* acc, const unsigned char* grad, long long count) {
    accumulate_loop(acc, PayloadGradient{grad}, count);
}

inline void scale(float* x, float alpha, long long count) {
    for (long long i = 0; i < count; ++i) {
        gpups::scale(x[i], alpha);
    }
}

// ---- optimizers: the kind table of optimizers.cuh ---------------------------------------------------

/** f(i, p[i], slots[i]...) for i < n, with as many slot arrays as Slots (the others are not touched). */
template <int Slots, class F>
inline void for_each_state(long long n, float* p, float* s0, float* s1, F f) {
    if constexpr (Slots == 0) {
        for (long long i = 0; i < n; ++i) f(i, p[i]);
    } else if constexpr (Slots == 1) {
        for (long long i = 0; i < n; ++i) f(i, p[i], s0[i]);
    } else {
        static_assert(Slots == 2, "the CPU loops pass at most two state slots");
        for (long long i = 0; i < n; ++i) f(i, p[i], s0[i], s1[i]);
    }
}

/** Calls f(Kind{}) for the optimizer id; an id outside the kind table throws. */
template <class F>
inline void with_kind(int optimizer, F f) {
    if (!with_optimizer_kind(optimizer, f)) {
        throw std::invalid_argument("unknown optimizer id " + std::to_string(optimizer));
    }
}

/**
 * One unguarded optimizer step over n elements with the gradient in device memory: optimizer is an id of the kind
 * table, h its parameter struct field by field, s0 and s1 its slots (null past its slot count).
 */
inline void apply_optimizer(int optimizer, float* p, float* s0, float* s1, const float* grad, long long n,
                            const float* h) {
    with_kind(optimizer, [&](auto kind) {
        using Kind = decltype(kind);
        const typename Kind::Params o = kind_params<Kind>(h);
        for_each_state<Kind::slots>(n, p, s0, s1, [&](long long i, float& q, auto&... s) {
            optimizer_step<Kind>(o, grad[i], q, s...);
        });
    });
}

/** The kind table as compiled, for the test that compares it with OptimizerSpec.OptimizerKind: null for no such id. */
inline const char* optimizer_kind_name(int optimizer) {
    const char* name = nullptr;
    with_optimizer_kind(optimizer, [&](auto kind) { name = decltype(kind)::name; });
    return name;
}

/** The kind's state slots; -1 for no such id. */
inline int optimizer_kind_slots(int optimizer) {
    int slots = -1;
    with_optimizer_kind(optimizer, [&](auto kind) { slots = decltype(kind)::slots; });
    return slots;
}

/** The floats of the kind's parameter struct; -1 for no such id. */
inline int optimizer_kind_params(int optimizer) {
    int floats = -1;
    with_optimizer_kind(optimizer, [&](auto kind) { floats = (int) (sizeof(typename decltype(kind)::Params) / sizeof(float)); });
    return floats;
}

/** GPUPS_OPTIMIZER_PARAMS_MAX: the floats of OptimizerParams. */
inline int optimizer_params_max() {
    return GPUPS_OPTIMIZER_PARAMS_MAX;
}

// ---- gradient codecs ----------------------------------------------------------------------------
//
// Encoders run on the worker with error feedback: a = gradient + residual is formed in the residual
// buffer in the same pass that encodes it, and the residual ends holding a - decoded(a). Decoders run on
// the shard, fused into accumulation or into the optimizer loop (the payload functors of codecs.cuh).

inline void encode_fp16(const float* src, long long n, unsigned char* out) {
    for (long long i = 0; i < n; ++i) {
        const unsigned short h = float_to_half(src[i]);
        memcpy(out + 2 * i, &h, sizeof h);
    }
}

inline void encode_bf16(const float* src, long long n, unsigned char* out) {
    for (long long i = 0; i < n; ++i) {
        const unsigned short b = float_to_bf16(src[i]);
        memcpy(out + 2 * i, &b, sizeof b);
    }
}

/** int8 with error feedback: per block of 256, scale = absmax/127; out = scales, then the n quantized bytes. */
inline void encode_int8(const float* g, float* r, long long n, unsigned char* out) {
    const long long blocks = (n + GPUPS_CODEC_BLOCK - 1) / GPUPS_CODEC_BLOCK;
    signed char* q = reinterpret_cast<signed char*>(out + 4 * blocks);
    for (long long b = 0; b < blocks; ++b) {
        const long long begin = b * GPUPS_CODEC_BLOCK;
        const long long end = std::min(n, begin + GPUPS_CODEC_BLOCK);
        float absmax = 0.0f;
        for (long long i = begin; i < end; ++i) {
            r[i] += g[i];
            absmax = std::max(absmax, fabsf(r[i]));
        }
        const float scale = int8_scale(absmax);
        memcpy(out + 4 * b, &scale, sizeof scale);
        for (long long i = begin; i < end; ++i) {
            q[i] = int8_quantize(r[i], scale);
            r[i] -= int8_dequantize(q[i], scale);
        }
    }
}

/** Scaled sign with error feedback: scale = mean |a| of the block; out = scales, then sign words. */
inline void encode_sign(const float* g, float* r, long long n, unsigned char* out) {
    const long long blocks = (n + GPUPS_CODEC_BLOCK - 1) / GPUPS_CODEC_BLOCK;
    unsigned char* words = out + 4 * blocks;
    memset(words, 0, (size_t) (4 * ((n + 31) / 32)));
    for (long long b = 0; b < blocks; ++b) {
        const long long begin = b * GPUPS_CODEC_BLOCK;
        const long long end = std::min(n, begin + GPUPS_CODEC_BLOCK);
        float sum = 0.0f;
        for (long long i = begin; i < end; ++i) {
            r[i] += g[i];
            sum += fabsf(r[i]);
        }
        const float scale = sum / (float) (end - begin);
        memcpy(out + 4 * b, &scale, sizeof scale);
        for (long long w = begin / 32; w < (end + 31) / 32; ++w) {
            unsigned int word = 0;
            const long long last = std::min(end, (w + 1) * 32);
            for (long long i = w * 32; i < last; ++i) {
                const unsigned int bit = r[i] < 0.0f ? 1u : 0u;
                word |= bit << (i % 32);
                r[i] -= sign_decode(bit, 0, scale);
            }
            memcpy(words + 4 * w, &word, sizeof word);
        }
    }
}

/** randomk with error feedback: the k values at the seeded indices; out = u32 k, u32 0, k values. */
inline void encode_randomk(const float* g, float* r, long long n, int k, long long start, long long stride,
                           unsigned char* out) {
    for (long long i = 0; i < n; ++i) {
        r[i] += g[i];
    }
    const unsigned int header[2] = {(unsigned int) k, 0u};
    memcpy(out, header, sizeof header);
    for (long long j = 0; j < k; ++j) {
        const long long i = randomk_index(j, start, stride, n);
        memcpy(out + 8 + 4 * j, &r[i], sizeof(float));
        r[i] = 0.0f;
    }
}

/**
 * top-k with error feedback, DGC-style: the threshold is estimated from a strided sample of |a| (a
 * quantile by nth_element, not a sort of everything), the elements above it are counted, the estimate is
 * adjusted when the count is far from the target, and one compaction pass writes the survivors (ascending
 * indices) and clears them from the residual. At most capacity elements are sent; the rest stay in the
 * residual. Returns k; out = u32 k, u32 0, k indices, k values.
 */
inline int encode_topk(const float* g, float* r, long long n, int target_k, int capacity, unsigned char* out) {
    for (long long i = 0; i < n; ++i) {
        r[i] += g[i];
    }
    const long long m = std::min<long long>(n, 8192);
    std::vector<float> sample((size_t) m);
    for (long long j = 0; j < m; ++j) {
        sample[(size_t) j] = gpups::topk_sample_magnitude(r[gpups::topk_sample_index(j, n, m)]);
    }
    double fraction = (double) target_k / (double) n;
    float threshold = 0.0f;
    long long count = 0;
    for (int attempt = 0; attempt < 4; ++attempt) {
        long long rank = m - (long long) ceil(fraction * (double) m);
        rank = std::max<long long>(0, std::min<long long>(m - 1, rank));
        std::nth_element(sample.begin(), sample.begin() + rank, sample.end());
        threshold = sample[(size_t) rank];
        count = 0;
        for (long long i = 0; i < n; ++i) {
            const float a = fabsf(r[i]);
            count += (a >= threshold && a > 0.0f) ? 1 : 0;
        }
        if (count >= (long long) (0.8 * target_k) && count <= capacity) {
            break;
        }
        fraction = std::min(1.0, fraction * (double) target_k / (double) std::max<long long>(count, 1));
    }
    unsigned char* indices = out + 8;
    long long k = 0;
    const long long limit = std::min<long long>(count, capacity);
    unsigned char* values = out + 8 + 4 * limit;
    for (long long i = 0; i < n && k < limit; ++i) {
        const float a = fabsf(r[i]);
        if (a >= threshold && a > 0.0f) {
            const unsigned int index = (unsigned int) i;
            memcpy(indices + 4 * k, &index, sizeof index);
            memcpy(values + 4 * k, &r[i], sizeof(float));
            r[i] = 0.0f;
            ++k;
        }
    }
    const unsigned int header[2] = {(unsigned int) k, 0u};
    memcpy(out, header, sizeof header);
    return (int) k;
}

/** Codec ids (io.gpups.core.codec.Codec.Kind). */
enum CodecKind { CODEC_NONE = 0, CODEC_FP16 = 1, CODEC_BF16 = 2, CODEC_INT8 = 3, CODEC_TOPK = 4, CODEC_RANDOMK = 5, CODEC_SIGN = 6 };

/** fp16 decoded through a table of all 65536 halves, built once from half_to_float (the same math, vectorizable). */
struct Fp16Table {
    float values[65536];
    Fp16Table() {
        for (int h = 0; h < 65536; ++h) {
            values[h] = half_to_float((unsigned short) h);
        }
    }
};

inline const float* fp16_table() {
    static const Fp16Table table;
    return table.values;
}

struct Fp16TablePayload {
    const unsigned char* bytes;
    const float* table;
    float operator[](long long i) const {
        unsigned short h;
        memcpy(&h, bytes + 2 * i, sizeof h);
        return table[h];
    }
};

/** One int8 block: one scale for all its elements, so the loop over it vectorizes. */
struct Int8Block {
    const signed char* q;
    float scale;
    float operator[](long long i) const { return int8_dequantize(q[i], scale); }
};

/** One sign block (256 elements, 8 words). */
struct SignBlock {
    const unsigned char* words;
    float scale;
    float operator[](long long i) const {
        unsigned int word;
        memcpy(&word, words + 4 * (i >> 5), sizeof word);
        return sign_decode(word, (int) (i & 31), scale);
    }
};

/**
 * Runs f(decoder, begin, end) over the elements of a dense payload, the decoder indexed from begin: once
 * for the whole chunk, or block by block for int8 and sign so each block's scale is a loop constant.
 * Returns false for sparse codecs.
 */
template <class F>
inline bool with_dense_decoder(int kind, const unsigned char* payload, long long n, F f) {
    const long long blocks = (n + GPUPS_CODEC_BLOCK - 1) / GPUPS_CODEC_BLOCK;
    switch (kind) {
        case CODEC_NONE: f(PayloadGradient{payload}, 0, n); return true;
        case CODEC_FP16: f(Fp16TablePayload{payload, fp16_table()}, 0, n); return true;
        case CODEC_BF16: f(Bf16Payload{payload}, 0, n); return true;
        case CODEC_INT8: {
            const signed char* q = reinterpret_cast<const signed char*>(payload + 4 * blocks);
            for (long long b = 0; b < blocks; ++b) {
                float scale;
                memcpy(&scale, payload + 4 * b, sizeof scale);
                const long long begin = b * GPUPS_CODEC_BLOCK;
                f(Int8Block{q + begin, scale}, begin, std::min(n, begin + GPUPS_CODEC_BLOCK));
            }
            return true;
        }
        case CODEC_SIGN: {
            const unsigned char* words = payload + 4 * blocks;
            for (long long b = 0; b < blocks; ++b) {
                float scale;
                memcpy(&scale, payload + 4 * b, sizeof scale);
                const long long begin = b * GPUPS_CODEC_BLOCK;
                f(SignBlock{words + 4 * (begin / 32), scale}, begin, std::min(n, begin + GPUPS_CODEC_BLOCK));
            }
            return true;
        }
        case CODEC_TOPK:
        case CODEC_RANDOMK: return false;
        default: throw std::invalid_argument("unknown codec id " + std::to_string(kind));
    }
}

/** Calls f(index, value) for every entry of a sparse payload (checked by the caller). */
template <class F>
inline void for_each_sparse(int kind, const unsigned char* payload, long long n, long long start, long long stride, F f) {
    unsigned int k;
    memcpy(&k, payload, sizeof k);
    if (kind == CODEC_TOPK) {
        for (long long j = 0; j < k; ++j) {
            unsigned int index;
            float value;
            memcpy(&index, payload + 8 + 4 * j, sizeof index);
            memcpy(&value, payload + 8 + 4 * (long long) k + 4 * j, sizeof value);
            f((long long) index, value);
        }
    } else {
        for (long long j = 0; j < k; ++j) {
            float value;
            memcpy(&value, payload + 8 + 4 * j, sizeof value);
            f(randomk_index(j, start, stride, n), value);
        }
    }
}

/**
 * The guarded loops run block by block. A block's gradients are decoded once, into a block on the stack, and
 * everything after reads that block: what was checked is what is applied, even when the payload is memory its sender
 * can still write (a worker's shared-memory ring). A block whose gradients are all finite (the usual case) takes the
 * unguarded step, which gives the same bits (finite.cuh) and vectorizes; only a block holding a gradient that is not
 * finite is stepped element by element under the guard.
 */
constexpr long long GUARD_BLOCK = 1024;

/**
 * block[0, count) = grad[begin, begin + count), the one read of a block's gradients; returns whether they are all
 * finite. The compiler barrier keeps the block from being optimized back into reads of the payload.
 */
template <class Gradient>
inline bool decode_block(float* block, Gradient grad, long long begin, long long count) {
    unsigned int bad = 0;
    for (long long i = 0; i < count; ++i) {
        const float v = grad[begin + i];
        bad |= finite_value(v) ? 0u : 1u;
        block[i] = v;
    }
    __asm__ __volatile__("" ::: "memory");
    return bad == 0;
}

/** acc += grad over finite gradients; returns how many were not finite (those elements stay as they were). */
template <class Gradient>
inline long long accumulate_guarded_loop(float* acc, Gradient grad, long long count) {
    long long non_finite = 0;
    float block[GUARD_BLOCK];
    for (long long b = 0; b < count; b += GUARD_BLOCK) {
        const long long m = std::min(GUARD_BLOCK, count - b);
        float* a = acc + b;
        if (decode_block(block, grad, b, m)) {
            for (long long i = 0; i < m; ++i) {
                gpups::accumulate(a[i], block[i]);
            }
        } else {
            for (long long i = 0; i < m; ++i) {
                non_finite += accumulate_guarded(a[i], block[i]);
            }
        }
    }
    return non_finite;
}

/**
 * acc += decode(payload), without inflating a dense copy. Decoded values that are not finite are counted and not
 * added: returns their count.
 */
inline long long decode_accumulate(int kind, const unsigned char* payload, long long n, long long start,
                                   long long stride, float* acc) {
    long long non_finite = 0;
    if (!with_dense_decoder(kind, payload, n, [&](auto grad, long long begin, long long end) {
            non_finite += accumulate_guarded_loop(acc + begin, grad, end - begin);
        })) {
        for_each_sparse(kind, payload, n, start, stride, [&](long long i, float v) {
            non_finite += accumulate_guarded(acc[i], v);
        });
    }
    return non_finite;
}

/**
 * The guarded optimizer step (finite.cuh) over n elements. optimizer is an id of the kind table (optimizers.cuh), h
 * its parameter struct field by field. Returns how many gradients were not finite.
 */
template <class Gradient>
inline long long apply_optimizer_guarded(int optimizer, float* p, float* s0, float* s1, Gradient grad, long long n,
                                         const float* h, int guard) {
    long long non_finite = 0;
    with_kind(optimizer, [&](auto kind) {
        using Kind = decltype(kind);
        const typename Kind::Params o = kind_params<Kind>(h);
        float block[GUARD_BLOCK];
        for (long long b = 0; b < n; b += GUARD_BLOCK) {
            const long long m = std::min(GUARD_BLOCK, n - b);
            float* bs0 = s0 == nullptr ? nullptr : s0 + b;
            float* bs1 = s1 == nullptr ? nullptr : s1 + b;
            if (decode_block(block, grad, b, m)) {
                for_each_state<Kind::slots>(m, p + b, bs0, bs1, [&](long long i, float& q, auto&... s) {
                    optimizer_step<Kind>(o, block[i], q, s...);
                });
            } else {
                for_each_state<Kind::slots>(m, p + b, bs0, bs1, [&](long long i, float& q, auto&... s) {
                    non_finite += optimizer_step_guarded<Kind>(o, guard, block[i], q, s...);
                });
            }
        }
    });
    return non_finite;
}

/**
 * One optimizer step with the gradient decoded from a payload. Dense codecs are decoded inside the
 * optimizer loop; sparse ones are scattered into scratch (n zeros, left zero again afterwards), since every
 * element gets a step (Adam's moments decay where the gradient is 0). Gradients that are not finite are counted
 * and handled as guard says (finite.cuh): returns their count.
 */
inline long long decode_apply(int kind, const unsigned char* payload, long long n, long long start, long long stride,
                              int optimizer, float* p, float* s0, float* s1, float* scratch, const float* h, int guard) {
    long long non_finite = 0;
    if (with_dense_decoder(kind, payload, n, [&](auto grad, long long begin, long long end) {
            non_finite += apply_optimizer_guarded(optimizer, p + begin, s0 == nullptr ? nullptr : s0 + begin,
                                                  s1 == nullptr ? nullptr : s1 + begin, grad, end - begin, h, guard);
        })) {
        return non_finite;
    }
    for_each_sparse(kind, payload, n, start, stride, [&](long long i, float v) { scratch[i] = v; });
    non_finite = apply_optimizer_guarded(optimizer, p, s0, s1, FloatGradient{scratch}, n, h, guard);
    for_each_sparse(kind, payload, n, start, stride, [&](long long i, float) { scratch[i] = 0.0f; });
    return non_finite;
}

// ---- embedding tables (gpups/tables.cuh) -----------------------------------------------------------
//
// A table is one HostTable: the slot arrays of tables.cuh's TableView, the values and the optimizer state, each
// from allocate_zeroed (huge pages from 2 MiB on). Entry points that take a slots array read count slot indices
// from it, checked by the Java side to lie in [0, slots); the restore helpers (table_write_*) skip negative slots,
// which are the ids findOrInsert had no room for.

struct HostTable {
    TableView view;
    long long slots;
    int dim;
    int optimizer;
    int state_slots;
    float* values;
    float* state[2];
    /** The spec's hyper-parameters in wire order (OptimizerSpec.hyperParameters()). */
    float hyper[GPUPS_OPTIMIZER_PARAMS_MAX];
    long long rows;
    long long evictions;
};

inline void table_free(HostTable* t) {
    if (t == nullptr) {
        return;
    }
    free(t->view.keys);
    free(t->view.last_touch);
    free(t->view.touches);
    free(t->view.steps);
    free(t->values);
    free(t->state[0]);
    free(t->state[1]);
    delete t;
}

/**
 * An empty table of slots (a multiple of TABLE_BUCKET_SLOTS) rows of dim floats, for the optimizer id (a row kind of
 * the kind table) with its hyper_count hyper-parameters, and an eviction id. Null when memory runs out.
 */
inline HostTable* table_create(long long slots, int dim, int optimizer, int eviction, const float* hyper,
                               int hyper_count) {
    HostTable* t = new (std::nothrow) HostTable();
    if (t == nullptr) {
        return nullptr;
    }
    int state_slots = -1;
    with_optimizer_kind(optimizer, [&](auto kind) { state_slots = decltype(kind)::slots; });
    if (state_slots < 0 || hyper_count > GPUPS_OPTIMIZER_PARAMS_MAX) {
        delete t;
        throw std::invalid_argument("table: unknown optimizer id " + std::to_string(optimizer));
    }
    t->slots = slots;
    t->dim = dim;
    t->optimizer = optimizer;
    t->state_slots = state_slots;
    t->view.buckets = slots / TABLE_BUCKET_SLOTS;
    t->view.eviction = eviction;
    memcpy(t->hyper, hyper, sizeof(float) * (size_t) hyper_count);
    const size_t n = (size_t) slots;
    const size_t elements = n * (size_t) dim;
    // The largest arrays first: allocate_zeroed writes what it gets, so a table that cannot be had fails before
    // pages of its smaller arrays are touched.
    t->values = static_cast<float*>(allocate_zeroed(elements * sizeof(float)));
    bool ok = t->values != nullptr;
    for (int k = 0; k < state_slots && ok; ++k) {
        t->state[k] = static_cast<float*>(allocate_zeroed(elements * sizeof(float)));
        ok = t->state[k] != nullptr;
    }
    if (ok) {
        t->view.keys = static_cast<u64*>(allocate_zeroed(n * sizeof(u64)));
        t->view.last_touch = static_cast<u64*>(allocate_zeroed(n * sizeof(u64)));
        t->view.touches = static_cast<unsigned int*>(allocate_zeroed(n * sizeof(unsigned int)));
        t->view.steps = static_cast<u64*>(allocate_zeroed(n * sizeof(u64)));
        ok = t->view.keys && t->view.last_touch && t->view.touches && t->view.steps;
    }
    if (!ok) {
        table_free(t);
        return nullptr;
    }
    memset(t->view.keys, 0xFF, n * sizeof(u64));  // every slot free
    return t;
}

inline long long table_rows(const HostTable* t) {
    return t->rows;
}

inline long long table_evictions(const HostTable* t) {
    return t->evictions;
}

/** RowIds.bucketOf as compiled, for the test that compares the two. */
inline long long table_bucket_of(long long id, long long buckets) {
    return bucket_of((u64) id, buckets);
}

/** The index of the first of count slots that holds no row, or -1 where every one holds a row. */
inline long long table_first_unused(const HostTable* t, const int* slots, long long count) {
    for (long long i = 0; i < count; ++i) {
        if (t->view.keys[slots[i]] == TABLE_EMPTY_KEY) {
            return i;
        }
    }
    return -1;
}

/** A born row in slot s: its counters (tables.cuh) and its optimizer state at the start value. */
inline void table_birth(HostTable* t, long long s, u64 clock) {
    birth_row(t->view, s, clock);
    const float start = state_start_value(t->optimizer, t->hyper);
    for (int k = 0; k < t->state_slots; ++k) {
        fill(t->state[k] + s * t->dim, start, t->dim);
    }
}

/**
 * RowTable.findOrInsert over count ids (u64, little-endian, at any address), in two passes, the same on every device:
 * first every id is looked up, a found row touched and a new id given the free slot where its lookup stopped; then
 * the ids that found no free slot take, in index order, the victim of their home bucket (lru, lfu). So a row this
 * call touches, found or born, is never evicted by it. Returns the evictions.
 */
inline long long table_find_or_insert(HostTable* t, const unsigned char* ids, int count, long long clock, int* slots,
                                      signed char* born) {
    const u64 now = (u64) clock;
    bool pending = false;
    for (int i = 0; i < count; ++i) {
        u64 id;
        memcpy(&id, ids + 8ll * i, sizeof id);
        long long free_slot;
        long long s = table_lookup(t->view, id, &free_slot);
        born[i] = 0;
        if (s >= 0) {
            touch_row(t->view, s, now);
        } else if (free_slot >= 0) {
            s = free_slot;
            t->view.keys[s] = id;
            table_birth(t, s, now);
            born[i] = 1;
            ++t->rows;
        } else {
            pending = true;
        }
        slots[i] = (int) s;
    }
    long long evicted = 0;
    for (int i = 0; pending && i < count; ++i) {
        if (slots[i] >= 0) {
            continue;
        }
        u64 id;
        memcpy(&id, ids + 8ll * i, sizeof id);
        const long long s = table_victim(t->view, id, now);
        if (s >= 0) {
            t->view.keys[s] = id;
            table_birth(t, s, now);
            born[i] = 1;
            ++evicted;
        }
        slots[i] = (int) s;
    }
    t->evictions += evicted;
    return evicted;
}

/** Sets the values of count rows from float32 (dim per row, any address); negative slots are skipped. */
inline void table_write_rows(HostTable* t, const int* slots, long long count, const unsigned char* values) {
    const long long row = 4ll * t->dim;
    for (long long i = 0; i < count; ++i) {
        if (slots[i] >= 0) {
            memcpy(t->values + (long long) slots[i] * t->dim, values + i * row, (size_t) row);
        }
    }
}

/** Rows ahead of the one being read whose memory is asked for (software prefetch): random rows are cache misses. */
constexpr long long TABLE_PREFETCH_ROWS = 8;

/** Asks for the cache lines of row slot's floats at base (dim per row), to be read soon; does nothing else. */
inline void prefetch_row(const float* base, long long slot, int dim) {
    const char* at = reinterpret_cast<const char*>(base + slot * dim);
    for (long long b = 0; b < 4ll * dim; b += 64) {
        __builtin_prefetch(at + b);
    }
}

/** Writes count rows into out as dtype (fp32, bf16, fp16), row after row. */
inline void table_gather_rows(const HostTable* t, const int* slots, long long count, int dtype, unsigned char* out) {
    const int dim = t->dim;
    const long long row = row_bytes(dtype, dim);
    if (dtype == ROW_FP32) {
        // The common case: each row is copied whole (little-endian float32 is the host's layout).
        for (long long i = 0; i < count; ++i) {
            if (i + TABLE_PREFETCH_ROWS < count) {
                prefetch_row(t->values, slots[i + TABLE_PREFETCH_ROWS], dim);
            }
            memcpy(out + i * row, t->values + (long long) slots[i] * dim, (size_t) row);
        }
        return;
    }
    for (long long i = 0; i < count; ++i) {
        const float* v = t->values + (long long) slots[i] * dim;
        unsigned char* o = out + i * row;
        for (int j = 0; j < dim; ++j) {
            encode_row_element(dtype, o, j, v[j]);
        }
    }
}

/**
 * One optimizer step on each of count rows (distinct slots), with gradients as count rows of dtype: the row's step
 * counts up, then every element takes the guarded step (finite.cuh) with the row's parameters at that step. Returns
 * how many gradient elements were not finite.
 */
inline long long table_apply_rows(HostTable* t, const int* slots, long long count, const unsigned char* grads,
                                  int dtype, float grad_scale, int guard) {
    long long non_finite = 0;
    const int dim = t->dim;
    const long long row = row_bytes(dtype, dim);
    // Each row's gradient is decoded once into a local row (a payload may be read only once: the check and the use
    // must see the same bytes), then a row whose gradients are all finite takes the unguarded step, which the compiler
    // vectorizes and which gives the same bits as the guarded one for finite gradients; a row with a non-finite
    // gradient takes the guarded step element by element.
    std::vector<float> decoded((size_t) dim);
    float* d = decoded.data();
    with_kind(t->optimizer, [&](auto kind) {
        using Kind = decltype(kind);
        for (long long i = 0; i < count; ++i) {
            const long long s = slots[i];
            if (i + TABLE_PREFETCH_ROWS < count) {
                const long long ahead = slots[i + TABLE_PREFETCH_ROWS];
                prefetch_row(t->values, ahead, dim);
                for (int k = 0; k < 2; ++k) {
                    if (t->state[k] != nullptr) {
                        prefetch_row(t->state[k], ahead, dim);
                    }
                }
            }
            const u64 step = ++t->view.steps[s];
            const typename Kind::Params h = row_params<Kind>(t->hyper, step, grad_scale);
            const unsigned char* g = grads + i * row;
            if (dtype == ROW_FP32) {
                memcpy(d, g, (size_t) row);
            } else {
                for (int j = 0; j < dim; ++j) {
                    d[j] = decode_row_element(dtype, g, j);
                }
            }
            bool all_finite = true;
            for (int j = 0; j < dim; ++j) {
                all_finite &= finite_value(d[j]);
            }
            float* p = t->values + s * dim;
            float* s0 = t->state[0] == nullptr ? nullptr : t->state[0] + s * dim;
            float* s1 = t->state[1] == nullptr ? nullptr : t->state[1] + s * dim;
            if (all_finite) {
                for_each_state<Kind::slots>(dim, p, s0, s1, [&](long long j, float& q, auto&... st) {
                    optimizer_step<Kind>(h, d[j], q, st...);
                });
            } else {
                for_each_state<Kind::slots>(dim, p, s0, s1, [&](long long j, float& q, auto&... st) {
                    non_finite += optimizer_step_guarded<Kind>(h, guard, d[j], q, st...);
                });
            }
        }
    });
    return non_finite;
}

/** Optimizer state slot state_slot of count rows into out, float32. */
inline void table_gather_state(const HostTable* t, int state_slot, const int* slots, long long count,
                               unsigned char* out) {
    const long long row = 4ll * t->dim;
    for (long long i = 0; i < count; ++i) {
        memcpy(out + i * row, t->state[state_slot] + (long long) slots[i] * t->dim, (size_t) row);
    }
}

/** Sets optimizer state slot state_slot of count rows from float32; negative slots are skipped. */
inline void table_write_state(HostTable* t, int state_slot, const int* slots, long long count,
                              const unsigned char* in) {
    const long long row = 4ll * t->dim;
    for (long long i = 0; i < count; ++i) {
        if (slots[i] >= 0) {
            memcpy(t->state[state_slot] + (long long) slots[i] * t->dim, in + i * row, (size_t) row);
        }
    }
}

/** Per row: step, last touch, touches into out[3i..3i+2]. */
inline void table_read_counters(const HostTable* t, const int* slots, long long count, long long* out) {
    for (long long i = 0; i < count; ++i) {
        const long long s = slots[i];
        out[3 * i] = (long long) t->view.steps[s];
        out[3 * i + 1] = (long long) t->view.last_touch[s];
        out[3 * i + 2] = (long long) t->view.touches[s];
    }
}

/** Sets the counters of count rows from in[3i..3i+2] as table_read_counters gives them; negative slots are skipped. */
inline void table_write_counters(HostTable* t, const int* slots, long long count, const long long* in) {
    for (long long i = 0; i < count; ++i) {
        const long long s = slots[i];
        if (s >= 0) {
            t->view.steps[s] = (u64) in[3 * i];
            t->view.last_touch[s] = (u64) in[3 * i + 1];
            t->view.touches[s] = (unsigned int) in[3 * i + 2];
        }
    }
}

/** Up to max stored rows in slot order from from_slot: their ids and slots. Returns how many. */
inline int table_list_rows(const HostTable* t, long long from_slot, int max, long long* ids, int* slots) {
    int n = 0;
    for (long long s = from_slot; s < t->slots && n < max; ++s) {
        const u64 k = t->view.keys[s];
        if (k != TABLE_EMPTY_KEY) {
            ids[n] = (long long) k;
            slots[n] = (int) s;
            ++n;
        }
    }
    return n;
}

// ---- worker math --------------------------------------------------------------------------------

inline void add_bias(float* x, const float* bias, int rows, int cols) {
    for (int r = 0; r < rows; ++r) {
        float* row = x + (long long) r * cols;
        for (int c = 0; c < cols; ++c) {
            row[c] += bias[c];
        }
    }
}

inline void relu(float* x, long long count) {
    for (long long i = 0; i < count; ++i) {
        x[i] = gpups::relu(x[i]);
    }
}

inline void relu_backward(float* grad, const float* activation, long long count) {
    for (long long i = 0; i < count; ++i) {
        grad[i] = gpups::relu_backward(grad[i], activation[i]);
    }
}

/** Row by row, so the inner loop runs over contiguous columns and vectorizes. */
inline void column_sums(const float* x, int rows, int cols, float* out) {
    for (int c = 0; c < cols; ++c) {
        out[c] = 0.0f;
    }
    for (int r = 0; r < rows; ++r) {
        const float* row = x + (long long) r * cols;
        for (int c = 0; c < cols; ++c) {
            out[c] += row[c];
        }
    }
}

inline int checked_label(const float* labels, int row, int cols) {
    const int label = label_index(labels[row], cols);
    if (label < 0) {
        throw std::invalid_argument("label " + std::to_string(labels[row]) + " of row " + std::to_string(row)
                                    + " is not a class index in [0, " + std::to_string(cols) + ")");
    }
    return label;
}

/**
 * Mean softmax cross-entropy over the rows; the gradient (softmax - onehot) / rows goes to grad.
 * Row losses are summed in double so the mean does not lose digits over large batches. All labels
 * are checked before anything is written.
 */
inline float softmax_xent(const float* logits, const float* labels, int rows, int cols, float* grad) {
    for (int r = 0; r < rows; ++r) {
        checked_label(labels, r, cols);
    }
    const float inv_rows = 1.0f / (float) rows;
    double loss_sum = 0.0;
    for (int r = 0; r < rows; ++r) {
        const long long offset = (long long) r * cols;
        loss_sum += softmax_xent_row(logits + offset, cols, label_index(labels[r], cols), inv_rows, grad + offset);
    }
    return (float) (loss_sum / rows);
}

/** Rows whose first arg-max equals the label; an invalid label never counts as correct. */
inline int count_correct(const float* logits, const float* labels, int rows, int cols) {
    int correct = 0;
    for (int r = 0; r < rows; ++r) {
        if (row_argmax(logits + (long long) r * cols, cols) == label_index(labels[r], cols)) {
            ++correct;
        }
    }
    return correct;
}

}  // namespace cpu
}  // namespace gpups

#endif  // GPUPS_CPU_H
