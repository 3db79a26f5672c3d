package io.gpups.core.device;

import io.gpups.core.optim.OptimizerSpec;

import java.nio.ByteBuffer;

/**
 * One chunk's update in a {@link Device#applyBatch batch}: a received float32 gradient (codec none: {@code count}
 * little-endian floats in host memory, read from the buffer's position, which is left unchanged) added into an
 * accumulator or applied by an optimizer step. Non-finite gradient values are counted and kept out of the update, as
 * by the one-update calls.
 */
public sealed interface BatchedUpdate permits BatchedUpdate.Accumulate, BatchedUpdate.OptimizerStep {

    /** The gradient: {@code 4 * count()} bytes from its position. */
    ByteBuffer gradient();

    /** Elements updated. */
    int count();

    /** {@code acc[i] += gradient[i]} where finite: {@link Device#decodeAccumulate} with codec none. */
    record Accumulate(DeviceBuffer acc, ByteBuffer gradient, int count) implements BatchedUpdate {
    }

    /**
     * One optimizer step: {@link Device#decodeApplyOptimizer} with codec none, {@code step} 1-based, the gradient
     * scaled by {@code gradScale} and non-finite gradients handled as {@code guard} says.
     */
    record OptimizerStep(OptimizerSpec spec, DeviceBuffer param, DeviceBuffer[] slots, ByteBuffer gradient, int count,
                         long step, float gradScale, NonFiniteGuard guard) implements BatchedUpdate {

        public OptimizerStep {
            if (guard == null) {
                throw new IllegalArgumentException("non-finite guard is null");
            }
        }

        /** A step that skips elements whose gradient is not finite ({@link NonFiniteGuard#SKIP}). */
        public OptimizerStep(OptimizerSpec spec, DeviceBuffer param, DeviceBuffer[] slots, ByteBuffer gradient, int count,
                             long step, float gradScale) {
            this(spec, param, slots, gradient, count, step, gradScale, NonFiniteGuard.SKIP);
        }
    }
}
