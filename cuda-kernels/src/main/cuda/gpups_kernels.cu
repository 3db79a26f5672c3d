// The CUDA kernels of gpups: thin grid-stride wrappers around the element functions in include/gpups.
// All math lives in those headers (shared with the CPU device); a kernel here only maps threads to
// elements. Names are extern "C" and stable: the CUDA device loads them by name from the fatbin
// (see io.gpups.cuda.KernelNames). Counts are 64-bit so one launch can cover any buffer; launch any
// grid size, every kernel loops until it has covered its range.
#include "gpups/codecs.cuh"
#include "gpups/common.cuh"
#include "gpups/elementwise.cuh"
#include "gpups/finite.cuh"
#include "gpups/nn.cuh"
#include "gpups/optimizers.cuh"
#include "gpups/tables.cuh"

#define GPUPS_GRID_STRIDE(i, n) \
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long) blockDim.x * gridDim.x)

// ---- element-wise loops: float4 where every operand allows it ---------------------------------
//
// An element-wise kernel lists its operands and passes a step that takes one element of each: a float& for a
// float* operand (read, then written back), a float for a const float* or a payload decoder (read only). The step
// calls the header function, so the float4 path and the scalar path run the same math: the float4 path loads four
// consecutive elements of every operand with one 16-byte load (a fp16/bf16 payload: one 8-byte load), calls the
// step four times and stores the written operands with one 16-byte store each.
//
// The choice is made in the kernel, once per launch (the test is uniform across threads): float4 when every
// pointer operand is 16-byte aligned. Buffers start 256-byte aligned (cuMemAlloc) and payloads start the payload
// scratch or, in a batch, a 16-byte aligned offset of it, so the server's kernels always take the float4 path; an
// operand at an odd element offset (the worker's encode of a slice of a flat gradient) takes the scalar loop.
// Either way the elements past the last whole quad, n % 4 of them, are done by the scalar loop.

namespace {

__device__ __forceinline__ bool quad_aligned(const float* x) {
    return (reinterpret_cast<unsigned long long>(x) & 15u) == 0;
}

__device__ __forceinline__ bool quad_aligned(float* x) {
    return quad_aligned(static_cast<const float*>(x));
}

/** A payload decoder: its payload starts 16-byte aligned (device_payload below). */
template <class Decoder>
__device__ __forceinline__ bool quad_aligned(const Decoder&) {
    return true;
}

/** Elements 4q .. 4q+3 of an operand. */
__device__ __forceinline__ float4 load_quad(const float* x, long long q) {
    return reinterpret_cast<const float4*>(x)[q];
}

__device__ __forceinline__ float4 load_quad(float* x, long long q) {
    return load_quad(static_cast<const float*>(x), q);
}

__device__ __forceinline__ float4 load_quad(gpups::F32Payload d, long long q) {
    return reinterpret_cast<const float4*>(d.bytes)[q];
}

__device__ __forceinline__ float4 load_quad(gpups::Fp16Payload d, long long q) {
    const uint2 w = reinterpret_cast<const uint2*>(d.bytes)[q];  // little-endian: element 4q in w.x's low half
    return make_float4(gpups::half_to_float((unsigned short) (w.x & 0xffffu)), gpups::half_to_float((unsigned short) (w.x >> 16)),
                       gpups::half_to_float((unsigned short) (w.y & 0xffffu)), gpups::half_to_float((unsigned short) (w.y >> 16)));
}

__device__ __forceinline__ float4 load_quad(gpups::Bf16Payload d, long long q) {
    const uint2 w = reinterpret_cast<const uint2*>(d.bytes)[q];
    return make_float4(gpups::bf16_to_float((unsigned short) (w.x & 0xffffu)), gpups::bf16_to_float((unsigned short) (w.x >> 16)),
                       gpups::bf16_to_float((unsigned short) (w.y & 0xffffu)), gpups::bf16_to_float((unsigned short) (w.y >> 16)));
}

/** Any other decoder (int8, sign): element by element. */
template <class Decoder>
__device__ __forceinline__ float4 load_quad(const Decoder& d, long long q) {
    return make_float4(d[4 * q], d[4 * q + 1], d[4 * q + 2], d[4 * q + 3]);
}

__device__ __forceinline__ void store_quad(float* x, long long q, float4 v) {
    reinterpret_cast<float4*>(x)[q] = v;
}

/** A read-only operand is not written back. */
template <class ReadOnly>
__device__ __forceinline__ void store_quad(const ReadOnly&, long long, float4) {
}

/** step(x[i]...) for every i < n, over the grid (blockIdx.x, gridDim.x): float4 when aligned, then the scalar tail. */
template <class Step, class... Operand>
__device__ __forceinline__ void for_each_element(long long n, Step step, Operand... x) {
    long long scalar_from = 0;
    if ((quad_aligned(x) && ...)) {
        const long long quads = n / 4;
        GPUPS_GRID_STRIDE(q, quads) {
            [&](auto... v) {
                step(v.x...);
                step(v.y...);
                step(v.z...);
                step(v.w...);
                (store_quad(x, q, v), ...);
            }(load_quad(x, q)...);
        }
        scalar_from = 4 * quads;
    }
    for (long long i = scalar_from + (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long) blockDim.x * gridDim.x) {
        step(x[i]...);
    }
}

/**
 * The steps of the server's element-wise kernels, each one call of a header function: shared by the kernels over a
 * device gradient, the fused decode kernels and the batched kernel.
 */
struct AccumulateStep {
    __device__ __forceinline__ void operator()(float& acc, float g) const { gpups::accumulate(acc, g); }
};

/**
 * The operands of Kind's state, its parameters then its slots, handed to f: f(p), f(p, s0) or f(p, s0, s1). Slot
 * pointers past the kind's slot count are never touched (they may be null).
 */
template <class Kind, class F>
__device__ __forceinline__ void with_state(float* p, float* s0, float* s1, F f) {
    if constexpr (Kind::slots == 0) {
        f(p);
    } else if constexpr (Kind::slots == 1) {
        f(p, s0);
    } else {
        static_assert(Kind::slots == 2, "the kernels pass at most two state slots");
        f(p, s0, s1);
    }
}

/** Kind's unguarded step; operands: the gradient, then the state (with_state). */
template <class Kind>
struct OptimizerStep {
    typename Kind::Params h;
    template <class... Slot>
    __device__ __forceinline__ void operator()(float g, float& p, Slot&... s) const {
        gpups::optimizer_step<Kind>(h, g, p, s...);
    }
};

/**
 * for_each_element over a guarded step (one that returns 1 for a non-finite gradient): this thread's count of
 * non-finite gradients, summed in a register as the elements go by, on the float4 path and the scalar tail alike.
 */
template <class Step, class... Operand>
__device__ __forceinline__ unsigned long long for_each_element_counted(long long n, Step step, Operand... x) {
    unsigned long long non_finite = 0;
    for_each_element(n, [&](auto&&... v) { non_finite += (unsigned long long) step(v...); }, x...);
    return non_finite;
}

/**
 * Adds a thread's count to the launch's counter in device memory. Only threads that saw a non-finite gradient
 * touch it, so a finite push costs no atomic at all.
 */
__device__ __forceinline__ void add_non_finite(unsigned long long* counter, unsigned long long count) {
    if (count != 0) {
        atomicAdd(counter, count);
    }
}

// The guarded steps of the fused decode kernels (finite.cuh): each returns 1 when its gradient is not finite.

struct GuardedAccumulateStep {
    __device__ __forceinline__ int operator()(float& acc, float g) const { return gpups::accumulate_guarded(acc, g); }
};

/** Kind's guarded step (finite.cuh); operands: the gradient, then the state (with_state). */
template <class Kind>
struct GuardedOptimizerStep {
    typename Kind::Params h;
    int guard;
    template <class... Slot>
    __device__ __forceinline__ int operator()(float g, float& p, Slot&... s) const {
        return gpups::optimizer_step_guarded<Kind>(h, guard, g, p, s...);
    }
};

}  // namespace

