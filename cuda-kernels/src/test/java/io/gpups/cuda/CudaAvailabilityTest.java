package io.gpups.cuda;

import jcuda.driver.JCudaDriver;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The reasons CUDA is unavailable, each one line. */
class CudaAvailabilityTest {

    /** Where a driver puts libcuda.so.1; on a machine without any of them the reason must be the libcuda one. */
    static boolean libcudaInstalled() {
        List<String> dirs = new ArrayList<>(List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib",
                "/usr/local/nvidia/lib64", "/usr/lib/wsl/lib"));
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) {
            dirs.addAll(List.of(ld.split(File.pathSeparator)));
        }
        return dirs.stream().anyMatch(d -> !d.isEmpty() && Files.exists(Path.of(d, "libcuda.so.1")));
    }

    @Test
    void withoutADriverTheReasonIsTheMissingLibcudaInOneLine() {
        Assumptions.assumeFalse(libcudaInstalled(), "libcuda.so.1 is installed here");
        String cause = new CudaDeviceProvider().unavailabilityCause();
        assertTrue(cause.startsWith("libcuda.so.1 not found (no NVIDIA driver installed on this machine; "), cause);
        assertTrue(cause.contains("libcuda.so.1: cannot open shared object file"), cause);
        assertFalse(cause.contains("\n"), cause);
        assertEquals(0, new CudaDeviceProvider().deviceCount());
    }

    @Test
    void theFirstReasonIsKeptBecauseJCudaGivesItOnlyOnce() {
        Assumptions.assumeFalse(libcudaInstalled(), "libcuda.so.1 is installed here");
        String first = new CudaDeviceProvider().unavailabilityCause();
        // A later touch of JCuda only says that the class failed to initialize...
        assertThrows(NoClassDefFoundError.class, () -> JCudaDriver.cuInit(0));
        // ...so every provider keeps answering with the first, informative reason.
        assertSame(first, new CudaDeviceProvider().unavailabilityCause());
    }

    @Test
    void reasonsForEachMissingLibrary() {
        // JCuda's message: one line per loading attempt; the last names the missing dependency.
        UnsatisfiedLinkError driver = new UnsatisfiedLinkError("""
                Error while loading native library "JCudaDriver-12.0.0-linux-x86_64"
                Operating system name: Linux
                ---(start of nested stack traces)---
                java.lang.UnsatisfiedLinkError: /tmp/libJCudaDriver-12.0.0-linux-x86_64.so: libcuda.so.1: cannot open shared object file: No such file or directory
                ---(end of nested stack traces)---""");
        assertEquals("libcuda.so.1 not found (no NVIDIA driver installed on this machine; JCuda's "
                        + "JCudaDriver-12.0.0-linux-x86_64: libcuda.so.1: cannot open shared object file: No such file "
                        + "or directory)", CudaAvailability.driverLibraryCause(driver));
        assertEquals("JCuda failed to initialize earlier in this process (Could not initialize class "
                        + "jcuda.driver.JCudaDriver)", CudaAvailability.driverLibraryCause(
                new NoClassDefFoundError("Could not initialize class jcuda.driver.JCudaDriver")));

        UnsatisfiedLinkError blas = new UnsatisfiedLinkError("""
                Error while loading native library "JCublas2-12.0.0-linux-x86_64"
                java.lang.UnsatisfiedLinkError: /tmp/libJCublas2-12.0.0-linux-x86_64.so: libcublas.so.12: cannot open shared object file: No such file or directory""");
        String cause = CudaAvailability.blasLibraryCause(blas);
        assertTrue(cause.startsWith("libcublas.so.12 not found (JCublas needs cuBLAS from CUDA 12"), cause);
        assertTrue(cause.endsWith("JCublas2-12.0.0-linux-x86_64: libcublas.so.12: cannot open shared object file: "
                + "No such file or directory)"), cause);
    }

    /** JCublas's own message on a machine that has no libcublas.so.12 (only CUDA 13 libraries, or none). */
    private static final String NO_CUBLAS_12 = """
            Error while loading native library "JCublas2-12.6.0-linux-x86_64"
            java.lang.UnsatisfiedLinkError: /tmp/libJCublas2-12.6.0-linux-x86_64.so: libcublas.so.12: cannot open shared object file: No such file or directory""";

    @Test
    void withoutCublas12CudaStaysUsableAndGemmRunsOnTheProjectsKernel() {
        CudaAvailability.DriverState driver = new CudaAvailability.DriverState(null, 13000, 1);
        CudaAvailability.Result result = CudaAvailability.decide(driver, 13000, true, () -> {
            throw new UnsatisfiedLinkError(NO_CUBLAS_12);
        });
        assertNull(result.cause(), "a missing cuBLAS does not make CUDA unusable");
        assertEquals(1, result.deviceCount());
        assertTrue(result.blasCause().startsWith("libcublas.so.12 not found"), result.blasCause());
        Gemm gemm = CudaDevice.chooseGemm("auto", result.blasCause(), null, null);
        assertTrue(gemm instanceof KernelGemm, gemm.description());
        assertTrue(gemm.description().startsWith("gpups_sgemm, the project's own tiled kernel (cuBLAS not used: "
                + "libcublas.so.12 not found"), gemm.description());
        // Where cuBLAS loads, it is the GEMM, and the driver and kernels alone decide.
        assertNull(CudaAvailability.decide(driver, 13000, true, () -> { }).blasCause());
        assertEquals("the CUDA kernels are not in this jar (nvcc was missing when it was built)",
                CudaAvailability.decide(driver, -1, false, () -> { }).cause());
        assertTrue(CudaAvailability.decide(new CudaAvailability.DriverState(null, 12040, 1), 13000, true, () -> { })
                .cause().startsWith("NVIDIA driver too old"));
        assertTrue(CudaAvailability.decide(new CudaAvailability.DriverState(null, 13000, 0), 13000, true, () -> { })
                .cause().startsWith("no CUDA device visible"));
    }

    @Test
    void onAMachineWithoutCublas12TheRealJCublasLoadFailsWithThatReason() {
        List<String> dirs = new ArrayList<>(List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib",
                "/usr/local/cuda/lib64", "/usr/local/cuda-12/lib64"));
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) {
            dirs.addAll(List.of(ld.split(File.pathSeparator)));
        }
        Assumptions.assumeFalse(dirs.stream().anyMatch(d -> !d.isEmpty() && Files.exists(Path.of(d, "libcublas.so.12"))),
                "libcublas.so.12 is installed here");
        String cause = CudaAvailability.blasCause(CudaAvailability::loadBlas);
        assertTrue(cause != null && cause.startsWith("libcublas.so.12 not found"), String.valueOf(cause));
        assertFalse(cause.contains("\n"), cause);
    }

    @Test
    void theGemmChoiceIsValidated() {
        assertTrue(CudaDevice.chooseGemm("kernel", null, null, null) instanceof KernelGemm);
        IllegalStateException noBlas = assertThrows(IllegalStateException.class,
                () -> CudaDevice.chooseGemm("cublas", "libcublas.so.12 not found", null, null));
        assertTrue(noBlas.getMessage().contains("libcublas.so.12 not found"), noBlas.getMessage());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> CudaDevice.chooseGemm("mkl", null, null, null));
        assertEquals("-Dgpups.cuda.gemm=mkl: expected auto, cublas or kernel", bad.getMessage());
    }

    @Test
    void aDriverOlderThanTheKernelsToolkitMajorIsTooOld() {
        assertEquals("NVIDIA driver too old for the kernels: it supports CUDA 12.4, the kernels were built by nvcc 13.0 "
                        + "and need a driver for CUDA 13.x (upgrade the driver, or rebuild the kernels with a CUDA 12 nvcc)",
                CudaAvailability.driverTooOld(12040, 13000));
        // CUDA minor-version compatibility: SASS from nvcc 12.8 loads on a 12.0 (R525) driver.
        assertNull(CudaAvailability.driverTooOld(12000, 12080));
        assertNull(CudaAvailability.driverTooOld(13000, 13000));
        assertNull(CudaAvailability.driverTooOld(12040, -1));
    }

    @Test
    void theProviderIsTheCudaKindAbovetheCpu() {
        CudaDeviceProvider provider = new CudaDeviceProvider();
        assertEquals("cuda", provider.kind());
        assertTrue(provider.priority() > 0, "cpu's priority is 0");
    }
}
