package io.gpups.loadgen;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gpups.core.codec.Codec;
import io.gpups.core.optim.OptimizerSpec;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link BenchResult}'s derived fields from fixed inputs, each against a value worked out by hand: a measured window of
 * 1000 pushes of 4 KiB in 2 s, the shards reporting 3,000,000 elements updated over a 2.5 s stats window, a loopback
 * ceiling of 4 GB/s (Netty) and 3 GB/s (sockets), a triad of 10 GB/s. The end-to-end {@code BenchCommandTest} cannot
 * see a wrong derivation, since it only has the JSON; this test can.
 */
class BenchResultTest {

    private static final double EXACT = 1e-12;

    private static BenchSettings settings(String mode, String optimizer, String codec) {
        return BenchSettings.conclude(1, 1, mode, 4096, optimizer, 2.0, 0.5, null, "asp", "cpu", 1, codec);
    }

    /** 98 operations of 1 ms and 2 of 10 ms. */
    private static Histogram latencies() {
        Histogram h = new Histogram(3);
        h.recordValueWithCount(1_000_000, 98);
        h.recordValueWithCount(10_000_000, 2);
        return h;
    }

    private static LoadGenerator.Window window() {
        return new LoadGenerator.Window(1000, 2.0, latencies(), 3_000_000, 2.5);
    }

    @Test
    void ratesAndFractionsOfAPushWindowAreTheHandComputedValues() {
        BenchResult r = BenchResult.of(settings("push", "adam", "none"), window(),
                new LoopbackCeiling(4096, 4e9, 3e9), new DeviceBandwidth("cpu", 1 << 24, 1e10, 7e9), null);
        ObjectNode j = r.toJson();
        assertEquals(1000, j.get("ops").asLong());
        assertEquals(500.0, j.get("ops_per_second").asDouble(), 500 * EXACT);                  // 1000 ops / 2 s
        assertEquals(2_048_000.0, j.get("goodput_bytes_per_second").asDouble(), 2.048e6 * EXACT); // 500/s * 4096 B
        // The shards' count over the stats window, not the workers' ops over the measured one.
        assertEquals(1_200_000.0, j.get("update_elements_per_second").asDouble(), 1.2e6 * EXACT); // 3e6 / 2.5 s
        assertEquals(4e9, j.get("loopback_bytes_per_second").asDouble(), 0);                    // the higher of the two
        assertEquals("netty", j.get("loopback_ceiling").asText());
        assertEquals(5.12e-4, j.get("fraction_of_loopback").asDouble(), 5.12e-4 * 1e-9);         // 2.048e6 / 4e9
        assertEquals(28.0, j.get("apply_bytes_per_element").asDouble(), 0);                     // Adam: p, g, m, v read; p, m, v written
        assertEquals(3.36e7, j.get("apply_bytes_per_second").asDouble(), 3.36e7 * 1e-9);         // 1.2e6 * 28
        assertEquals(1e10, j.get("memory_bandwidth_bytes_per_second").asDouble(), 0);            // the triad, not the Adam figure
        assertEquals(3.36e-3, j.get("fraction_of_memory_bandwidth").asDouble(), 3.36e-3 * 1e-9); // 3.36e7 / 1e10
        assertEquals(1.0, j.get("latency_p50_ms").asDouble(), 1e-3);
        assertEquals(10.0, j.get("latency_p99_ms").asDouble(), 1e-2);
        assertEquals(10.0, j.get("latency_max_ms").asDouble(), 1e-2);
        assertEquals(1, j.get("servers").asInt());
    }

    @Test
    void theSocketCeilingIsTakenWhenItIsHigher() {
        BenchResult r = BenchResult.of(settings("push", "adam", "none"), window(), new LoopbackCeiling(4096, 2e9, 5e9),
                null, null);
        assertEquals(5e9, r.loopbackBytesPerSecond(), 0);
        assertEquals("socket", r.toJson().get("loopback_ceiling").asText());
        assertEquals(2_048_000.0 / 5e9, r.fractionOfLoopback(), EXACT);
        assertTrue(r.toJson().get("fraction_of_memory_bandwidth").isNull(), "no bandwidth measured");
    }

    @Test
    void theTransportAndTheRingCountsAreReported() {
        BenchSettings shm = BenchSettings.conclude(1, 1, "push", 4096, "adam", 2.0, 0.5, null, "asp", "cpu", 1, "none", "shm");
        BenchResult r = BenchResult.of(shm, new LoadGenerator.Window(1000, 2.0, latencies(), 3_000_000, 2.5, 990, 10),
                null, null, null);
        assertEquals("shm", r.toJson().get("transport").asText());
        assertEquals(990, r.toJson().get("ring_frames").asLong());
        assertEquals(10, r.toJson().get("ring_fallbacks").asLong());
        ObjectNode tcp = BenchResult.of(settings("push", "adam", "none"), window(), null, null, null).toJson();
        assertEquals("tcp", tcp.get("transport").asText());
        assertTrue(tcp.get("ring_frames") == null, "no rings over TCP");
        IllegalArgumentException bad = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> BenchSettings.conclude(1, 1, "push", 4096, "adam", 2.0, 0.5, null, "asp", "cpu", 1, "none", "udp"));
        assertEquals("--transport must be one of tcp, shm; got 'udp'", bad.getMessage());
    }

    @Test
    void pullsApplyNothing() {
        BenchResult r = BenchResult.of(settings("pull", "adam", "none"), window(), null, null, null);
        assertTrue(r.toJson().get("apply_bytes_per_element").isNull());
        assertTrue(r.toJson().get("fraction_of_loopback").isNull(), "no loopback measured");
        assertEquals(2_048_000.0, r.goodputBytesPerSecond(), 2.048e6 * EXACT);
    }

    /** 4 bytes read and written for the parameter and each slot, plus the gradient's bytes per element. */
    @Test
    void applyTrafficPerElementMatchesTheOptimizerAndCodec() {
        assertEquals(12, ApplyTraffic.bytesPerElement(new OptimizerSpec.Sgd(1e-3f, 0f), Codec.NONE, 1024), 0);
        assertEquals(28, ApplyTraffic.bytesPerElement(OptimizerSpec.defaults("adam", 1e-3f), Codec.NONE, 1024), 0);
        // int8 over 1024 elements: 1024 bytes plus one fp32 scale per block of 256.
        assertEquals(24 + (1024 + 4 * 4) / 1024.0,
                ApplyTraffic.bytesPerElement(OptimizerSpec.defaults("adam", 1e-3f), Codec.parse("int8"), 1024), EXACT);
    }
}
