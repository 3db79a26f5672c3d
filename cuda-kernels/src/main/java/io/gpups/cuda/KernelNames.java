package io.gpups.cuda;

import java.util.List;

/**
 * The entry points of {@code gpups_kernels.cu} and where the build puts them. The fatbin and PTX are
 * class-path resources of this module's jar when nvcc was present at build time; without nvcc they are
 * absent and only the CPU device can run.
 *
 * <p>The optimizer kernels serve every kind of the kind table ({@code gpups/optimizers.cuh}): they take the kind's id
 * and its parameter struct padded to {@code OptimizerParams}, a by-value struct of
 * {@link io.gpups.core.optim.KernelParameters#MAX_FLOATS} floats.
 */
public final class KernelNames {

    /** Class-path resource of the fatbin: SASS for sm_80 and sm_90, PTX for compute_80 and newer. */
    public static final String FATBIN_RESOURCE = "gpups/kernels/gpups_kernels.fatbin";
    /** Class-path resource of the compute_80 PTX of the same kernels. */
    public static final String PTX_RESOURCE = "gpups/kernels/gpups_kernels.ptx";

    public static final String FILL = "gpups_fill";
    public static final String ACCUMULATE = "gpups_accumulate";
    public static final String SCALE = "gpups_scale";
    /** Any optimizer's unguarded step over a device gradient; the kind's id is its first argument. */
    public static final String OPTIMIZER = "gpups_optimizer";
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
    /** Fused decode-and-apply for any optimizer: the kind's id and the dense codec's are int arguments. */
    public static final String DECODE_OPTIMIZER = "gpups_decode_optimizer";

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

    // ---- embedding tables (gpups/tables.cuh) -----------------------------------------------------------
    /** findOrInsert's first pass: a thread per id; lookups, touches, free slots claimed by atomicCAS. */
    public static final String TABLE_FIND = "gpups_table_find";
    /** findOrInsert's second pass, launched 1 x 1: the pending ids take their buckets' victims in index order. */
    public static final String TABLE_EVICT = "gpups_table_evict";
    /** The born rows' optimizer state at its start value. */
    public static final String TABLE_RESET_STATE = "gpups_table_reset_state";
    /** float32 rows scattered to their slots (values or a state slot; restores skip slot -1). */
    public static final String TABLE_WRITE_ROWS = "gpups_table_write_rows";
    /** Rows gathered as fp32, bf16 or fp16 (values, or a state slot as fp32). */
    public static final String TABLE_GATHER_ROWS = "gpups_table_gather_rows";
    /** One optimizer step per row, a block per row; the spec's hyper-parameters are passed as a padded struct. */
    public static final String TABLE_APPLY_ROWS = "gpups_table_apply_rows";
    public static final String TABLE_READ_COUNTERS = "gpups_table_read_counters";
    public static final String TABLE_WRITE_COUNTERS = "gpups_table_write_counters";

    /** Every kernel, in source order. */
    public static final List<String> ALL = List.of(
            FILL, ACCUMULATE, SCALE, OPTIMIZER,
            DECODE_ACCUMULATE, SPARSE_SCATTER, DECODE_OPTIMIZER,
            BATCH_UPDATE,
            ENCODE_FP16, ENCODE_BF16, ENCODE_INT8, ENCODE_SIGN, ENCODE_RANDOMK,
            TOPK_SAMPLE, TOPK_COUNT, TOPK_COMPACT,
            TABLE_FIND, TABLE_EVICT, TABLE_RESET_STATE, TABLE_WRITE_ROWS, TABLE_GATHER_ROWS, TABLE_APPLY_ROWS,
            TABLE_READ_COUNTERS, TABLE_WRITE_COUNTERS,
            RELU, RELU_BACKWARD, ADD_BIAS, COLUMN_SUMS, SOFTMAX_XENT, COUNT_CORRECT, SGEMM);

    private KernelNames() {
    }
}