// ---- server math ----------------------------------------------------------------------------

extern "C" __global__ void gpups_fill(float* x, float value, long long n) {
    for_each_element(n, [value](float& xi) { xi = value; }, x);
}

extern "C" __global__ void gpups_accumulate(float* acc, const float* grad, long long n) {
    for_each_element(n, AccumulateStep{}, acc, grad);
}

extern "C" __global__ void gpups_scale(float* x, float alpha, long long n) {
    for_each_element(n, [alpha](float& xi) { gpups::scale(xi, alpha); }, x);
}

/**
 * One unguarded step of the optimizer with id kind (the kind table, optimizers.cuh) over a gradient in device memory:
 * h holds its parameter struct, padded; s0 and s1 are its slots (null past its slot count). An id outside the table
 * does nothing (the host never sends one).
 */
extern "C" __global__ void gpups_optimizer(int kind, float* p, float* s0, float* s1, const float* grad, long long n,
                                           gpups::OptimizerParams h) {
    gpups::with_optimizer_kind(kind, [&](auto k) {
        using Kind = decltype(k);
        const OptimizerStep<Kind> step{gpups::kind_params<Kind>(h.values)};
        with_state<Kind>(p, s0, s1, [&](auto... state) { for_each_element(n, step, grad, state...); });
    });
}

// ---- gradient codecs ------------------------------------------------------------------------
//
// Payloads on the device always start a scratch buffer of the CUDA device (cuMemAlloc: 256-byte aligned), so the
// kernels tell the compiler so: the memcpy reads of the codecs.cuh functors then become 2- and 4-byte loads
// instead of byte loads (their alignment follows from the base's: scales and sign words at multiples of 4, halves
// at multiples of 2).
//
// Decoding (shard). A dense codec is decoded inside the loop that consumes it: one kernel per consumer
// (accumulate, or one optimizer), with a switch on the codec id *outside* the grid-stride loop, so each case is a
// loop specialized for its decoder and no element branches on the codec. Every optimizer x five dense codecs as
// separate extern "C" kernels would be dozens of names for the same thing; the switch costs only the register count
// of the largest case, which ptxas reports (and -warn-spills guards). Sparse codecs scatter their k entries.

#define GPUPS_FULL_WARP 0xffffffffu

