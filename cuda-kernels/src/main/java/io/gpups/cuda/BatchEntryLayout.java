package io.gpups.cuda;

import io.gpups.core.optim.KernelParameters;

/**
 * The layout of one entry of {@code gpups_batch_update}'s table ({@code BatchEntry} in {@code gpups_kernels.cu}), as
 * {@link CudaDevice#applyBatch} writes it: 80 bytes, little-endian. The host kernel tier compiles the struct and
 * compares its offsets with these ({@code BatchEntryLayoutTest}).
 *
 * <pre>
 *   0      8      16     24        32  40   44    48                       80
 *   +------+------+------+---------+---+----+-----+------------------------+
 *   |param |slot0 |slot1 |gradient | n |kind|guard| params (8 x f32)       |
 *   +------+------+------+---------+---+----+-----+------------------------+
 * </pre>
 *
 * <ul>
 *   <li>{@code param}, {@code slot0}, {@code slot1}: device addresses (u64) of the parameters (or the accumulator) and
 *       of the optimizer's state slots in the kind's order, 0 past its slot count;</li>
 *   <li>{@code gradient}: byte offset (i64) of the entry's float32 gradient from the payload base, a multiple of 16;</li>
 *   <li>{@code n}: elements (i64);</li>
 *   <li>{@code kind}: the optimizer's id ({@link io.gpups.core.optim.OptimizerSpec.OptimizerKind}), or
 *       {@link #KIND_ACCUMULATE};</li>
 *   <li>{@code guard}: a {@link io.gpups.core.device.NonFiniteGuard} id;</li>
 *   <li>{@code params}: the optimizer's parameter struct ({@link KernelParameters}), zeros past its fields.</li>
 * </ul>
 */
final class BatchEntryLayout {

    static final int PARAM_OFFSET = 0;
    static final int SLOT0_OFFSET = 8;
    static final int SLOT1_OFFSET = 16;
    static final int GRADIENT_OFFSET = 24;
    static final int COUNT_OFFSET = 32;
    static final int KIND_OFFSET = 40;
    static final int GUARD_OFFSET = 44;
    static final int PARAMS_OFFSET = 48;
    /** Bytes of one entry. */
    static final int BYTES = PARAMS_OFFSET + Float.BYTES * KernelParameters.MAX_FLOATS;

    /** {@code kind} of an accumulation ({@code GPUPS_BATCH_ACCUMULATE}): no optimizer's id. */
    static final int KIND_ACCUMULATE = -1;

    private BatchEntryLayout() {
    }
}
