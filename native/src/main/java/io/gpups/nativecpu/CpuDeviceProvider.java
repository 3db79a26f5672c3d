package io.gpups.nativecpu;

import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceProvider;
import io.gpups.core.device.DeviceUnavailableException;

import org.bytedeco.javacpp.Loader;

/**
 * The {@code cpu} device kind: one device, lowest priority for {@code --device auto}, available wherever the
 * jar carries the JNI library for the platform (linux-x86_64 is built). The OpenBLAS thread count comes from
 * the system property {@value CpuDevice#BLAS_THREADS_PROPERTY}.
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

    /** Null once the native kernels load; else the loader's reason, in one line. */
    @Override
    public String unavailabilityCause() {
        try {
            Loader.load(CpuKernels.class);
            return null;
        } catch (LinkageError e) {
            String message = String.valueOf(e.getMessage());
            int newline = message.indexOf('\n');
            return "the native CPU kernels do not load on platform " + Loader.getPlatform() + ": "
                    + (newline < 0 ? message : message.substring(0, newline));
        }
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