namespace {

__device__ __forceinline__ const unsigned char* device_payload(const unsigned char* payload) {
    return static_cast<const unsigned char*>(__builtin_assume_aligned(payload, 16));
}

/** Calls f(decoder) with the dense decoder of a payload in device memory; sparse or unknown ids do nothing. */
template <class F>
__device__ __forceinline__ void with_dense_decoder(int codec, const unsigned char* payload, long long n, F f) {
    const unsigned char* p = device_payload(payload);
    const long long scale_bytes = 4 * ((n + GPUPS_CODEC_BLOCK - 1) / GPUPS_CODEC_BLOCK);
    switch (codec) {
        case gpups::CODEC_ID_NONE: f(gpups::F32Payload{p}); break;
        case gpups::CODEC_ID_FP16: f(gpups::Fp16Payload{p}); break;
        case gpups::CODEC_ID_BF16: f(gpups::Bf16Payload{p}); break;
        case gpups::CODEC_ID_INT8:
            f(gpups::Int8Payload{p, reinterpret_cast<const signed char*>(p + scale_bytes)});
            break;
        case gpups::CODEC_ID_SIGN: f(gpups::SignPayload{p, p + scale_bytes}); break;
        default: break;
    }
}

/** What gpups_sparse_scatter does at each entry's index. */
enum ScatterMode { SCATTER_ADD = 0, SCATTER_STORE = 1, SCATTER_CLEAR = 2 };

/** This thread's share of a scatter; returns how many of the values it added were not finite (SCATTER_ADD only). */
template <class Sparse>
__device__ __forceinline__ unsigned long long scatter_loop(float* dst, Sparse entries, long long n, long long k,
                                                           int mode) {
    unsigned long long non_finite = 0;
    GPUPS_GRID_STRIDE(j, k) {
        const long long i = entries.index(j);
        if (i >= n) {
            continue;  // a checked payload has none; never write outside the chunk
        }
        if (mode == SCATTER_ADD) {
            non_finite += (unsigned long long) gpups::accumulate_guarded(dst[i], entries.value(j));
        } else {
            dst[i] = mode == SCATTER_STORE ? entries.value(j) : 0.0f;
        }
    }
    return non_finite;
}

/**
 * op-reduction of v over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
 * Butterfly shuffles in each warp, then the warp partials in warp order: a fixed order, so a float sum is the
 * same on every run (not the CPU's sequential order: see gpups_encode_sign).
 */
template <class Op>
__device__ __forceinline__ float block_reduce(float v, Op op) {
    __shared__ float partial[32];
    for (int offset = 16; offset > 0; offset >>= 1) {
        v = op(v, __shfl_xor_sync(GPUPS_FULL_WARP, v, offset));
    }
    __syncthreads();  // the previous call's readers are done with partial
    if (threadIdx.x % 32 == 0) {
        partial[threadIdx.x / 32] = v;
    }
    __syncthreads();
    float total = partial[0];
    for (unsigned int w = 1; w < blockDim.x / 32; ++w) {
        total = op(total, partial[w]);
    }
    return total;
}

__device__ __forceinline__ unsigned int block_sum(unsigned int v) {
    __shared__ unsigned int partial[32];
    for (int offset = 16; offset > 0; offset >>= 1) {
        v += __shfl_xor_sync(GPUPS_FULL_WARP, v, offset);
    }
    __syncthreads();
    if (threadIdx.x % 32 == 0) {
        partial[threadIdx.x / 32] = v;
    }
    __syncthreads();
    unsigned int total = 0;
    for (unsigned int w = 0; w < blockDim.x / 32; ++w) {
        total += partial[w];
    }
    return total;
}

struct MaxOp {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

struct SumOp {
    __device__ float operator()(float a, float b) const { return a + b; }
};

}  // namespace

/**
 * acc += decode(payload) for a dense codec (none, fp16, bf16, int8, sign), where the decoded value is finite; the
 * others are counted into *non_finite (zeroed by the host before the launch) and leave acc as it was.
 */
extern "C" __global__ void gpups_decode_accumulate(float* acc, const unsigned char* payload, long long n, int codec,
                                                   unsigned long long* non_finite) {
    with_dense_decoder(codec, payload, n, [&](auto grad) {
        add_non_finite(non_finite, for_each_element_counted(n, GuardedAccumulateStep{}, acc, grad));
    });
}

/**
 * The k entries of a sparse payload (topk or randomk) into dst: added (decode-accumulate: finite values only, the
 * others counted into *non_finite), stored as sent (into zeros, for decode-and-apply, whose guarded kernel counts
 * and guards them) or cleared (the zeros restored). Entries of one payload have distinct indices (top-k's are
 * strictly ascending, randomk's stride is coprime to n), so no two threads touch one element.
 */
extern "C" __global__ void gpups_sparse_scatter(float* dst, const unsigned char* payload, long long n, int codec,
                                                long long k, long long start, long long stride, int mode,
                                                unsigned long long* non_finite) {
    const unsigned char* p = device_payload(payload);
    unsigned long long count = 0;
    if (codec == gpups::CODEC_ID_TOPK) {
        count = scatter_loop(dst, gpups::TopkPayload{p, k}, n, k, mode);
    } else {
        count = scatter_loop(dst, gpups::RandomkPayload{p, start, stride, n}, n, k, mode);
    }
    add_non_finite(non_finite, count);
}

// Fused decode-and-apply: the optimizer step with element i's gradient decoded from the payload in registers,
// guarded (finite.cuh: guard is a GUARD_* id), non-finite gradients counted into *non_finite (zeroed by the host).
// One kernel for every kind of the kind table: the switch on the kind, like the one on the codec, is outside the
// grid-stride loop, so each (kind, codec) case is a loop of its own and the kernel's registers are those of its
// largest case.

extern "C" __global__ void gpups_decode_optimizer(int kind, float* p, float* s0, float* s1,
                                                  const unsigned char* payload, long long n, int codec,
                                                  gpups::OptimizerParams h, int guard,
                                                  unsigned long long* non_finite) {
    gpups::with_optimizer_kind(kind, [&](auto k) {
        using Kind = decltype(k);
        const GuardedOptimizerStep<Kind> step{gpups::kind_params<Kind>(h.values), guard};
        with_dense_decoder(codec, payload, n, [&](auto grad) {
            with_state<Kind>(p, s0, s1, [&](auto... state) {
                add_non_finite(non_finite, for_each_element_counted(n, step, grad, state...));
            });
        });
    });
}

// ---- batched updates: one launch for many chunks ------------------------------------------------
//
// Queued pushes of float32 gradients (codec none) to many chunks, applied in one launch. The host uploads a table of
// entries and the gradients behind it in one copy; block row blockIdx.y takes entry blockIdx.y, and that row's
// gridDim.x blocks run the entry's element loop: the same for_each_element over the same steps as the one-chunk
// kernels, so a batched update is bit for bit the one-chunk update. An entry's kind is uniform across its blocks, so
// the switch costs no divergence, only the register count of its largest case. The entries of one launch touch
// distinct buffers (the host splits a batch into such waves), so no two blocks write one element.

/**
 * One entry of a batch table as CudaDevice writes it (io.gpups.cuda.BatchEntryLayout, which names these offsets; the
 * host kernel tier compares the two): 80 bytes, little-endian.
 *
 *   0      8      16     24        32  40   44    48                       80
 *   +------+------+------+---------+---+----+-----+------------------------+
 *   |param |slot0 |slot1 |gradient | n |kind|guard| params (8 x f32)       |
 *   +------+------+------+---------+---+----+-----+------------------------+
 */
struct BatchEntry {
    float* param;        // the parameters, or the accumulator
    float* slot0;        // the optimizer's state slots in the kind's order; null where it has fewer
    float* slot1;
    long long gradient;  // byte offset of the entry's n x f32 gradient from the payload base, a multiple of 16
    long long n;
    int kind;            // an optimizer's id (the kind table, optimizers.cuh), or BATCH_ACCUMULATE
    int guard;           // what an optimizer step does with a non-finite gradient (finite.cuh, GUARD_*)
    gpups::OptimizerParams params;  // the optimizer's parameter struct, padded (KernelParameters)
};
static_assert(sizeof(BatchEntry) == 80, "CudaDevice writes 80-byte batch entries");

/** BatchEntry.kind of an accumulation: no optimizer's id. */
#define GPUPS_BATCH_ACCUMULATE (-1)

/**
 * Entry blockIdx.y of the table, with the guarded steps of the one-chunk decode kernels (codec none); its count of
 * non-finite gradients goes to non_finite[blockIdx.y] (one counter per entry, zeroed by the host).
 */
extern "C" __global__ void gpups_batch_update(const BatchEntry* table, const unsigned char* payloads,
                                              unsigned long long* non_finite) {
    const BatchEntry e = table[blockIdx.y];
    const float* g = reinterpret_cast<const float*>(payloads + e.gradient);
    unsigned long long* counter = non_finite + blockIdx.y;
    if (e.kind == GPUPS_BATCH_ACCUMULATE) {
        add_non_finite(counter, for_each_element_counted(e.n, GuardedAccumulateStep{}, e.param, g));
        return;
    }
    gpups::with_optimizer_kind(e.kind, [&](auto k) {
        using Kind = decltype(k);
        const GuardedOptimizerStep<Kind> step{gpups::kind_params<Kind>(e.params.values), e.guard};
        with_state<Kind>(e.param, e.slot0, e.slot1, [&](auto... state) {
            add_non_finite(counter, for_each_element_counted(e.n, step, g, state...));
        });
    });
}

// Encoding (worker), into a device scratch that the host copies back. With error feedback, a = g + r is formed in
// registers and r keeps a - decoded(a), written in the same kernel that encodes.

extern "C" __global__ void gpups_encode_fp16(const float* g, long long n, unsigned short* out) {
    GPUPS_GRID_STRIDE(i, n) { out[i] = gpups::float_to_half(g[i]); }
}

extern "C" __global__ void gpups_encode_bf16(const float* g, long long n, unsigned short* out) {
    GPUPS_GRID_STRIDE(i, n) { out[i] = gpups::float_to_bf16(g[i]); }
}

/**
 * int8 with error feedback. Launch with exactly GPUPS_CODEC_BLOCK threads per block: block b of the grid encodes
 * codec blocks b, b + gridDim.x, ..., thread t element t of each. absmax is a max, so the scale does not depend on
 * the reduction order: the payload is the CPU device's byte for byte. The residual a - q*scale may be one fused
 * multiply-add here (nvcc contracts it), two roundings on the CPU: it can differ in its last bit.
 */
extern "C" __global__ void gpups_encode_int8(const float* g, float* r, long long n, unsigned char* out) {
    const long long blocks = (n + GPUPS_CODEC_BLOCK - 1) / GPUPS_CODEC_BLOCK;
    float* scales = reinterpret_cast<float*>(out);
    signed char* q = reinterpret_cast<signed char*>(out + 4 * blocks);
    for (long long b = blockIdx.x; b < blocks; b += gridDim.x) {
        const long long i = b * GPUPS_CODEC_BLOCK + threadIdx.x;
        float a = 0.0f;
        if (i < n) {
            a = r[i];
            gpups::accumulate(a, g[i]);
        }
        const float scale = gpups::int8_scale(block_reduce(fabsf(a), MaxOp{}));
        if (threadIdx.x == 0) {
            scales[b] = scale;
        }
        if (i < n) {
            const signed char qi = gpups::int8_quantize(a, scale);
            q[i] = qi;
            r[i] = a - gpups::int8_dequantize(qi, scale);
        }
    }
}

/**
 * Scaled sign with error feedback; launch as gpups_encode_int8. Each warp's 32 elements are one sign word (a block
 * starts at a multiple of 256), packed with a ballot. The scale is a tree sum of |a| (block_reduce), which may
 * differ from the CPU's sequential sum in the last bits; the sign words are the CPU's exactly.
 */
extern "C" __global__ void gpups_encode_sign(const float* g, float* r, long long n, unsigned char* out) {
    const long long blocks = (n + GPUPS_CODEC_BLOCK - 1) / GPUPS_CODEC_BLOCK;
    float* scales = reinterpret_cast<float*>(out);
    unsigned int* words = reinterpret_cast<unsigned int*>(out + 4 * blocks);
    for (long long b = blockIdx.x; b < blocks; b += gridDim.x) {
        const long long begin = b * GPUPS_CODEC_BLOCK;
        const long long i = begin + threadIdx.x;
        float a = 0.0f;
        if (i < n) {
            a = r[i];
            gpups::accumulate(a, g[i]);
        }
        const long long count = (n - begin < GPUPS_CODEC_BLOCK) ? n - begin : GPUPS_CODEC_BLOCK;
        const float scale = gpups::sign_scale(block_reduce(fabsf(a), SumOp{}), count);
        if (threadIdx.x == 0) {
            scales[b] = scale;
        }
        const unsigned int bit = i < n ? gpups::sign_bit(a) : 0u;
        const unsigned int word = __ballot_sync(GPUPS_FULL_WARP, bit != 0u);
        if (threadIdx.x % 32 == 0 && i < n) {
            words[i / 32] = word;
        }
        if (i < n) {
            r[i] = a - gpups::sign_decode(bit, 0, scale);
        }
    }
}

/**
 * randomk, after a = r += g (gpups_accumulate): entry j is a at the seeded index j, which leaves the residual.
 * out: u32 k | u32 0 | k x f32.
 */
extern "C" __global__ void gpups_encode_randomk(float* a, long long n, long long k, long long start, long long stride,
                                                unsigned char* out) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        unsigned int* header = reinterpret_cast<unsigned int*>(out);
        header[0] = (unsigned int) k;
        header[1] = 0u;
    }
    float* values = reinterpret_cast<float*>(out + GPUPS_SPARSE_HEADER);
    GPUPS_GRID_STRIDE(j, k) {
        const long long i = gpups::randomk_index(j, start, stride, n);
        values[j] = a[i];
        a[i] = 0.0f;
    }
}

