package io.gpups.cuda;

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

    /** Every kernel, in source order. */
    public static final List<String> ALL = List.of(
            FILL, ACCUMULATE, SCALE, SGD, MOMENTUM, NESTEROV, ADAGRAD, ADAM, ADAMW,
            RELU, RELU_BACKWARD, ADD_BIAS, COLUMN_SUMS, SOFTMAX_XENT, COUNT_CORRECT);

    private KernelNames() {
    }
}
