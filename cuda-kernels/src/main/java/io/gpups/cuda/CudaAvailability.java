package io.gpups.cuda;

import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;
import jcuda.jcublas.JCublas2;

/**
 * Whether this process can use CUDA, and if not, why, in one line (the shape of Netty's
 * {@code Epoll.unavailabilityCause()}). Checked in this order, the first failure being the reason:
 * <ol>
 *   <li>the driver library: JCuda's native code links {@code libcuda.so.1}, which only an NVIDIA driver installs;</li>
 *   <li>{@code cuInit} and at least one visible device;</li>
 *   <li>the driver is new enough for the kernels in this jar (its CUDA major version at least the major version of
 *       the nvcc that built them; CUDA's minor-version compatibility covers the rest);</li>
 *   <li>the kernels are in the jar at all (nvcc was present at build time).</li>
 * </ol>
 * cuBLAS is not among them: a shard never multiplies matrices, and a worker's GEMM falls back to the project's own
 * kernel ({@link KernelGemm}) where JCublas cannot load ({@code libcublas.so.12} is CUDA 12's; a machine with only
 * CUDA 13 libraries lacks it). {@link Result#blasCause()} says which GEMM a device will use and why.
 *
 * <p>The answer is computed once per process and kept: JCuda loads its natives in a static initializer, so only the
 * first touch of {@code JCudaDriver} says why it failed ({@link UnsatisfiedLinkError}); every later touch is a bare
 * {@link NoClassDefFoundError}. Nothing here throws a {@link LinkageError} to the caller.
 */
final class CudaAvailability {

    /**
     * The outcome of the probe: {@code cause} null when usable, else {@code deviceCount} is 0. {@code blasCause}:
     * null when JCublas loads (GEMM by cuBLAS), else why not (GEMM by the project's kernel); meaningless when CUDA is
     * unusable.
     */
    record Result(String cause, int deviceCount, int driverVersion, String blasCause) {
    }

    private CudaAvailability() {
    }

    /** The process-wide result, probed on first use. */
    static Result get() {
        return Holder.RESULT;
    }

    private static final class Holder {
        static final Result RESULT = probe();
    }

    private static Result probe() {
        String ptx = KernelImage.ptx();
        boolean kernelsInJar = ptx != null || KernelImage.resource(KernelNames.FATBIN_RESOURCE) != null;
        return decide(probeDriver(), ptx == null ? -1 : KernelImage.toolkitVersion(ptx), kernelsInJar,
                CudaAvailability::loadBlas);
    }

    /** Loads JCublas's natives; throws the {@link LinkageError} of a failed load. */
    static void loadBlas() {
        JCublas2.initialize();
    }

    /** A way to load cuBLAS: {@link #loadBlas}, or in tests one that fails as on a machine without cuBLAS 12. */
    interface BlasLoader {
        void load();
    }

    /** What the driver said: {@code cause} null when it initialized and counted its devices. */
    record DriverState(String cause, int driverVersion, int deviceCount) {
    }

    /** Asks the driver (through JCuda) whether it loads, initializes, how new it is and how many devices it sees. */
    static DriverState probeDriver() {
        try {
            int init = JCudaDriver.cuInit(0);
            if (init == CUresult.CUDA_ERROR_NO_DEVICE) {
                return new DriverState(noDevice("cuInit: CUDA_ERROR_NO_DEVICE"), -1, 0);
            }
            if (init != CUresult.CUDA_SUCCESS) {
                return new DriverState("cuInit failed: " + CUresult.stringFor(init)
                        + " (driver installed but not usable: check nvidia-smi and the container runtime)", -1, 0);
            }
            int[] value = new int[1];
            int r = JCudaDriver.cuDriverGetVersion(value);
            if (r != CUresult.CUDA_SUCCESS) {
                return new DriverState("cuDriverGetVersion failed: " + CUresult.stringFor(r), -1, 0);
            }
            int driverVersion = value[0];
            r = JCudaDriver.cuDeviceGetCount(value);
            if (r != CUresult.CUDA_SUCCESS) {
                return new DriverState("cuDeviceGetCount failed: " + CUresult.stringFor(r), driverVersion, 0);
            }
            return new DriverState(null, driverVersion, value[0]);
        } catch (LinkageError e) {
            return new DriverState(driverLibraryCause(e), -1, 0);
        } catch (RuntimeException e) {
            return new DriverState("CUDA driver probe failed: " + firstLine(e), -1, 0);
        }
    }