// top-k, DGC-style, after a = r += g (gpups_accumulate): sample |a| (gpups_topk_sample), pick a threshold from the
// sample on the host, count the elements that pass it (gpups_topk_count), adjust and recount as the host decides,
// then compact (gpups_topk_compact). Count and compaction split the chunk the same way: block b owns the contiguous
// elements [b, b + 1) x tiles_per_block x blockDim.x, so block b's survivors follow those of blocks 0..b-1 and an
// order-preserving scan inside the block writes the indices strictly ascending with no sort; the first `limit`
// survivors are sent, exactly the CPU device's choice.

/** sample[j] = |a| (NaN as 0) at gpups::topk_sample_index(j, n, m), for j < m. */
extern "C" __global__ void gpups_topk_sample(const float* a, long long n, long long m, float* sample) {
    GPUPS_GRID_STRIDE(j, m) { sample[j] = gpups::topk_sample_magnitude(a[gpups::topk_sample_index(j, n, m)]); }
}

/** block_counts[b] = the number of elements of block b's range that top-k selects at this threshold. */
extern "C" __global__ void gpups_topk_count(const float* a, long long n, float threshold, long long tiles_per_block,
                                            unsigned int* block_counts) {
    const long long begin = (long long) blockIdx.x * tiles_per_block * blockDim.x;
    const long long end = begin + tiles_per_block * blockDim.x < n ? begin + tiles_per_block * blockDim.x : n;
    unsigned int count = 0;
    for (long long i = begin + threadIdx.x; i < end; i += blockDim.x) {
        count += gpups::topk_selected(fabsf(a[i]), threshold) ? 1u : 0u;
    }
    count = block_sum(count);
    if (threadIdx.x == 0) {
        block_counts[blockIdx.x] = count;
    }
}

