// Optimizer update rules, one element at a time. These are the formulas of
// io.gpups.core.optim.OptimizerSpec (its javadoc is the specification), with g the gradient
// after scaling by grad_scale and t the 1-based step:
//
//   sgd       g += wd*p;  p -= lr*g
//   momentum  g += wd*p;  v = mu*v + g;  p -= lr*v
//   nesterov  g += wd*p;  v = mu*v + g;  p -= lr*(g + mu*v)
//   adagrad   g += wd*p;  h += g*g;      p -= lr*g / (sqrt(h) + eps)
//   adam      g += wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
//             p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
//   adamw     p -= lr*wd*p (decoupled); then adam with wd = 0
//   lion      c = b1*m + (1-b1)*g;  p -= lr*(sign(c) + wd*p);  m = b2*m + (1-b2)*g
//
// Numerics: everything is float32. The bias corrections 1-b1^t and 1-b2^t are computed once per
// step on the host in double (b^t underflows gracefully there and 1-b^t keeps its precision for
// small t) and passed in as floats. grad_scale is applied to the raw gradient before anything else,
// so a caller can fold averaging over workers (1/N) or loss-scale removal into the update.
//
// Each parameter struct holds only float fields: the spec's hyper-parameters in wire order
// (OptimizerSpec.hyperParameters()), then the per-step terms the host computes (Adam's bias
// corrections), then grad_scale. io.gpups.core.optim.KernelParameters builds it in that one order.
//
// The kind table at the end of this file lists every optimizer with its id; the CPU device, the CUDA
// kernels and the Java enum OptimizerSpec.OptimizerKind all take their ids from it (a test compares the
// compiled table with the enum).
#ifndef GPUPS_OPTIMIZERS_CUH
#define GPUPS_OPTIMIZERS_CUH

#include <string.h>

#include <cstddef>
#include <utility>

#include "gpups/common.cuh"

