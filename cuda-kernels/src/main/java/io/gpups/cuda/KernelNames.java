package io.gpups.cuda;

import io.gpups.core.optim.OptimizerSpec;

import java.util.List;

/**
 * The entry points of {@code gpups_kernels.cu} and where the build puts them. The fatbin and PTX are
 * class-path resources of this module's jar when nvcc was present at build time; without nvcc they are
 * absent and only the CPU device can run.
 *
 * <p>Every optimizer kernel takes its hyper-parameters as one struct argument made only of float fields
 * (see {@code gpups/optimizers.cuh}), so the host passes the struct as a float array in field order.
 */
public final class KernelNames {

    /** Class-path resource of the fatbin: SASS for sm_80 and sm_90, PTX for compute_80 and newer. */
    public static final String FATBIN_RESOURCE = "gpups/kernels/gpups_kernels.fatbin";
    /** Class-path resource of the compute_80 PTX of the same kernels. */
    public static final String PTX_RESOURCE = "gpups/kernels/gpups_kernels.ptx";

    public static final String FILL = "gpups_fill";
    public static final String ACCUMULATE = "gpups_accumulate";
    public static final String SCALE = "gpups_scale";
    public static final String SGD = "gpups_sgd";
    public static final String MOMENTUM = "gpups_momentum";
    public static final String NESTEROV = "gpups_nesterov";
    public static final String ADAGRAD = "gpups_adagrad";
    public static final String ADAM = "gpups_adam";
    public static final String ADAMW = "gpups_adamw";
    public static final String RELU = "gpups_relu";
    public static final String RELU_BACKWARD = "gpups_relu_backward";
    public static final String ADD_BIAS = "gpups_add_bias";
    public static final String COLUMN_SUMS = "gpups_column_sums";
    /** Writes per-row losses; the host sums them in row order for the mean. */
    public static final String SOFTMAX_XENT = "gpups_softmax_xent";
    /** Atomically adds the number of correct rows to a 32-bit unsigned counter. */
    public static final String COUNT_CORRECT = "gpups_count_correct";
    /** Row-major tiled SGEMM with either operand transposed, for machines without cuBLAS 12 ({@link KernelGemm}). */
    public static final String SGEMM = "gpups_sgemm";


    // ---- gradient codecs: decoding on the shard -----------------------------------------------------
    /** {@code acc += decode(payload)} for a dense codec, chosen by its id (an int argument). */
    public static final String DECODE_ACCUMULATE = "gpups_decode_accumulate";
    /** A sparse payload's entries added to, stored into or cleared from a buffer (mode argument, see the source). */
    public static final String SPARSE_SCATTER = "gpups_sparse_scatter";
    /** Fused decode-and-apply, one kernel per optimizer; the dense codec is an int argument. */
    public static final String DECODE_SGD = "gpups_decode_sgd";
    public static final String DECODE_MOMENTUM = "gpups_decode_momentum";
    public static final String DECODE_NESTEROV = "gpups_decode_nesterov";
    public static final String DECODE_ADAGRAD = "gpups_decode_adagrad";
    public static final String DECODE_ADAM = "gpups_decode_adam";
    public static final String DECODE_ADAMW = "gpups_decode_adamw";

    // ---- batched updates on the shard ---------------------------------------------------------------
    /**
     * Many chunks' float32 gradients accumulated or applied by their optimizers in one launch: a table of 80-byte
     * entries (see the source and {@link CudaDevice#applyBatch}), one block row per entry.
     */
    public static final String BATCH_UPDATE = "gpups_batch_update";

    // ---- gradient codecs: encoding on the worker --------------------------------------------------------
    public static final String ENCODE_FP16 = "gpups_encode_fp16";
    public static final String ENCODE_BF16 = "gpups_encode_bf16";
    /** One block of {@link io.gpups.core.codec.Codec#BLOCK} threads per codec block (grid-stride over them). */
    public static final String ENCODE_INT8 = "gpups_encode_int8";
    /** Launched as {@link #ENCODE_INT8}. */
    public static final String ENCODE_SIGN = "gpups_encode_sign";
    public static final String ENCODE_RANDOMK = "gpups_encode_randomk";
    public static final String TOPK_SAMPLE = "gpups_topk_sample";
    public static final String TOPK_COUNT = "gpups_topk_count";
    public static final String TOPK_COMPACT = "gpups_topk_compact";

    /** Every kernel, in source order. */
    public static final List<String> ALL = List.of(
            FILL, ACCUMULATE, SCALE, SGD, MOMENTUM, NESTEROV, ADAGRAD, ADAM, ADAMW,
            DECODE_ACCUMULATE, SPARSE_SCATTER,
            DECODE_SGD, DECODE_MOMENTUM, DECODE_NESTEROV, DECODE_ADAGRAD, DECODE_ADAM, DECODE_ADAMW,
            BATCH_UPDATE,
            ENCODE_FP16, ENCODE_BF16, ENCODE_INT8, ENCODE_SIGN, ENCODE_RANDOMK,
            TOPK_SAMPLE, TOPK_COUNT, TOPK_COMPACT,
            RELU, RELU_BACKWARD, ADD_BIAS, COLUMN_SUMS, SOFTMAX_XENT, COUNT_CORRECT, SGEMM);

    /** The optimizer kernel reading the gradient from device memory. */
    static String optimizer(OptimizerSpec.OptimizerKind kind) {
        return switch (kind) {
            case SGD -> SGD;
            case MOMENTUM -> MOMENTUM;
            case NESTEROV -> NESTEROV;
            case ADAGRAD -> ADAGRAD;
            case ADAM -> ADAM;
            case ADAMW -> ADAMW;
        };
    }

    /** The optimizer kernel decoding the gradient from a dense codec payload. */
    static String decodeOptimizer(OptimizerSpec.OptimizerKind kind) {
        return switch (kind) {
            case SGD -> DECODE_SGD;
            case MOMENTUM -> DECODE_MOMENTUM;
            case NESTEROV -> DECODE_NESTEROV;
            case ADAGRAD -> DECODE_ADAGRAD;
            case ADAM -> DECODE_ADAM;
            case ADAMW -> DECODE_ADAMW;
        };
    }

    private KernelNames() {
    }
}
