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

/**
 * One guarded step of Kind (the kind table, optimizers.cuh) on an element: its parameter p, then its slots. The step
 * runs on copies with the gradient, or 0 where it is not finite, and the copies are written back unless the gradient
 * was not finite and the guard is GUARD_SKIP. Returns 1 for a gradient that is not finite.
 */
template <class Kind, class... Slot>
GPUPS_HD int optimizer_step_guarded(const typename Kind::Params& h, int guard, float grad, float& p, Slot&... s) {
    static_assert(sizeof...(Slot) == Kind::slots, "one state reference per slot of the kind");
    const bool ok = finite_value(grad);
    float x[] = {p, s...};
    Kind::step(x, ok ? grad : 0.0f, h);
    store_state(guard_writes(ok, guard), x, std::index_sequence_for<Slot...>{}, p, s...);
    return ok ? 0 : 1;
}

}  // namespace gpups

#endif  // GPUPS_FINITE_CUH
