package io.gpups.core.device;

/**
 * What a fused decode-and-apply does with an element whose decoded gradient is not finite (NaN, +Inf or -Inf). The
 * decode counts such elements in the same pass and returns the count; no non-finite value ever reaches parameters
 * or optimizer state, whichever guard is chosen. Elements with finite gradients are stepped as without a guard, bit
 * for bit. (The element functions: {@code finite.cuh} of the shared kernel headers.)
 */
public enum NonFiniteGuard {
    /** The element is left exactly as it was: its parameter and every optimizer slot. */
    SKIP(0),
    /** The element takes its optimizer step with gradient 0 (momentum, moments and weight decay still act). */
    ZERO(1);

    /** The guard's id in the kernels. */
    public final int id;

    NonFiniteGuard(int id) {
        this.id = id;
    }
}
