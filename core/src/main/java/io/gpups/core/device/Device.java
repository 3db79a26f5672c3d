package io.gpups.core.device;

import io.gpups.core.codec.Codec;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.RowTable;
import io.gpups.core.table.TableSpec;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * A compute device: owns float32 buffers, copies between host and device memory, and runs the named
 * operations of gpups' kernel math. Every implementation runs the same element formulas (the shared
 * headers in {@code cuda-kernels/src/main/cuda/include/gpups}); they differ only in where they run.
 *
 * <p>Matrices are row-major. Host buffers are little-endian float32; a host {@link ByteBuffer} is read or
 * written from its position, which is left unchanged. Operations on one device are ordered as issued;
 * {@link #synchronize()} waits for all of them, and every method that returns a value to the host
 * synchronizes implicitly.
 *
 * <p>A device is used by one thread at a time (one shard agent, or one trainer).
 */
public interface Device extends AutoCloseable {

    /** A stable name, e.g. {@code cpu} or {@code cuda:0}. */
    String name();

    /** For people: {@link #name()} and, for a GPU, its product name, e.g. {@code cuda:0 (NVIDIA H100 80GB HBM3)}. */
    default String description() {
        return name();
    }

    /** Allocates a zero-filled buffer of {@code elements} float32 values. */
    DeviceBuffer allocate(long elements);

    /** Copies {@code count} floats from host memory {@code src} into {@code dst[dstOffset..]}. */
    void upload(ByteBuffer src, DeviceBuffer dst, long dstOffset, int count);

    /** Copies {@code count} floats from {@code src[srcOffset..]} into host memory {@code dst}. */
    void download(DeviceBuffer src, long srcOffset, int count, ByteBuffer dst);

    /** Copies {@code count} floats from {@code src[srcOffset..]} into {@code dst[dstOffset..]}. */
    void upload(float[] src, int srcOffset, DeviceBuffer dst, long dstOffset, int count);

    /** Copies {@code count} floats from {@code src[srcOffset..]} into {@code dst[dstOffset..]}. */
    void download(DeviceBuffer src, long srcOffset, float[] dst, int dstOffset, int count);

    /** Sets the first {@code count} elements of {@code dst} to {@code value}. */
    void fill(DeviceBuffer dst, float value, long count);

    // ---- server math ------------------------------------------------------------------------------

    /** {@code acc[i] += grad[i]} for i < count, where grad is float32 in host memory (a received payload). */
    void accumulate(DeviceBuffer acc, ByteBuffer hostGradient, int count);

    /** {@code acc[i] += grad[i]} for i < count, both on the device. */
    void accumulate(DeviceBuffer acc, DeviceBuffer grad, int count);

    /** {@code x[i] *= alpha} for i < count. */
    void scale(DeviceBuffer x, float alpha, int count);

    /**
     * One optimizer step over {@code count} elements: {@code g = gradScale * grad}, then the update rule of
     * {@code spec} on {@code param} with its state {@code slots} (as many as {@link OptimizerSpec#slots()},
     * zero-initialized by the caller except where the spec says otherwise). {@code step} is the 1-based
     * number of this update, used for bias correction. The gradient is not guarded: a gradient received from the
     * network goes through {@link #decodeApplyOptimizer} (codec none for float32), which keeps non-finite values out.
     */
    void applyOptimizer(OptimizerSpec spec, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer[] slots,
                        int count, long step, float gradScale);

    // ---- gradient codecs (layouts: io.gpups.core.codec.Codec, docs/PROTOCOL.md) --------------------

    /**
     * Encodes {@code source[offset, offset + count)} into {@code codec}'s payload layout, written to host
     * memory {@code out} from its position (which is left unchanged; it needs
     * {@link Codec#maxPayloadBytes(int)} bytes). With error feedback ({@link Codec#errorFeedback()}),
     * {@code residual[offset, offset + count)} holds the residual on entry; the codec encodes
     * {@code a = source + residual} and leaves {@code a - decoded(a)} there. Codecs without error feedback
     * ignore {@code residual} (it may be null). {@code seed} picks randomk's indices
     * ({@link io.gpups.core.codec.RandomKSelection}). Returns the payload's length in bytes.
     */
    int encode(Codec codec, DeviceBuffer source, DeviceBuffer residual, long offset, int count, long seed, ByteBuffer out);

    /**
     * {@code acc[i] += decoded[i]} for a payload in host memory ({@code payload}'s remaining bytes, already
     * checked against the chunk by {@link io.gpups.core.codec.CodecPayloads}), decoded on the device, fused
     * into the accumulation. A decoded value that is not finite (NaN, +Inf, -Inf) is counted in the same pass and
     * not added: {@code acc[i]} stays as it was.
     *
     * @return how many decoded values were not finite (sparse codecs: how many of the sent values)
     */
    long decodeAccumulate(Codec.Kind codec, ByteBuffer payload, int count, long seed, DeviceBuffer acc);

    /**
     * One optimizer step (as {@link #applyOptimizer}) with the gradient decoded from a payload, fused. A decoded
     * gradient that is not finite is counted in the same pass and handled as {@code guard} says; it never reaches
     * the parameters or the optimizer state.
     *
     * @return how many decoded gradients were not finite
     */
    long decodeApplyOptimizer(Codec.Kind codec, ByteBuffer payload, int count, long seed, OptimizerSpec spec,
                              DeviceBuffer param, DeviceBuffer[] slots, long step, float gradScale, NonFiniteGuard guard);

    /** {@link #decodeApplyOptimizer(Codec.Kind, ByteBuffer, int, long, OptimizerSpec, DeviceBuffer, DeviceBuffer[], long, float, NonFiniteGuard)} with {@link NonFiniteGuard#SKIP}. */
    default long decodeApplyOptimizer(Codec.Kind codec, ByteBuffer payload, int count, long seed, OptimizerSpec spec,
                                      DeviceBuffer param, DeviceBuffer[] slots, long step, float gradScale) {
        return decodeApplyOptimizer(codec, payload, count, seed, spec, param, slots, step, gradScale, NonFiniteGuard.SKIP);
    }

    /**
     * Applies {@code updates} as if one by one, in list order, through {@link #decodeAccumulate} and
     * {@link #decodeApplyOptimizer} with codec none (seed 0): the same results, bit for bit, and the same counts of
     * non-finite gradients. Updates may share buffers
     * (two pushes to one chunk); those are applied in list order. Updates with different buffers must not overlap in
     * memory (distinct chunks never do). The gradients are read during the call: the caller may release them when it
     * returns.
     *
     * <p>Every gradient's length is checked before anything is applied. This default then makes one call per update.
     * A device may do it in fewer launches: the CUDA device issues one kernel launch for updates that touch distinct
     * buffers, with the gradients in one host-to-device copy. If a call fails on a buffer argument or on the device,
     * updates before the failing one may have been applied.
     *
     * @return for each update, in list order, how many of its gradient values were not finite
     */
    default long[] applyBatch(List<? extends BatchedUpdate> updates) {
        checkBatch(updates);
        long[] nonFinite = new long[updates.size()];
        for (int i = 0; i < updates.size(); i++) {
            BatchedUpdate u = updates.get(i);
            if (u instanceof BatchedUpdate.Accumulate a) {
                nonFinite[i] = decodeAccumulate(Codec.Kind.NONE, a.gradient(), a.count(), 0, a.acc());
            } else if (u instanceof BatchedUpdate.OptimizerStep o) {
                nonFinite[i] = decodeApplyOptimizer(Codec.Kind.NONE, o.gradient(), o.count(), 0, o.spec(), o.param(),
                        o.slots(), o.step(), o.gradScale(), o.guard());
            }
        }
        return nonFinite;
    }

    /** {@link #applyBatch}'s checks before anything is applied: no null update, each gradient holds its count. */
    static void checkBatch(List<? extends BatchedUpdate> updates) {
        if (updates == null) {
            throw new IllegalArgumentException("updates is null");
        }
        for (int i = 0; i < updates.size(); i++) {
            BatchedUpdate u = updates.get(i);
            if (u == null) {
                throw new IllegalArgumentException("update " + i + " of the batch is null");
            }
            DeviceArguments.checkFloats(u.gradient(), "update " + i + " gradient", u.count());
        }
    }

    // ---- embedding tables -------------------------------------------------------------------------

    /**
     * A new, empty table for one shard's rows of {@code spec} ({@link RowTable}), in this device's memory.
     *
     * @throws UnsupportedOperationException where this device has no tables
     * @throws DeviceOutOfMemoryException where its memory does not hold {@code spec.capacity()} rows
     */
    default RowTable createTable(TableSpec spec) {
        throw new UnsupportedOperationException("device " + name() + " has no embedding tables");
    }

    // ---- worker math ------------------------------------------------------------------------------

    /** {@code C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C}, row-major. */
    void gemm(boolean transA, boolean transB, int m, int n, int k,
              float alpha, DeviceBuffer a, DeviceBuffer b, float beta, DeviceBuffer c);

    /** {@code x[r, c] += bias[c]} for a {@code rows x cols} matrix. */
    void addBias(DeviceBuffer x, DeviceBuffer bias, int rows, int cols);

    /** {@code x[i] = max(x[i], 0)} in place. */
    void relu(DeviceBuffer x, int count);

    /** {@code grad[i] = activation[i] > 0 ? grad[i] : 0} in place. */
    void reluBackward(DeviceBuffer grad, DeviceBuffer activation, int count);

    /**
     * Softmax cross-entropy over {@code rows} rows of {@code cols} logits with labels given as float class
     * indices. Writes {@code (softmax - onehot) / rows} into {@code gradLogits} and returns the mean loss.
     */
    float softmaxCrossEntropy(DeviceBuffer logits, DeviceBuffer labels, int rows, int cols, DeviceBuffer gradLogits);

    /** {@code out[c] = sum over r of x[r, c]}. */
    void columnSums(DeviceBuffer x, int rows, int cols, DeviceBuffer out);

    /** Number of rows whose arg-max equals the label. */
    int countCorrect(DeviceBuffer logits, DeviceBuffer labels, int rows, int cols);

    /** Waits until every operation issued so far has completed. */
    void synchronize();

    @Override
    void close();
}