/**
 * Writes the first `limit` selected elements (in index order) to out = u32 limit | u32 0 | limit x u32 index |
 * limit x f32 value, and clears them from a. block_counts are gpups_topk_count's at the same threshold and shape;
 * block b starts at the sum of those before it.
 */
extern "C" __global__ void gpups_topk_compact(float* a, long long n, float threshold, long long tiles_per_block,
                                              const unsigned int* block_counts, unsigned int limit,
                                              unsigned char* out) {
    __shared__ unsigned int warp_counts[32];
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        unsigned int* header = reinterpret_cast<unsigned int*>(out);
        header[0] = limit;
        header[1] = 0u;
    }
    unsigned int* indices = reinterpret_cast<unsigned int*>(out + GPUPS_SPARSE_HEADER);
    float* values = reinterpret_cast<float*>(out + GPUPS_SPARSE_HEADER + 4 * (long long) limit);
    unsigned int before = 0;
    for (unsigned int b = threadIdx.x; b < blockIdx.x; b += blockDim.x) {
        before += block_counts[b];
    }
    unsigned long long base = block_sum(before);
    const long long begin = (long long) blockIdx.x * tiles_per_block * blockDim.x;
    const long long end = begin + tiles_per_block * blockDim.x < n ? begin + tiles_per_block * blockDim.x : n;
    const unsigned int lane = threadIdx.x % 32;
    const unsigned int warp = threadIdx.x / 32;
    // Every thread runs every tile (the trip count is the block's), so the ballots see full warps.
    for (long long tile = begin; tile < end && base < limit; tile += blockDim.x) {
        const long long i = tile + threadIdx.x;
        const float value = i < end ? a[i] : 0.0f;
        const bool selected = i < end && gpups::topk_selected(fabsf(value), threshold);
        const unsigned int ballot = __ballot_sync(GPUPS_FULL_WARP, selected);
        if (lane == 0) {
            warp_counts[warp] = __popc(ballot);
        }
        __syncthreads();
        unsigned int in_tile = 0;
        unsigned int tile_total = 0;
        for (unsigned int w = 0; w < blockDim.x / 32; ++w) {
            in_tile += w < warp ? warp_counts[w] : 0u;
            tile_total += warp_counts[w];
        }
        const unsigned long long position = base + in_tile + __popc(ballot & ((1u << lane) - 1u));
        if (selected && position < limit) {
            indices[position] = (unsigned int) i;
            values[position] = value;
            a[i] = 0.0f;
        }
        base += tile_total;
        __syncthreads();  // warp_counts is rewritten by the next tile
    }
}

