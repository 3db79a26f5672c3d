package io.gpups.cli;

import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceProvider;
import io.gpups.core.device.DeviceUnavailableException;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GpuPlacementTest {

    /** A cuda provider with {@code count} GPUs, or unavailable for {@code cause} (null: usable). */
    private static DeviceProvider cuda(int count, String cause) {
        return new DeviceProvider() {
            public String kind() { return "cuda"; }
            public int priority() { return 10; }
            public String unavailabilityCause() { return cause; }
            public int deviceCount() { return count; }
            public Device open(int ordinal) { throw new UnsupportedOperationException(); }
        };
    }

    private static List<String> shards(GpuPlacement p, int n) {
        return java.util.stream.IntStream.range(0, n).mapToObj(p::shard).toList();
    }

    private static List<String> workers(GpuPlacement p, int n) {
        return java.util.stream.IntStream.range(0, n).mapToObj(p::worker).toList();
    }

    @Test
    void cudaDealsShardsThenWorkersRoundRobinOverEveryVisibleGpu() {
        GpuPlacement p = GpuPlacement.resolve("cuda", null, 2, 3, cuda(4, null));
        assertEquals(List.of("cuda:0", "cuda:1"), shards(p, 2));
        assertEquals(List.of("cuda:2", "cuda:3", "cuda:0"), workers(p, 3));
        assertEquals("devices: shards cuda:0,cuda:1; workers cuda:2,cuda:3,cuda:0", p.describe());
    }

    @Test
    void gpusChoosesTheGpusInTheOrderGiven() {
        GpuPlacement p = GpuPlacement.resolve("cuda", "3, 1", 1, 2, cuda(4, null));
        assertEquals(List.of("cuda:3"), shards(p, 1));
        assertEquals(List.of("cuda:1", "cuda:3"), workers(p, 2));
    }

    @Test
    void autoSpreadsWhenCudaIsUsableAndOtherwisePassesAutoOn() {
        assertEquals("cuda:1", GpuPlacement.resolve("auto", null, 2, 2, cuda(2, null)).shard(1));
        GpuPlacement cpu = GpuPlacement.resolve("auto", null, 2, 2, cuda(0, "libcuda.so.1 not found"));
        assertEquals(List.of("auto", "auto"), shards(cpu, 2));
        assertEquals(List.of("auto", "auto"), workers(cpu, 2));
        assertNull(cpu.describe());
        assertEquals("auto", GpuPlacement.resolve("auto", null, 1, 1, null).worker(0));
    }

    @Test
    void theCpuPathNeverProbesCuda() {
        DeviceProvider probeFails = new DeviceProvider() {
            public String kind() { return "cuda"; }
            public int priority() { return 10; }
            public String unavailabilityCause() { throw new AssertionError("probed on the cpu path"); }
            public int deviceCount() { throw new AssertionError("probed on the cpu path"); }
            public Device open(int ordinal) { throw new UnsupportedOperationException(); }
        };
        assertEquals("cpu", GpuPlacement.resolve("cpu", null, 1, 1, probeFails).shard(0));
    }

    @Test
    void cpuAndAnExplicitOrdinalGoToEveryChild() {
        assertEquals(List.of("cpu", "cpu"), workers(GpuPlacement.resolve("cpu", null, 1, 2, cuda(4, null)), 2));
        assertEquals(List.of("cuda:2", "cuda:2"), shards(GpuPlacement.resolve("cuda:2", null, 2, 1, cuda(4, null)), 2));
    }

    @Test
    void cudaWhereThereIsNoneFailsAtOnceWithTheReason() {
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> GpuPlacement.resolve("cuda", null, 2, 2, cuda(0, "libcuda.so.1 not found (x)")));
        assertEquals("device 'cuda' unavailable: libcuda.so.1 not found (x)", e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> GpuPlacement.resolve("auto", "0", 2, 2, cuda(0, "libcuda.so.1 not found (x)")));
    }

    @Test
    void badGpusValuesAreOneLineErrorsNamingTheValue() {
        for (String[] c : new String[][] {
                {"0,4", "GPU 4 does not exist, this machine has 4 visible CUDA device(s)"},
                {"1,1", "GPU 1 is named twice"},
                {"a", "'a' is not a GPU ordinal"},
                {"-1", "'-1' is not a GPU ordinal"},
                {"0,", "'' is not a GPU ordinal"},
                {"", "'' is not a GPU ordinal"}}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> GpuPlacement.resolve("cuda", c[0], 1, 1, cuda(4, null)));
            assertTrue(e.getMessage().startsWith("--gpus " + c[0] + ": ") && e.getMessage().contains(c[1]),
                    e.getMessage());
        }
        assertEquals("--gpus needs --device cuda or auto, got --device cpu", assertThrows(IllegalArgumentException.class,
                () -> GpuPlacement.resolve("cpu", "0", 1, 1, cuda(4, null))).getMessage());
        assertThrows(IllegalArgumentException.class, () -> GpuPlacement.resolve("cuda:1", "0", 1, 1, cuda(4, null)));
    }
}
