package io.gpups.cuda;

import jcuda.Pointer;
import jcuda.driver.CUstream;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasOperation;
import jcuda.runtime.cudaStream_t;

import static jcuda.jcublas.JCublas2.cublasCreate;
import static jcuda.jcublas.JCublas2.cublasDestroy;
import static jcuda.jcublas.JCublas2.cublasSetStream;
import static jcuda.jcublas.JCublas2.cublasSgemm;

/**
 * GEMM by cuBLAS (JCublas, which links {@code libcublas.so.12}). Only constructed when
 * {@link CudaAvailability.Result#blasCause()} is null, so JCublas's natives are known to load.
 */
final class CublasGemm implements Gemm {

    private final cublasHandle handle;

    CublasGemm(CUstream stream) {
        cublasHandle h = new cublasHandle();
        CudaErrors.checkBlas(cublasCreate(h), "cublasCreate");
        try {
            CudaErrors.checkBlas(cublasSetStream(h, new cudaStream_t(stream)), "cublasSetStream");
        } catch (RuntimeException e) {
            cublasDestroy(h);
            throw e;
        }
        this.handle = h;
    }

    /**
     * cuBLAS is column-major; a row-major matrix is its transpose in column-major. So row-major
     * {@code C = op(A) op(B)} is column-major {@code C^T = op(B)^T op(A)^T}: the same call with A and B swapped and
     * m and n swapped, each operand keeping its own transpose flag and leading dimension.
     */
    @Override
    public void run(boolean transA, boolean transB, int m, int n, int k,
                    float alpha, CudaBuffer a, CudaBuffer b, float beta, CudaBuffer c) {
        int lda = Math.max(1, transA ? m : k);
        int ldb = Math.max(1, transB ? k : n);
        CudaErrors.checkBlas(cublasSgemm(handle,
                        transB ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N,
                        transA ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N,
                        n, m, k, Pointer.to(new float[] {alpha}), b.at(0), ldb, a.at(0), lda,
                        Pointer.to(new float[] {beta}), c.at(0), n),
                "cublasSgemm(m=" + m + " n=" + n + " k=" + k + ")");
    }

    @Override
    public String description() {
        return "cuBLAS (JCublas, libcublas.so.12 loaded)";
    }

    @Override
    public void close() {
        cublasDestroy(handle);
    }
}
