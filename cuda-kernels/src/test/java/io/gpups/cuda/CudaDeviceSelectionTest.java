package io.gpups.cuda;

import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceProvider;
import io.gpups.core.device.DeviceUnavailableException;
import io.gpups.core.device.Devices;
import io.gpups.nativecpu.CpuDevice;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@code --device} resolution with both providers installed, as in the gpups jar. */
class CudaDeviceSelectionTest {

    private static String cause() {
        return new CudaDeviceProvider().unavailabilityCause();
    }

    private static void assumeNoCuda() {
        Assumptions.assumeTrue(cause() != null, "CUDA is available here; the fallback tests need a machine without it");
    }

    @Test
    void bothProvidersAreInstalled() {
        List<String> kinds = new ArrayList<>();
        java.util.ServiceLoader.load(DeviceProvider.class).forEach(p -> kinds.add(p.kind()));
        assertEquals(List.of("cpu", "cuda"), kinds.stream().sorted().toList());
    }

    @Test
    void autoFallsBackToTheCpuAndLogsTheReasonInOneLine() {
        assumeNoCuda();
        List<String> log = new ArrayList<>();
        try (Device device = Devices.installed().open("auto", log::add)) {
            assertInstanceOf(CpuDevice.class, device);
        }
        assertEquals(List.of("device auto: cuda unavailable (" + cause() + "), trying the next kind"), log);
    }

    @Test
    void cudaWhereThereIsNoneFailsAtOnceWithTheReason() {
        assumeNoCuda();
        List<String> log = new ArrayList<>();
        for (String spec : List.of("cuda", "cuda:3")) {
            DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                    () -> Devices.installed().open(spec, log::add));
            assertEquals("device '" + spec + "' unavailable: " + cause(), e.getMessage());
        }
        assertEquals(List.of(), log);
        DeviceUnavailableException direct = assertThrows(DeviceUnavailableException.class,
                () -> new CudaDeviceProvider().open(0));
        assertEquals("cuda unavailable: " + cause(), direct.getMessage());
    }

    @Test
    void anOrdinalIsParsed() {
        assertEquals(new Devices.DeviceSpec("cuda", 3), Devices.DeviceSpec.parse("cuda:3"));
        assertEquals(new Devices.DeviceSpec("cuda", 0), Devices.DeviceSpec.parse("CUDA"));
        assertThrows(IllegalArgumentException.class, () -> Devices.DeviceSpec.parse("cuda:-1"));
        assertThrows(IllegalArgumentException.class, () -> Devices.DeviceSpec.parse("cpu:1"));
    }

    @Test
    void withAGpuAutoPicksCudaAndAnOrdinalOutOfRangeIsNamed() {
        TestDevices.assumeCuda();
        List<String> log = new ArrayList<>();
        try (Device device = Devices.installed().open("auto", log::add)) {
            assertInstanceOf(CudaDevice.class, device);
            assertEquals("cuda:0", device.name());
        }
        assertEquals(List.of(), log);
        int count = new CudaDeviceProvider().deviceCount();
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> Devices.installed().open("cuda:" + count, log::add));
        assertEquals("device 'cuda:" + count + "': ordinal " + count + " out of range, this machine has " + count
                + " cuda device(s)", e.getMessage());
    }
}