// ---- embedding tables (gpups/tables.cuh) -------------------------------------------------------------------
//
// A table is passed as its arrays (tables.cuh, TableView): u64 keys, u64 last-touch clocks, u32 touches, u64 steps,
// and values and optimizer state as slots x dim floats. findOrInsert is three launches: gpups_table_find (a thread per
// id: lookups, touches, and free slots claimed with a 64-bit atomicCAS), gpups_table_evict (one thread: the ids that
// found no free slot take their bucket's victims, in index order, as the CPU device's second pass), then
// gpups_table_reset_state for the born rows' optimizer state. Ids are unique within a call, so no two threads of a
// launch touch one row's counters. Which of several new ids of one bucket gets which free slot depends on the order
// in which their threads claim; everything else is as on the CPU device.

/** A slot index of gpups_table_find's output: the id found no free slot, gpups_table_evict decides. */
#define GPUPS_TABLE_PENDING (-2)

namespace {

/**
 * The lookup of id as table_lookup (tables.cuh) does it, claiming the free slot where it stops with atomicCAS.
 * A claim lost to another thread's id moves on to the next slot: the bucket's taken slots stay a prefix, and id is
 * not stored past a slot that was free when this call began. Returns id's slot (*claimed: whether this thread took it
 * now), or -1 where every visited bucket is full.
 */
__device__ long long table_find_or_claim(const gpups::TableView& t, unsigned long long id, bool* claimed) {
    const long long home = gpups::bucket_of(id, t.buckets);
    const long long probes = gpups::probe_buckets(t);
    *claimed = false;
    for (long long p = 0; p < probes; ++p) {
        long long b = home + p;
        b = b >= t.buckets ? b - t.buckets : b;
        for (long long j = 0; j < gpups::TABLE_BUCKET_SLOTS; ++j) {
            const long long s = b * gpups::TABLE_BUCKET_SLOTS + j;
            unsigned long long k = *reinterpret_cast<volatile unsigned long long*>(t.keys + s);
            if (k == gpups::TABLE_EMPTY_KEY) {
                k = atomicCAS(t.keys + s, gpups::TABLE_EMPTY_KEY, id);
                if (k == gpups::TABLE_EMPTY_KEY) {
                    *claimed = true;
                    return s;
                }
            }
            if (k == id) {
                return s;
            }
        }
    }
    return -1;
}

}  // namespace

/**
 * The first pass of findOrInsert over count ids: slots[i] is id i's slot, -1 where it has no room (eviction none),
 * or GPUPS_TABLE_PENDING where its home bucket is full (lru, lfu); born[i] is 1 for a slot claimed now. Found rows
 * are touched, claimed rows get a born row's counters; *rows_added counts the claims.
 */
extern "C" __global__ void gpups_table_find(unsigned long long* keys, unsigned long long* last_touch,
                                            unsigned int* touches, unsigned long long* steps, long long buckets,
                                            int eviction, const unsigned long long* ids, long long count,
                                            unsigned long long clock, int* slots, signed char* born,
                                            unsigned long long* rows_added) {
    const gpups::TableView t{keys, last_touch, touches, steps, buckets, eviction};
    unsigned long long added = 0;
    GPUPS_GRID_STRIDE(i, count) {
        bool claimed;
        const long long s = table_find_or_claim(t, ids[i], &claimed);
        if (claimed) {
            gpups::birth_row(t, s, clock);
            ++added;
        } else if (s >= 0) {
            gpups::touch_row(t, s, clock);
        }
        slots[i] = s >= 0 ? (int) s : (eviction == gpups::EVICTION_NONE ? -1 : GPUPS_TABLE_PENDING);
        born[i] = claimed ? 1 : 0;
    }
    if (added != 0) {
        atomicAdd(rows_added, added);
    }
}

/**
 * The second pass, on one thread (launch 1 x 1): each pending id, in index order, takes the slot of its home bucket's
 * victim (table_victim: never a row touched at clock, so none this call found or gave a slot), or -1. *evicted
 * counts the replacements.
 */
extern "C" __global__ void gpups_table_evict(unsigned long long* keys, unsigned long long* last_touch,
                                             unsigned int* touches, unsigned long long* steps, long long buckets,
                                             int eviction, const unsigned long long* ids, long long count,
                                             unsigned long long clock, int* slots, signed char* born,
                                             unsigned long long* evicted) {
    if (blockIdx.x != 0 || threadIdx.x != 0) {
        return;
    }
    const gpups::TableView t{keys, last_touch, touches, steps, buckets, eviction};
    unsigned long long replaced = 0;
    for (long long i = 0; i < count; ++i) {
        if (slots[i] != GPUPS_TABLE_PENDING) {
            continue;
        }
        const long long s = gpups::table_victim(t, ids[i], clock);
        if (s >= 0) {
            keys[s] = ids[i];
            gpups::birth_row(t, s, clock);
            born[i] = 1;
            ++replaced;
        }
        slots[i] = (int) s;
    }
    *evicted += replaced;
}