    /**
     * Whether CUDA is usable given what the driver said, the nvcc version of the kernels in the jar (-1 if unknown),
     * whether the jar holds kernels at all, and how cuBLAS loads. Only the driver and the kernels decide; cuBLAS
     * only chooses the GEMM ({@link Result#blasCause()}).
     */
    static Result decide(DriverState driver, int toolkitVersion, boolean kernelsInJar, BlasLoader blas) {
        if (driver.cause() != null) {
            return unavailable(driver.cause());
        }
        if (driver.deviceCount() < 1) {
            return unavailable(noDevice("cuDeviceGetCount: 0"));
        }
        String old = driverTooOld(driver.driverVersion(), toolkitVersion);
        if (old != null) {
            return unavailable(old);
        }
        if (!kernelsInJar) {
            return unavailable("the CUDA kernels are not in this jar (nvcc was missing when it was built)");
        }
        return new Result(null, driver.deviceCount(), driver.driverVersion(), blasCause(blas));
    }

    private static Result unavailable(String cause) {
        return new Result(cause, 0, -1, null);
    }

    /** Null when {@code blas} loads; else why not, in one line. Never throws. */
    static String blasCause(BlasLoader blas) {
        try {
            blas.load();
            return null;
        } catch (LinkageError e) {
            return blasLibraryCause(e);
        } catch (RuntimeException e) {
            return "JCublas failed to initialize (" + firstLine(e) + ")";
        }
    }

    private static String noDevice(String detail) {
        String visible = System.getenv("CUDA_VISIBLE_DEVICES");
        return "no CUDA device visible (" + detail + (visible == null ? "" : ", CUDA_VISIBLE_DEVICES=" + visible)
                + "; in a container, start it with --gpus or the NVIDIA runtime)";
    }

    /**
     * Why the driver cannot run kernels built by nvcc {@code toolkitVersion}, or null when it can. Both versions are
     * encoded as by {@code cuDriverGetVersion} (12040 is 12.4); an unknown toolkit version (-1) passes.
     */
    static String driverTooOld(int driverVersion, int toolkitVersion) {
        if (toolkitVersion < 0 || driverVersion / 1000 >= toolkitVersion / 1000) {
            return null;
        }
        return "NVIDIA driver too old for the kernels: it supports CUDA " + KernelImage.versionString(driverVersion)
                + ", the kernels were built by nvcc " + KernelImage.versionString(toolkitVersion) + " and need a driver for CUDA "
                + toolkitVersion / 1000 + ".x (upgrade the driver, or rebuild the kernels with a CUDA "
                + driverVersion / 1000 + " nvcc)";
    }

    /** The reason for a failed first touch of JCuda's driver natives. */
    static String driverLibraryCause(LinkageError e) {
        String missing = lineNaming(e, "libcuda.so");
        if (missing != null) {
            return "libcuda.so.1 not found (no NVIDIA driver installed on this machine; JCuda's " + library(e) + ": "
                    + missing + ")";
        }
        if (e instanceof NoClassDefFoundError) {
            return "JCuda failed to initialize earlier in this process (" + firstLine(e) + ")";
        }
        return "JCuda's driver natives do not load (" + firstLine(e) + ")";
    }

    /** The reason for a failed first touch of JCublas2's natives. */
    static String blasLibraryCause(LinkageError e) {
        String missing = lineNaming(e, "libcublas.so");
        if (missing != null) {
            return "libcublas.so.12 not found (JCublas needs cuBLAS from CUDA 12; for cuBLAS, put the CUDA 12 libraries "
                    + "on LD_LIBRARY_PATH; " + library(e) + ": " + missing + ")";
        }
        return "JCublas natives do not load (" + firstLine(e) + ")";
    }

    /**
     * JCuda's message is several lines (one per way it tried to load its library); the line that names
     * {@code needle}, from the needle on, e.g. {@code libcuda.so.1: cannot open shared object file: ...}; or null.
     */
    static String lineNaming(Throwable e, String needle) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            for (String line : String.valueOf(t.getMessage()).split("\n")) {
                int at = line.indexOf(needle);
                if (at >= 0) {
                    return line.substring(at).strip();
                }
            }
        }
        return null;
    }

    /** The JCuda library named in quotes on the first line ({@code Error while loading native library "X"}), or "natives". */
    private static String library(Throwable e) {
        String first = firstLine(e);
        int open = first.indexOf('"');
        int close = first.lastIndexOf('"');
        return open >= 0 && close > open ? first.substring(open + 1, close) : "natives";
    }

    /** The first line of the message. */
    static String firstLine(Throwable e) {
        String message = String.valueOf(e.getMessage()).strip();
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline).strip();
    }
}
