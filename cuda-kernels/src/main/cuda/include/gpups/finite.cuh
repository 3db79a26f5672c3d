// Guards that keep non-finite decoded gradients (NaN, +Inf, -Inf) out of a shard's parameters, optimizer state
// and bsp sums, one element at a time, inside the decode loop that consumes the gradient: the value is already in
// a register there, so the test and the count cost no extra pass over memory.
//
// Each guarded step returns 1 when its gradient is not finite (0 otherwise), so a loop sums the returns into the
// push's count of non-finite elements. What such an element does is the guard's choice:
//
//   GUARD_SKIP  the element is left exactly as it was: parameter, every optimizer slot, accumulator
//   GUARD_ZERO  the element takes its step with gradient 0 (momentum, Adam's moments and weight decay still act)
//
// Finite gradients give the same bits as the unguarded steps: the guarded step runs the same header function and
// only then selects between the new and the old values.
#ifndef GPUPS_FINITE_CUH
#define GPUPS_FINITE_CUH

#include <string.h>

#include "gpups/common.cuh"
#include "gpups/elementwise.cuh"
#include "gpups/optimizers.cuh"

namespace gpups {

/** What a guarded step does with an element whose gradient is not finite (io.gpups.core.device.NonFiniteGuard). */
enum NonFiniteGuard { GUARD_SKIP = 0, GUARD_ZERO = 1 };

/**
 * Whether x is finite: its exponent bits are not all ones. A bit test rather than isfinite(), so it means the same
 * under every compiler's float options.
 */
GPUPS_HD bool finite_value(float x) {
    unsigned int u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x7f800000u) != 0x7f800000u;
}

/** acc += grad when grad is finite; otherwise acc stays (under either guard: adding 0 could turn -0 into +0). */
GPUPS_HD int accumulate_guarded(float& acc, float grad) {
    const bool ok = finite_value(grad);
    float a = acc;
    accumulate(a, ok ? grad : 0.0f);
    acc = ok ? a : acc;
    return ok ? 0 : 1;
}

/** Whether a guarded step writes its new values back. */
GPUPS_HD bool guard_writes(bool finite, int guard) {
    return finite || guard == GUARD_ZERO;
}

GPUPS_HD int sgd_step_guarded(float& p, float grad, const SgdParams& h, int guard) {
    const bool ok = finite_value(grad);
    float np = p;
    sgd_step(np, ok ? grad : 0.0f, h);
    const bool w = guard_writes(ok, guard);
    p = w ? np : p;
    return ok ? 0 : 1;
}

GPUPS_HD int momentum_step_guarded(float& p, float& v, float grad, const MomentumParams& h, int guard) {
    const bool ok = finite_value(grad);
    float np = p, nv = v;
    momentum_step(np, nv, ok ? grad : 0.0f, h);
    const bool w = guard_writes(ok, guard);
    p = w ? np : p;
    v = w ? nv : v;
    return ok ? 0 : 1;
}

GPUPS_HD int nesterov_step_guarded(float& p, float& v, float grad, const NesterovParams& h, int guard) {
    const bool ok = finite_value(grad);
    float np = p, nv = v;
    nesterov_step(np, nv, ok ? grad : 0.0f, h);
    const bool w = guard_writes(ok, guard);
    p = w ? np : p;
    v = w ? nv : v;
    return ok ? 0 : 1;
}

GPUPS_HD int adagrad_step_guarded(float& p, float& h_acc, float grad, const AdagradParams& h, int guard) {
    const bool ok = finite_value(grad);
    float np = p, nh = h_acc;
    adagrad_step(np, nh, ok ? grad : 0.0f, h);
    const bool w = guard_writes(ok, guard);
    p = w ? np : p;
    h_acc = w ? nh : h_acc;
    return ok ? 0 : 1;
}

GPUPS_HD int adam_step_guarded(float& p, float& m, float& v, float grad, const AdamParams& h, int guard) {
    const bool ok = finite_value(grad);
    float np = p, nm = m, nv = v;
    adam_step(np, nm, nv, ok ? grad : 0.0f, h);
    const bool w = guard_writes(ok, guard);
    p = w ? np : p;
    m = w ? nm : m;
    v = w ? nv : v;
    return ok ? 0 : 1;
}

GPUPS_HD int adamw_step_guarded(float& p, float& m, float& v, float grad, const AdamParams& h, int guard) {
    const bool ok = finite_value(grad);
    float np = p, nm = m, nv = v;
    adamw_step(np, nm, nv, ok ? grad : 0.0f, h);
    const bool w = guard_writes(ok, guard);
    p = w ? np : p;
    m = w ? nm : m;
    v = w ? nv : v;
    return ok ? 0 : 1;
}

}  // namespace gpups

#endif  // GPUPS_FINITE_CUH
