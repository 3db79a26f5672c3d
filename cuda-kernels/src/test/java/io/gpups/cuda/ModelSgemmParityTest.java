package io.gpups.cuda;

import io.gpups.core.device.DeviceBuffer;
import io.gpups.nativecpu.CpuDevice;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * The host kernel tier for {@code gpups_sgemm}, the tiled SGEMM a worker runs where cuBLAS 12 cannot load: the kernel
 * of {@code gpups_kernels.cu}, compiled unmodified for the host CUDA model, launched with {@link KernelGemm}'s grid
 * ({@code ceil(n/64) x ceil(m/64)} blocks of 256 threads), for all four transpositions and every {@code m, n, k} from
 * {1, 3, 63, 64, 65, 257} (257 in at most one of them, plus 257 in all three; k also 0): one element, less than a
 * 16-deep K step, a tile less one, a tile, a tile and one, four tiles and one.
 *
 * <p>Two references, because each misses what the other catches:
 * <ul>
 *   <li><b>Bit for bit</b> against the kernel's own numerics, as its comment states them: each element of C is one
 *       fma chain over K in order from 0 ({@link Math#fma} rounds once, as {@code fmaf} does), then
 *       {@code alpha * acc} or {@code fmaf(beta, c, alpha * acc)}. Zero-padding of partial tiles adds
 *       {@code fma(0, 0, acc) == acc} exactly, so any indexing or bound error shows as a changed bit, never hidden in
 *       a tolerance.</li>
 *   <li><b>Within rounding</b> of a double-precision product, together with the CPU device's GEMM (OpenBLAS): both
 *       must lie within the standard bound for a k-term dot product then scaled and added,
 *       {@code |x - exact| <= gamma(k + 2) (|alpha| sum|a b| + |beta c|)}, {@code gamma(j) = j u / (1 - j u)},
 *       {@code u = 2^-24}. OpenBLAS sums in its own blocked order, so it cannot be matched bit for bit; this check
 *       is what ties the fma-chain reference (and so the kernel) to the product GEMM means, transpositions
 *       included, independently of how the reference is written.</li>
 * </ul>
 *
 * <p>The kernel takes no leading dimensions: op(A)'s row stride is k (or m, transposed), B's n (or k), C's n, as
 * {@code Device.gemm} passes whole buffers. What a leading-dimension test would catch, a read or write past an
 * operand's rows, is caught here instead by placing every operand inside a larger buffer, at element 0 or at an odd
 * element, with the model's sentinel before and after it: A and B must read back unchanged, C must be untouched
 * outside its m x n elements, and a read of the sentinel (a NaN) would poison the result.
 */
class ModelSgemmParityTest {

    static final int[] SIZES = {1, 3, 63, 64, 65, 257};
    /** K also 0: C = beta C (alpha times an empty sum). */
    static final int[] K_SIZES = {0, 1, 3, 63, 64, 65, 257};
    /** Floats of sentinel after each operand. */
    private static final int GUARD = 67;
    private static final double U = 0x1p-24;

    /** alpha and beta for a case; beta 0 runs over a C full of NaN (BLAS: C is then only written). */
    private record Scalars(float alpha, float beta) {
    }

    private static final Scalars[] SCALARS = {
        new Scalars(-0.75f, 1.5f), new Scalars(1f, 0f), new Scalars(0.3f, -2f), new Scalars(1f, 1f), new Scalars(2.5f, 0f),
    };

    private static CpuDevice cpu;

    @BeforeAll
    static void openCpu() {
        cpu = new CpuDevice(1);
    }

    @AfterAll
    static void closeCpu() {
        cpu.close();
    }

    /** A transposition and m; the test runs every n and k for it. */
    record Case(boolean transA, boolean transB, int m) {
        @Override
        public String toString() {
            return (transA ? "A^T" : "A") + " " + (transB ? "B^T" : "B") + ", m=" + m;
        }
    }

    static Stream<Case> cases() {
        List<Case> cases = new ArrayList<>();
        for (boolean transA : new boolean[] {false, true}) {
            for (boolean transB : new boolean[] {false, true}) {
                for (int m : SIZES) {
                    cases.add(new Case(transA, transB, m));
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void sgemmMatchesItsFmaChainBitForBitAndOpenBlasWithinRounding(Case c) {
        int shape = 0;
        for (int n : SIZES) {
            for (int k : K_SIZES) {
                int at257 = (c.m() == 257 ? 1 : 0) + (n == 257 ? 1 : 0) + (k == 257 ? 1 : 0);
                if (at257 == 2) {
                    continue;  // 257 in one dimension, or in all three
                }
                Scalars s = SCALARS[(shape + c.m()) % SCALARS.length];
                int offset = shape % 2;  // element 0 (as CudaDevice passes a buffer) or an odd element
                check(c.transA(), c.transB(), c.m(), n, k, s.alpha(), s.beta(), offset,
                        31L * shape + 1009L * c.m() + (c.transA() ? 7 : 0) + (c.transB() ? 13 : 0));
                shape++;
            }
        }
    }

    private static void check(boolean transA, boolean transB, int m, int n, int k, float alpha, float beta, int offset,
                              long seed) {
        String what = (transA ? "A^T" : "A") + " " + (transB ? "B^T" : "B") + " m=" + m + " n=" + n + " k=" + k
                + " alpha=" + alpha + " beta=" + beta + " at element " + offset;
        SplittableRandom random = new SplittableRandom(seed);
        float[] a = values(random, m * k);
        float[] b = values(random, k * n);
        float[] c0 = values(random, m * n);

        ModelMemory ma = operand(offset, a);
        ModelMemory mb = operand(offset, b);
        float[] cIn = c0.clone();
        if (beta == 0f) {
            Arrays.fill(cIn, Float.NaN);
        }
        ModelMemory mc = operand(offset, cIn);
        int[] grid = KernelGemm.grid(m, n);
        ModelKernels.launch(KernelNames.SGEMM, grid[0], grid[1], KernelGemm.THREADS, transA ? 1 : 0, transB ? 1 : 0,
                m, n, k, alpha, ma.floatAt(offset), mb.floatAt(offset), beta, mc.floatAt(offset));
        float[] got = mc.floats(offset, m * n);

        assertBits(what + ": A", a, ma.floats(offset, a.length));
        ma.assertUntouchedOutside(what + ": A", offset, a.length);
        assertBits(what + ": B", b, mb.floats(offset, b.length));
        mb.assertUntouchedOutside(what + ": B", offset, b.length);
        mc.assertUntouchedOutside(what + ": C", offset, (long) m * n);

        float[] chain = fmaChain(transA, transB, m, n, k, alpha, a, b, beta, c0);
        assertBits(what + " vs the fma chain in K order", chain, got);

        float[] blas = openBlas(transA, transB, m, n, k, alpha, a, b, beta, c0);
        double gamma = (k + 2) * U / (1 - (k + 2) * U);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double exact = 0;
                double magnitude = 0;
                for (int p = 0; p < k; p++) {
                    double ab = (double) opA(transA, a, m, k, i, p) * opB(transB, b, k, n, p, j);
                    exact += ab;
                    magnitude += Math.abs(ab);
                }
                double cij = c0[i * n + j];
                exact = alpha * exact + beta * cij;
                double bound = gamma * (Math.abs(alpha) * magnitude + Math.abs(beta * cij)) + Float.MIN_NORMAL;
                int e = i * n + j;
                if (!(Math.abs(got[e] - exact) <= bound) || !(Math.abs(blas[e] - exact) <= bound)) {
                    throw new AssertionError(what + ": C[" + i + "][" + j + "] = " + got[e] + " (kernel), " + blas[e]
                            + " (OpenBLAS), exact " + exact + ", allowed error " + bound);
                }
            }
        }
    }

    /** op(A)[i][p]: A is m x k (row stride k), or with transA k x m (row stride m). */
    private static float opA(boolean transA, float[] a, int m, int k, int i, int p) {
        return transA ? a[p * m + i] : a[i * k + p];
    }

    /** op(B)[p][j]: B is k x n (row stride n), or with transB n x k (row stride k). */
    private static float opB(boolean transB, float[] b, int k, int n, int p, int j) {
        return transB ? b[j * k + p] : b[p * n + j];
    }

    /** C as the kernel computes it: one fma chain per element over K in order, then alpha and beta. */
    private static float[] fmaChain(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a,
                                    float[] b, float beta, float[] c) {
        float[] out = new float[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float acc = 0f;
                for (int p = 0; p < k; p++) {
                    acc = Math.fma(opA(transA, a, m, k, i, p), opB(transB, b, k, n, p, j), acc);
                }
                out[i * n + j] = beta == 0f ? alpha * acc : Math.fma(beta, c[i * n + j], alpha * acc);
            }
        }
        return out;
    }

    private static float[] openBlas(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a,
                                    float[] b, float beta, float[] c) {
        try (DeviceBuffer da = upload(a); DeviceBuffer db = upload(b); DeviceBuffer dc = upload(c)) {
            cpu.gemm(transA, transB, m, n, k, alpha, da, db, beta, dc);
            float[] out = new float[c.length];
            cpu.download(dc, 0, out, 0, out.length);
            return out;
        }
    }

    private static DeviceBuffer upload(float[] values) {
        DeviceBuffer buffer = cpu.allocate(Math.max(1, values.length));
        cpu.upload(values, 0, buffer, 0, values.length);
        return buffer;
    }

    /** Values in [-1, 1) with a few exact zeros and a spread of magnitudes, so sums cancel and round. */
    private static float[] values(SplittableRandom random, int count) {
        float[] out = new float[count];
        for (int i = 0; i < count; i++) {
            out[i] = random.nextInt(17) == 0 ? 0f : (float) ((random.nextDouble() * 2 - 1) * Math.scalb(1.0, -random.nextInt(6)));
        }
        return out;
    }

    /** The values at element {@code offset}, the model's sentinel before them and for {@link #GUARD} floats after. */
    private static ModelMemory operand(int offset, float[] values) {
        ModelMemory memory = ModelMemory.floats(offset + values.length + GUARD);
        memory.putFloats(offset, values);
        return memory;
    }

    private static void assertBits(String what, float[] expected, float[] got) {
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(got[i])) {
                throw new AssertionError(what + ": element " + i + " is " + got[i] + " (0x"
                        + Integer.toHexString(Float.floatToRawIntBits(got[i])) + "), expected " + expected[i] + " (0x"
                        + Integer.toHexString(Float.floatToRawIntBits(expected[i])) + ")");
            }
        }
    }
}
