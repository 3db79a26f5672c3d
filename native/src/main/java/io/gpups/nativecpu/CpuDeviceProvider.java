package io.gpups.nativecpu;

import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceProvider;
import io.gpups.core.device.DeviceUnavailableException;

/**
 * The {@code cpu} device kind: always available, one device, lowest priority for {@code --device auto}.
 * The OpenBLAS thread count comes from the system property {@value CpuDevice#BLAS_THREADS_PROPERTY}.
 */
public final class CpuDeviceProvider implements DeviceProvider {

    @Override
    public String kind() {
        return "cpu";
    }

    @Override
    public int priority() {
        return 0;
    }

    @Override
    public String unavailabilityCause() {
        return null;
    }

    @Override
    public int deviceCount() {
        return 1;
    }

    @Override
    public Device open(int ordinal) {
        if (ordinal != 0) {
            throw new DeviceUnavailableException("cpu has one device, ordinal 0; got ordinal " + ordinal);
        }
        return new CpuDevice();
    }
}
