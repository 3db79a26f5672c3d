package io.gpups.cuda;

import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;

import static jcuda.driver.JCudaDriver.cuLaunchKernel;

/**
 * GEMM by {@code gpups_sgemm}, the tiled kernel of {@code gpups_kernels.cu}: for machines where JCublas cannot load
 * (only CUDA 13 libraries, no {@code libcublas.so.12}). Each block of {@value #THREADS} threads computes a
 * {@value #TILE} x {@value #TILE} tile of C, each thread 4 x 4 of it, stepping through K {@value #TILE_K} at a time
 * in shared memory; every product is accumulated with one fma in K order, so it differs from cuBLAS (and OpenBLAS)
 * only in rounding.
 */
final class KernelGemm implements Gemm {

    /** Must match GEMM_TILE, GEMM_TILE_K and GEMM_THREADS in gpups_kernels.cu. */
    static final int TILE = 64;
    static final int TILE_K = 16;
    static final int THREADS = 256;

    private final KernelModule kernels;
    private final CUstream stream;
    private final String reason;

    /** @param reason why cuBLAS is not used, for {@link #description()} */
    KernelGemm(KernelModule kernels, CUstream stream, String reason) {
        this.kernels = kernels;
        this.stream = stream;
        this.reason = reason;
    }

    /** Blocks along n (x) and along m (y) for an {@code m x n} C. */
    static int[] grid(int m, int n) {
        return new int[] {(n + TILE - 1) / TILE, (m + TILE - 1) / TILE};
    }

    @Override
    public void run(boolean transA, boolean transB, int m, int n, int k,
                    float alpha, CudaBuffer a, CudaBuffer b, float beta, CudaBuffer c) {
        int[] grid = grid(m, n);
        if (grid[1] > 65535) {
            throw new IllegalArgumentException("gemm: m=" + m + " rows need " + grid[1]
                    + " blocks along y, the grid allows 65535 (at most " + 65535 * TILE + " rows)");
        }
        CUfunction f = kernels.function(KernelNames.SGEMM);
        Pointer args = Pointer.to(
                Pointer.to(new int[] {transA ? 1 : 0}), Pointer.to(new int[] {transB ? 1 : 0}),
                Pointer.to(new int[] {m}), Pointer.to(new int[] {n}), Pointer.to(new int[] {k}),
                Pointer.to(new float[] {alpha}), Pointer.to(a.at(0)), Pointer.to(b.at(0)),
                Pointer.to(new float[] {beta}), Pointer.to(c.at(0)));
        CudaErrors.check(cuLaunchKernel(f, grid[0], grid[1], 1, THREADS, 1, 1, 0, stream, args, null),
                "cuLaunchKernel(" + KernelNames.SGEMM + ", m=" + m + " n=" + n + " k=" + k + ")");
    }

    @Override
    public String description() {
        return "gpups_sgemm, the project's own tiled kernel (cuBLAS not used: " + reason + ")";
    }

    @Override
    public void close() {
        // The kernel belongs to the device's module, which the device closes.
    }
}
