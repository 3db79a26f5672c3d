package io.gpups.cuda;

/**
 * How a {@link CudaDevice} multiplies matrices: cuBLAS through JCublas where {@code libcublas.so.12} loads
 * ({@link CublasGemm}), else the tiled kernel of {@code gpups_kernels.cu} ({@link KernelGemm}). Both take row-major
 * operands already range-checked by the device, on the device's stream.
 */
interface Gemm extends AutoCloseable {

    /** Row-major {@code C (m x n) = alpha op(A) op(B) + beta C}, with {@code m, n > 0} and {@code k >= 0}. */
    void run(boolean transA, boolean transB, int m, int n, int k,
             float alpha, CudaBuffer a, CudaBuffer b, float beta, CudaBuffer c);

    /** One line for the log: which GEMM this is and why it was chosen. */
    String description();

    @Override
    void close();
}
