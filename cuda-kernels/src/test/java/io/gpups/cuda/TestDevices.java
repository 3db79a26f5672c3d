package io.gpups.cuda;

import io.gpups.core.device.Device;
import io.gpups.nativecpu.CpuDevice;

import org.junit.jupiter.api.Assumptions;

/**
 * The devices the device suite runs over. The CPU device always opens. The CUDA device opens when this machine can
 * run it; otherwise the calling test is aborted (reported as skipped) with {@link CudaDeviceProvider}'s reason, so a
 * run without a GPU shows every CUDA test as skipped and why, never as passed.
 */
final class TestDevices {

    static final String CPU = "cpu";
    static final String CUDA = "cuda";

    private TestDevices() {
    }

    /** Skips the calling test unless CUDA is usable here. */
    static void assumeCuda() {
        String cause = new CudaDeviceProvider().unavailabilityCause();
        Assumptions.assumeTrue(cause == null, () -> "CUDA device unavailable: " + cause);
    }

    /** A fresh device of {@code kind}; the caller closes it. */
    static Device open(String kind) {
        return switch (kind) {
            case CPU -> new CpuDevice(1);
            case CUDA -> {
                assumeCuda();
                yield new CudaDeviceProvider().open(0);
            }
            default -> throw new IllegalArgumentException("unknown device kind " + kind);
        };
    }
}