namespace gpups {

struct SgdParams {
    float lr, weight_decay, grad_scale;
};

struct MomentumParams {
    float lr, momentum, weight_decay, grad_scale;
};

/** Nesterov uses the same hyper-parameters as heavy-ball momentum. */
typedef MomentumParams NesterovParams;

/** initial_accumulator is the slot's start value, set by the caller; the step does not read it. */
struct AdagradParams {
    float lr, eps, initial_accumulator, weight_decay, grad_scale;
};

/** Shared by adam and adamw; bias_correction1 = 1 - beta1^t and bias_correction2 = 1 - beta2^t. */
struct AdamParams {
    float lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2, grad_scale;
};

GPUPS_HD void sgd_step(float& p, float grad, const SgdParams& h) {
    const float g = h.grad_scale * grad + h.weight_decay * p;
    p -= h.lr * g;
}

GPUPS_HD void momentum_step(float& p, float& v, float grad, const MomentumParams& h) {
    const float g = h.grad_scale * grad + h.weight_decay * p;
    v = h.momentum * v + g;
    p -= h.lr * v;
}

GPUPS_HD void nesterov_step(float& p, float& v, float grad, const NesterovParams& h) {
    const float g = h.grad_scale * grad + h.weight_decay * p;
    v = h.momentum * v + g;
    p -= h.lr * (g + h.momentum * v);
}

/** h_acc is the running sum of squared gradients; its start value (initial_accumulator) is set by the caller. */
GPUPS_HD void adagrad_step(float& p, float& h_acc, float grad, const AdagradParams& h) {
    const float g = h.grad_scale * grad + h.weight_decay * p;
    h_acc += g * g;
    p -= h.lr * g / (sqrtf(h_acc) + h.eps);
}

/** The moment updates and the bias-corrected step shared by adam and adamw; g is the final gradient. */
GPUPS_HD void adam_moments_and_update(float& p, float& m, float& v, float g, const AdamParams& h) {
    m = h.beta1 * m + (1.0f - h.beta1) * g;
    v = h.beta2 * v + (1.0f - h.beta2) * (g * g);
    // lr * (m / bc1) / (sqrt(v / bc2) + eps), with the two per-step factors written so a loop hoists them:
    // one division and one square root per element instead of three divisions and a square root.
    const float step_size = h.lr / h.bias_correction1;
    const float inv_sqrt_bc2 = 1.0f / sqrtf(h.bias_correction2);
    p -= step_size * m / (sqrtf(v) * inv_sqrt_bc2 + h.eps);
}

/** Adam with L2 weight decay folded into the gradient (the original Adam paper's "wd"). */
GPUPS_HD void adam_step(float& p, float& m, float& v, float grad, const AdamParams& h) {
    const float g = h.grad_scale * grad + h.weight_decay * p;
    adam_moments_and_update(p, m, v, g, h);
}

/**
 * AdamW: the weight decay shrinks p directly (decoupled, Loshchilov and Hutter) before the Adam step,
 * which then sees the plain scaled gradient.
 */
GPUPS_HD void adamw_step(float& p, float& m, float& v, float grad, const AdamParams& h) {
    p -= h.lr * h.weight_decay * p;
    adam_moments_and_update(p, m, v, h.grad_scale * grad, h);
}

/** Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"); its weight decay is decoupled. */
struct LionParams {
    float lr, beta1, beta2, weight_decay, grad_scale;
};

/**
 * a*b rounded on its own, never fused into the addition that follows (nvcc contracts a*b + c into one fused
 * multiply-add by default; the host compilers here do not). Lion's interpolations use it, so that the momentum and the
 * sign of c are the same bits on every device: a contracted c near 0 could take the other sign and move p by 2*lr.
 */
GPUPS_HD float mul_rounded(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

/** sign(x) with sign(0) = sign(-0) = 0 and sign(NaN) = 0 (no comparison holds for NaN). */
GPUPS_HD float sign_or_zero(float x) {
    return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
}

/**
 * The update is the sign of the interpolation c of momentum and gradient, so every element moves by lr (or not at
 * all where c is 0); the momentum m then takes the slower interpolation with beta2. A non-finite gradient never gets
 * here in the shard's guarded steps (finite.cuh); unguarded, a NaN gradient leaves p to the weight decay and m NaN.
 */
GPUPS_HD void lion_step(float& p, float& m, float grad, const LionParams& h) {
    const float g = h.grad_scale * grad;
    const float c = mul_rounded(h.beta1, m) + mul_rounded(1.0f - h.beta1, g);
    p -= h.lr * (sign_or_zero(c) + h.weight_decay * p);
    m = mul_rounded(h.beta2, m) + mul_rounded(1.0f - h.beta2, g);
}


// ---- the kind table ---------------------------------------------------------------------------------------------
//
// One struct per optimizer: its id (on the wire and on every device), its name, its parameter struct, how many state
// buffers it keeps beside the parameters, and its step on one element's state x = {p, slot 0, slot 1, ...} (read and
// written in place). GPUPS_OPTIMIZER_KINDS lists them; every device dispatches on the id through with_optimizer_kind.
// A new optimizer is a step function above, a struct here and a row in the list; OptimizerSpec.OptimizerKind gets the
// same id, name and slots (OptimizerKindTableTest fails where they differ).

/** The most floats of any parameter struct: the size of the struct the CUDA host passes by value and batches carry. */
#define GPUPS_OPTIMIZER_PARAMS_MAX 8

/** Any optimizer's parameter struct, padded: what a kernel that serves every kind takes by value. */
struct OptimizerParams {
    float values[GPUPS_OPTIMIZER_PARAMS_MAX];
};

struct SgdKind {
    static constexpr int id = 0;
    static constexpr const char* name = "sgd";
    static constexpr int slots = 0;
    typedef SgdParams Params;
    GPUPS_HD static void step(float* x, float g, const Params& h) { sgd_step(x[0], g, h); }
};

struct MomentumKind {
    static constexpr int id = 1;
    static constexpr const char* name = "momentum";
    static constexpr int slots = 1;
    typedef MomentumParams Params;
    GPUPS_HD static void step(float* x, float g, const Params& h) { momentum_step(x[0], x[1], g, h); }
};

struct NesterovKind {
    static constexpr int id = 2;
    static constexpr const char* name = "nesterov";
    static constexpr int slots = 1;
    typedef NesterovParams Params;
    GPUPS_HD static void step(float* x, float g, const Params& h) { nesterov_step(x[0], x[1], g, h); }
};

struct AdagradKind {
    static constexpr int id = 3;
    static constexpr const char* name = "adagrad";
    static constexpr int slots = 1;
    typedef AdagradParams Params;
    GPUPS_HD static void step(float* x, float g, const Params& h) { adagrad_step(x[0], x[1], g, h); }
};

struct AdamKind {
    static constexpr int id = 4;
    static constexpr const char* name = "adam";
    static constexpr int slots = 2;
    typedef AdamParams Params;
    GPUPS_HD static void step(float* x, float g, const Params& h) { adam_step(x[0], x[1], x[2], g, h); }
};

struct AdamWKind {
    static constexpr int id = 5;
    static constexpr const char* name = "adamw";
    static constexpr int slots = 2;
    typedef AdamParams Params;
    GPUPS_HD static void step(float* x, float g, const Params& h) { adamw_step(x[0], x[1], x[2], g, h); }
};

struct LionKind {
    static constexpr int id = 6;
    static constexpr const char* name = "lion";
    static constexpr int slots = 1;
    typedef LionParams Params;
    GPUPS_HD static void step(float* x, float g, const Params& h) { lion_step(x[0], x[1], g, h); }
};

/** Every optimizer, in id order. Two rows with one id are two equal case labels below: a compile error. */
#define GPUPS_OPTIMIZER_KINDS(X) \
    X(SgdKind)                   \
    X(MomentumKind)              \
    X(NesterovKind)              \
    X(AdagradKind)               \
    X(AdamKind)                  \
    X(AdamWKind)                 \
    X(LionKind)

#define GPUPS_OPTIMIZER_FITS(Kind)                                                                     \
    static_assert(sizeof(Kind::Params) <= sizeof(OptimizerParams), #Kind "'s parameters exceed "      \
                  "GPUPS_OPTIMIZER_PARAMS_MAX floats");                                                \
    static_assert(sizeof(Kind::Params) % sizeof(float) == 0, #Kind "'s parameters are not all floats"); \
    static_assert(Kind::slots >= 0 && Kind::slots <= 2, #Kind ": the devices pass at most two state slots");
GPUPS_OPTIMIZER_KINDS(GPUPS_OPTIMIZER_FITS)
#undef GPUPS_OPTIMIZER_FITS

/**
 * Calls f(Kind{}) with the struct of the optimizer whose id is id; returns false, calling nothing, for an id that is
 * not in the table. Callers switch once per loop, never per element.
 */
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <class F>
GPUPS_HD bool with_optimizer_kind(int id, F&& f) {
    switch (id) {
#define GPUPS_OPTIMIZER_CASE(Kind) \
    case Kind::id: f(Kind{}); return true;
        GPUPS_OPTIMIZER_KINDS(GPUPS_OPTIMIZER_CASE)
#undef GPUPS_OPTIMIZER_CASE
        default: return false;
    }
}

/** Kind's parameter struct from its fields in declaration order (at least sizeof(Kind::Params) bytes). */
template <class Kind>
GPUPS_HD typename Kind::Params kind_params(const float* fields) {
    typename Kind::Params h;
    memcpy(&h, fields, sizeof h);
    return h;
}

/**
 * Writes an element's state x = {p, slots...} back where write is true. The indices are constants of the expansion
 * (not a counter), so the compilers keep x in registers.
 */
template <std::size_t... I, class... Slot>
GPUPS_HD void store_state(bool write, const float* x, std::index_sequence<I...>, float& p, Slot&... s) {
    p = write ? x[0] : p;
    ((s = write ? x[I + 1] : s), ...);
}

/** One unguarded step of Kind on an element: its parameter p, then its slots, in the kind's order. */
template <class Kind, class... Slot>
GPUPS_HD void optimizer_step(const typename Kind::Params& h, float grad, float& p, Slot&... s) {
    static_assert(sizeof...(Slot) == Kind::slots, "one state reference per slot of the kind");
    float x[] = {p, s...};
    Kind::step(x, grad, h);
    store_state(true, x, std::index_sequence_for<Slot...>{}, p, s...);
}

}  // namespace gpups

#endif  // GPUPS_OPTIMIZERS_CUH
