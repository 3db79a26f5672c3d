package io.gpups.nativecpu;

import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.device.Devices;
import io.gpups.core.device.DeviceUnavailableException;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What is particular to the CPU device. The device contract itself (every op against references and closed forms)
 * is one suite run over every device kind: {@code cuda-kernels/src/test/java/io/gpups/cuda/DeviceContractTest}, where
 * the CPU device runs it on every build.
 */
class CpuDeviceTest {

    @Test
    void blasThreadsComeFromTheConstructorOrTheSystemProperty() {
        assertEquals(3, new CpuDevice(3).blasThreads());
        assertThrows(IllegalArgumentException.class, () -> new CpuDevice(0));
        String previous = System.getProperty(CpuDevice.BLAS_THREADS_PROPERTY);
        try {
            System.setProperty(CpuDevice.BLAS_THREADS_PROPERTY, "2");
            assertEquals(2, new CpuDevice().blasThreads());
            System.clearProperty(CpuDevice.BLAS_THREADS_PROPERTY);
            assertEquals(1, new CpuDevice().blasThreads());
        } finally {
            if (previous != null) {
                System.setProperty(CpuDevice.BLAS_THREADS_PROPERTY, previous);
            }
        }
    }

    @Test
    void aDownloadSplitOverThreadsCopiesEverySliceToItsPlace() {
        int n = 2 * (int) RangeSplitter.MIN_SLICE + 7;
        int offset = 5;
        float[] values = new float[offset + n];
        for (int i = 0; i < values.length; i++) {
            values[i] = i * 0.5f - 3f;
        }
        try (CpuDevice device = new CpuDevice(1, 2); DeviceBuffer b = device.allocate(values.length)) {
            device.upload(values, 0, b, 0, values.length);
            ByteBuffer out = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.LITTLE_ENDIAN);
            device.download(b, offset, n, out);
            for (int i = 0; i < n; i++) {
                assertEquals(values[offset + i], out.getFloat(4 * i), "element " + i);
            }
        }
    }

    @Test
    void installedDevicesOpenTheCpuDeviceForCpuAndAuto() {
        List<String> log = new ArrayList<>();
        try (Device cpu = Devices.installed().open("cpu", log::add)) {
            assertInstanceOf(CpuDevice.class, cpu);
            assertEquals("cpu", cpu.name());
        }
        try (Device auto = Devices.installed().open("auto", log::add)) {
            assertInstanceOf(CpuDevice.class, auto);
        }
        assertTrue(log.isEmpty(), "nothing to explain when cpu is the only provider: " + log);
    }

    @Test
    void theCpuProviderHasOneDevice() {
        CpuDeviceProvider provider = new CpuDeviceProvider();
        assertEquals("cpu", provider.kind());
        assertEquals(0, provider.priority());
        assertEquals(1, provider.deviceCount());
        assertEquals(null, provider.unavailabilityCause());
        assertThrows(DeviceUnavailableException.class, () -> provider.open(1));
    }
}
