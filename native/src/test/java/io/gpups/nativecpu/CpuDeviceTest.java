package io.gpups.nativecpu;

import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.device.Devices;
import io.gpups.core.device.DeviceUnavailableException;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The device contract on the CPU, plus what is particular to the CPU device. */
class CpuDeviceTest extends DeviceContractTest {

    @Override
    protected Device newDevice() {
        return new CpuDevice(1);
    }

    @Test
    void useAfterCloseIsAnIllegalStateNamingTheBuffer() {
        DeviceBuffer buffer = device.allocate(5);
        buffer.close();
        buffer.close(); // harmless
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> device.fill(buffer, 1f, 5));
        assertMessageHas(e, buffer.toString(), "closed");
    }

    @Test
    void closingTheDeviceFreesItsBuffersAndRefusesFurtherWork() {
        Device other = new CpuDevice(1);
        DeviceBuffer buffer = other.allocate(5);
        other.close();
        other.close(); // harmless
        buffer.close(); // already freed by the device: still harmless
        assertThrows(IllegalStateException.class, () -> other.allocate(1));
    }

    @Test
    void aBufferOfAnotherDeviceIsRefused() {
        try (CpuDevice other = new CpuDevice(1); DeviceBuffer foreign = other.allocate(4)) {
            assertMessageHas(assertThrows(IllegalArgumentException.class, () -> device.scale(foreign, 2f, 4)),
                    "does not belong");
        }
    }

    @Test
    void aLabelThatIsNotAClassIndexFailsNamingTheRow() {
        DeviceBuffer logits = upload(new float[6]);
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> device.softmaxCrossEntropy(logits, upload(new float[] {1f, 3f}), 2, 3, allocate(6)));
        assertMessageHas(e, "row 1", "[0, 3)");
        assertThrows(RuntimeException.class,
                () -> device.softmaxCrossEntropy(logits, upload(new float[] {0.5f, 1f}), 2, 3, allocate(6)));
    }

    @Test
    void biasCorrectionIsComputedInDouble() {
        assertEquals((float) (1 - Math.pow(0.999f, 1)), CpuDevice.biasCorrection(0.999f, 1));
        assertEquals(1f, CpuDevice.biasCorrection(0.9f, 1_000_000));
    }

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