/** The optimizer state of the rows born in this call (born[i] == 1) at its start value; s1 may be null. */
extern "C" __global__ void gpups_table_reset_state(float* s0, float* s1, int dim, const int* slots,
                                                   const signed char* born, long long count, float start) {
    GPUPS_GRID_STRIDE(e, count * dim) {
        const long long i = e / dim;
        if (born[i] == 1) {
            const long long at = (long long) slots[i] * dim + e % dim;
            s0[at] = start;
            if (s1 != nullptr) {
                s1[at] = start;
            }
        }
    }
}

/** count rows of float32 from src into dst (values or a state slot) at their slots; negative slots are skipped. */
extern "C" __global__ void gpups_table_write_rows(float* dst, int dim, const int* slots, long long count,
                                                  const float* src) {
    GPUPS_GRID_STRIDE(e, count * dim) {
        const long long s = slots[e / dim];
        if (s >= 0) {
            dst[s * dim + e % dim] = src[e];
        }
    }
}

/** count rows of src (values or a state slot) into out as dtype (fp32, bf16, fp16), row after row. */
extern "C" __global__ void gpups_table_gather_rows(const float* src, int dim, const int* slots, long long count,
                                                   int dtype, unsigned char* out) {
    const long long row = gpups::row_bytes(dtype, dim);
    GPUPS_GRID_STRIDE(e, count * dim) {
        const long long i = e / dim;
        const int j = (int) (e % dim);
        gpups::encode_row_element(dtype, out + i * row, j, src[(long long) slots[i] * dim + j]);
    }
}

/**
 * One optimizer step on each of count rows (distinct slots), a block per row: the row's step counts up, then each
 * element takes the guarded step (finite.cuh) with the row's parameters at that step (row_params: hyper holds the
 * spec's hyper-parameters in wire order, not a kernel struct). Gradients are count rows of dtype; the elements that
 * are not finite are counted into *non_finite.
 */
extern "C" __global__ void gpups_table_apply_rows(int kind, float* values, float* s0, float* s1,
                                                  unsigned long long* steps, int dim, const int* slots,
                                                  long long count, const unsigned char* grads, int dtype,
                                                  gpups::OptimizerParams hyper, float grad_scale, int guard,
                                                  unsigned long long* non_finite) {
    const long long row = gpups::row_bytes(dtype, dim);
    unsigned long long bad = 0;
    gpups::with_optimizer_kind(kind, [&](auto k) {
        using Kind = decltype(k);
        for (long long r = blockIdx.x; r < count; r += gridDim.x) {
            const long long s = slots[r];
            const unsigned long long t = steps[s] + 1;
            __syncthreads();  // every thread has read the old step before it is written
            if (threadIdx.x == 0) {
                steps[s] = t;
            }
            const typename Kind::Params h = gpups::row_params<Kind>(hyper.values, t, grad_scale);
            const unsigned char* g = grads + r * row;
            for (int j = threadIdx.x; j < dim; j += blockDim.x) {
                const long long at = s * dim + j;
                const float grad = gpups::decode_row_element(dtype, g, j);
                if constexpr (Kind::slots == 0) {
                    bad += gpups::optimizer_step_guarded<Kind>(h, guard, grad, values[at]);
                } else if constexpr (Kind::slots == 1) {
                    bad += gpups::optimizer_step_guarded<Kind>(h, guard, grad, values[at], s0[at]);
                } else {
                    bad += gpups::optimizer_step_guarded<Kind>(h, guard, grad, values[at], s0[at], s1[at]);
                }
            }
        }
    });
    add_non_finite(non_finite, bad);
}

/** Per row: step, last touch, touches into out[3i..3i+2]. */
extern "C" __global__ void gpups_table_read_counters(const unsigned long long* last_touch,
                                                     const unsigned int* touches, const unsigned long long* steps,
                                                     const int* slots, long long count, long long* out) {
    GPUPS_GRID_STRIDE(i, count) {
        const long long s = slots[i];
        out[3 * i] = (long long) steps[s];
        out[3 * i + 1] = (long long) last_touch[s];
        out[3 * i + 2] = (long long) touches[s];
    }
}

/** Sets the counters of count rows from in[3i..3i+2] (a checkpoint's); negative slots are skipped. */
extern "C" __global__ void gpups_table_write_counters(unsigned long long* last_touch, unsigned int* touches,
                                                      unsigned long long* steps, const int* slots, long long count,
                                                      const long long* in) {
    GPUPS_GRID_STRIDE(i, count) {
        const long long s = slots[i];
        if (s >= 0) {
            steps[s] = (unsigned long long) in[3 * i];
            last_touch[s] = (unsigned long long) in[3 * i + 1];
            touches[s] = (unsigned int) in[3 * i + 2];
        }
    }
}

// ---- worker math ----------------------------------------------------------------------------

extern "C" __global__ void gpups_relu(float* x, long long n) {
    GPUPS_GRID_STRIDE(i, n) { x[i] = gpups::relu(x[i]); }
}

extern "C" __global__ void gpups_relu_backward(float* grad, const float* activation, long long n) {
    GPUPS_GRID_STRIDE(i, n) { grad[i] = gpups::relu_backward(grad[i], activation[i]); }
}

/** x[r, c] += bias[c] over a row-major rows x cols matrix. */
extern "C" __global__ void gpups_add_bias(float* x, const float* bias, int rows, int cols) {
    GPUPS_GRID_STRIDE(i, (long long) rows * cols) { x[i] += bias[i % cols]; }
}

/** out[c] = sum over r of x[r, c]; one thread per column, rows summed in order (deterministic). */
extern "C" __global__ void gpups_column_sums(const float* x, int rows, int cols, float* out) {
    GPUPS_GRID_STRIDE(c, cols) {
        float sum = 0.0f;
        for (int r = 0; r < rows; ++r) {
            sum += x[(long long) r * cols + c];
        }
        out[c] = sum;
    }
}

