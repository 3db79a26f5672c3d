package io.gpups.cuda;

import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceProvider;
import io.gpups.core.device.DeviceUnavailableException;

/**
 * The {@code cuda} device kind: one device per visible GPU, preferred over {@code cpu} by {@code --device auto}.
 * Constructing this provider touches no JCuda class, so {@link java.util.ServiceLoader} can always make it;
 * {@link #unavailabilityCause()} probes the driver once per process and never throws (see {@link CudaAvailability}).
 */
public final class CudaDeviceProvider implements DeviceProvider {

    /** Above the CPU device's 0. */
    public static final int PRIORITY = 10;

    @Override
    public String kind() {
        return "cuda";
    }

    @Override
    public int priority() {
        return PRIORITY;
    }

    /**
     * Null when CUDA can be used; else one line: libcuda missing, no device, driver too old for the kernels, or
     * kernels missing from the jar. A missing cuBLAS is not a reason: GEMM then runs on the project's own kernel.
     */
    @Override
    public String unavailabilityCause() {
        return CudaAvailability.get().cause();
    }

    /** Visible GPUs; 0 when CUDA is unavailable. */
    @Override
    public int deviceCount() {
        return CudaAvailability.get().deviceCount();
    }

    /** Opens GPU {@code ordinal} with its own stream; see {@link CudaDevice}. */
    @Override
    public Device open(int ordinal) {
        CudaAvailability.Result probe = CudaAvailability.get();
        if (probe.cause() != null) {
            throw new DeviceUnavailableException("cuda unavailable: " + probe.cause());
        }
        if (ordinal < 0 || ordinal >= probe.deviceCount()) {
            throw new DeviceUnavailableException("cuda:" + ordinal + ": ordinal out of range, this machine has "
                    + probe.deviceCount() + " visible CUDA device(s)");
        }
        return CudaDevice.open(ordinal);
    }
}