/**
 * One thread per row: writes (softmax - onehot) / rows into grad and the row's loss into row_loss,
 * which the host sums in row order, so the mean loss does not depend on the launch shape. A row whose
 * label is not a class index gets loss NaN and a zero gradient; the host reports it.
 */
extern "C" __global__ void gpups_softmax_xent(const float* logits, const float* labels, int rows, int cols,
                                              float* grad, float* row_loss) {
    const float inv_rows = 1.0f / (float) rows;
    GPUPS_GRID_STRIDE(r, rows) {
        const float* row = logits + r * cols;
        float* row_grad = grad + r * cols;
        const int label = gpups::label_index(labels[r], cols);
        if (label < 0) {
            for (int c = 0; c < cols; ++c) {
                row_grad[c] = 0.0f;
            }
            row_loss[r] = nanf("");
        } else {
            row_loss[r] = gpups::softmax_xent_row(row, cols, label, inv_rows, row_grad);
        }
    }
}

/** Adds to *correct the number of rows whose arg-max equals the label. */
extern "C" __global__ void gpups_count_correct(const float* logits, const float* labels, int rows, int cols,
                                               unsigned int* correct) {
    GPUPS_GRID_STRIDE(r, rows) {
        if (gpups::row_argmax(logits + r * cols, cols) == gpups::label_index(labels[r], cols)) {
            atomicAdd(correct, 1u);
        }
    }
}

// ---- GEMM without cuBLAS ---------------------------------------------------------------------------------

// Row-major C (m x n) = alpha op(A) op(B) + beta C, for workers on machines where cuBLAS 12 cannot load.
// op(A) is m x k: A itself is m x k (row stride k) or, with trans_a, k x m (row stride m); op(B) is k x n: B is
// k x n (stride n) or, with trans_b, n x k (stride k). A block of GEMM_THREADS threads computes one
// GEMM_TILE x GEMM_TILE tile of C, thread (tx, ty) of a 16 x 16 arrangement the 4 x 4 elements at rows
// ty + 16 i and columns tx + 16 j; K goes through shared memory GEMM_TILE_K at a time, out-of-range elements
// loaded as 0. Each element is one fma chain in K order. With beta == 0, C is only written (as in BLAS, a NaN
// already in C does not survive). Grid: (ceil(n / 64), ceil(m / 64)); launched by KernelGemm.
#define GEMM_TILE 64
#define GEMM_TILE_K 16
#define GEMM_THREADS 256

extern "C" __global__ void gpups_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                                       const float* __restrict__ a, const float* __restrict__ b, float beta,
                                       float* __restrict__ c) {
    __shared__ float a_tile[GEMM_TILE_K][GEMM_TILE + 1];  // [kk][row of the tile]
    __shared__ float b_tile[GEMM_TILE_K][GEMM_TILE + 1];  // [kk][column of the tile]
    const int tid = threadIdx.x;
    const int tx = tid % 16;
    const int ty = tid / 16;
    const long row0 = (long) blockIdx.y * GEMM_TILE;
    const long col0 = (long) blockIdx.x * GEMM_TILE;
    float acc[4][4];
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) {
            acc[i][j] = 0.0f;
        }
    }
    for (int k0 = 0; k0 < k; k0 += GEMM_TILE_K) {
        for (int e = tid; e < GEMM_TILE * GEMM_TILE_K; e += GEMM_THREADS) {
            // Untransposed A: neighbouring threads read neighbouring k of one row; transposed: neighbouring rows.
            const int r = trans_a ? e % GEMM_TILE : e / GEMM_TILE_K;
            const int kk = trans_a ? e / GEMM_TILE : e % GEMM_TILE_K;
            const long gr = row0 + r;
            const long gk = k0 + kk;
            float v = 0.0f;
            if (gr < m && gk < k) {
                v = trans_a ? a[gk * m + gr] : a[gr * k + gk];
            }
            a_tile[kk][r] = v;
        }
        for (int e = tid; e < GEMM_TILE * GEMM_TILE_K; e += GEMM_THREADS) {
            // Untransposed B: neighbouring threads read neighbouring columns of one row; transposed: neighbouring k.
            const int cc = trans_b ? e / GEMM_TILE_K : e % GEMM_TILE;
            const int kk = trans_b ? e % GEMM_TILE_K : e / GEMM_TILE;
            const long gc = col0 + cc;
            const long gk = k0 + kk;
            float v = 0.0f;
            if (gc < n && gk < k) {
                v = trans_b ? b[gc * k + gk] : b[gk * n + gc];
            }
            b_tile[kk][cc] = v;
        }
        __syncthreads();
        for (int kk = 0; kk < GEMM_TILE_K; kk++) {
            float ar[4];
            float br[4];
            for (int i = 0; i < 4; i++) {
                ar[i] = a_tile[kk][ty + 16 * i];
                br[i] = b_tile[kk][tx + 16 * i];
            }
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 4; j++) {
                    acc[i][j] = fmaf(ar[i], br[j], acc[i][j]);
                }
            }
        }
        __syncthreads();
    }
    for (int i = 0; i < 4; i++) {
        const long r = row0 + ty + 16 * i;
        if (r >= m) {
            continue;
        }
        for (int j = 0; j < 4; j++) {
            const long cc = col0 + tx + 16 * j;
            if (cc < n) {
                float* out = c + r * n + cc;
                *out = beta == 0.0f ? alpha * acc[i][j] : fmaf(beta, *out, alpha * acc[i][j]);
            }
        }
    }
}
