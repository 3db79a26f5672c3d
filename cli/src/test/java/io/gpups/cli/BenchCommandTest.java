package io.gpups.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code gpups bench} end to end: one real shard process on loopback, a short run, the JSON it writes with the
 * ceilings beside the result; a tiny sweep and its JSON, CSV and charts; and the one-line errors for bad flags. A
 * smoke test of the command, not a benchmark: it asserts shapes, the inputs it gave and the agreement of the shards'
 * and the workers' counts, never speeds. The derivations themselves (rates, fractions, bytes per element) are checked
 * against hand-computed values from fixed inputs in loadgen's {@code BenchResultTest}.
 */
class BenchCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void shortPushRunWritesConsistentJson(@TempDir Path tmp) throws Exception {
        Path json = tmp.resolve("bench.json");
        int code = Main.run("bench", "--shards", "1", "--workers", "1", "--mode", "push", "--value-bytes", "4096",
                "--seconds", "1", "--warmup-seconds", "0.5", "--loopback-seconds", "0.5", "--bandwidth-seconds", "0.4",
                "--device", "cpu",
                "--run-dir", tmp.resolve("run").toString(), "--json", json.toString());
        assertEquals(0, code);

        JsonNode results = JSON.readTree(json.toFile()).get("results");
        assertEquals(1, results.size());
        JsonNode r = results.get(0);
        assertEquals("push", r.get("mode").asText());
        assertEquals(4096, r.get("value_bytes").asInt());
        assertEquals("asp", r.get("consistency").asText());
        assertEquals(64, r.get("window").asInt(), "default window for 4 KiB values");
        double ops = r.get("ops_per_second").asDouble();
        assertTrue(ops > 0, "ops_per_second " + ops);
        assertEquals(r.get("ops").asLong() / r.get("seconds").asDouble(), ops, ops * 1e-9);
        assertEquals(ops * 4096, r.get("goodput_bytes_per_second").asDouble(), ops * 4096 * 1e-9);
        // Two counts that do not derive from each other: the shards' elements_updated and the workers' completed pushes.
        // Every push of a 4096-byte value updates its 1024 elements once (asp); the two windows differ by the pushes in
        // flight at their edges, so they agree to within a factor, not exactly.
        double updated = r.get("update_elements_per_second").asDouble();
        assertTrue(updated > ops * 1024 / 2 && updated < ops * 1024 * 2, "shards updated " + updated
                + " elements/s for " + ops + " pushes/s of 1024 elements: " + r);
        assertTrue(r.get("latency_p50_ms").asDouble() > 0, r.toString());
        assertTrue(r.get("latency_p50_ms").asDouble() <= r.get("latency_p99_ms").asDouble(), r.toString());
        assertTrue(r.get("loopback_bytes_per_second").asDouble() > 0, r.toString());
        assertEquals(r.get("goodput_bytes_per_second").asDouble() / r.get("loopback_bytes_per_second").asDouble(),
                r.get("fraction_of_loopback").asDouble(), 1e-9);
        // The ceiling is the higher of the two loopback measurements, and says which.
        double netty = r.get("loopback_netty_bytes_per_second").asDouble();
        double socket = r.get("loopback_socket_bytes_per_second").asDouble();
        assertEquals(Math.max(netty, socket), r.get("loopback_bytes_per_second").asDouble(), 0);
        assertEquals(netty >= socket ? "netty" : "socket", r.get("loopback_ceiling").asText());
        // Adam: read p, g, m, v, write p, m, v.
        assertEquals(28, r.get("apply_bytes_per_element").asDouble(), 0);
        double bandwidth = r.get("memory_bandwidth_bytes_per_second").asDouble();
        assertTrue(bandwidth > 0, r.toString());
        assertEquals(r.get("update_elements_per_second").asDouble() * 28 / bandwidth,
                r.get("fraction_of_memory_bandwidth").asDouble(), 1e-9);
        JsonNode memory = JSON.readTree(json.toFile()).get("ceilings").get("memory");
        assertEquals(bandwidth, memory.get("triad_bytes_per_second").asDouble(), 0);
        assertTrue(memory.get("adam_apply_bytes_per_second").asDouble() > 0, memory.toString());
    }

    /** A tiny sweep, 2 points of 0.5 s: the JSON, CSV and charts exist and hold both points. */
    @Test
    void tinySweepWritesJsonCsvAndCharts(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("sweep");
        int code = Main.run("bench", "--sweep", "--sweep-sizes", "4096,16KiB", "--sweep-shards", "1", "--sweep-workers", "1",
                "--sweep-codecs", "none", "--seconds", "0.5", "--warmup-seconds", "0.2", "--loopback-seconds", "0.25",
                "--bandwidth-seconds", "0.3", "--device", "cpu", "--run-dir", tmp.resolve("run").toString(),
                "--sweep-out", out.toString());
        assertEquals(0, code);

        JsonNode root = JSON.readTree(out.resolve("results.json").toFile());
        JsonNode results = root.get("results");
        assertEquals(2, results.size());
        assertEquals(4096, results.get(0).get("value_bytes").asInt());
        assertEquals(16384, results.get(1).get("value_bytes").asInt());
        for (JsonNode r : results) {
            assertTrue(r.get("ops_per_second").asDouble() > 0, r.toString());
            assertTrue(r.get("fraction_of_loopback").asDouble() > 0, r.toString());
            assertTrue(r.get("fraction_of_memory_bandwidth").asDouble() > 0, r.toString());
        }
        assertEquals(2, root.get("ceilings").get("loopback").size(), "one loopback ceiling per size");
        assertTrue(root.get("machine").get("logical_cpus").asInt() > 0);
        assertEquals(results.get(0).get("ops_per_second").asDouble(),
                root.get("headline").get("ops_per_second_4KiB").asDouble(), 0);

        List<String> csv = Files.readAllLines(out.resolve("results.csv"));
        assertEquals(3, csv.size(), "header and two points: " + csv);
        List<String> header = List.of(csv.get(0).split(","));
        int size = header.indexOf("value_bytes");
        int fraction = header.indexOf("fraction_of_loopback");
        assertTrue(size >= 0 && fraction >= 0, csv.get(0));
        assertEquals("4096", csv.get(1).split(",")[size]);
        assertEquals("16384", csv.get(2).split(",")[size]);
        assertEquals(results.get(1).get("fraction_of_loopback").asDouble(),
                Double.parseDouble(csv.get(2).split(",")[fraction]), 0);

        for (String chart : List.of("goodput_vs_size.png", "updates_vs_shards.png", "latency_vs_size.png")) {
            byte[] png = Files.readAllBytes(out.resolve(chart));
            assertTrue(png.length > 1000, chart + ": " + png.length + " bytes");
            assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, Arrays.copyOf(png, 4), chart);
        }
    }

    @Test
    void badSweepFlagsAreOneLineErrors() {
        assertTrue(runExpectingUsageError("bench", "--sweep-sizes", "4096").contains("--sweep-sizes: only with --sweep"));
        assertTrue(runExpectingUsageError("bench", "--sweep", "--value-bytes", "4096").contains("--sweep-sizes"));
        assertTrue(runExpectingUsageError("bench", "--sweep", "--shards", "2").contains("--sweep-shards"));
        assertTrue(runExpectingUsageError("bench", "--sweep", "--sweep-sizes", "4096,6").contains("'6'"));
        assertTrue(runExpectingUsageError("bench", "--sweep", "--sweep-sizes", "4x").contains("'4x'"));
        assertTrue(runExpectingUsageError("bench", "--sweep", "--sweep-sizes", ",").contains("at least one"));
        assertTrue(runExpectingUsageError("bench", "--sweep", "--sweep-workers", "1,0").contains("--sweep-workers '0'"));
        assertTrue(runExpectingUsageError("bench", "--sweep", "--sweep-codecs", "none,zip").contains("'zip'"));
        assertTrue(runExpectingUsageError("bench", "--sweep", "--mode", "pull", "--sweep-codecs", "none,int8")
                .contains("--sweep-codecs int8"));
        assertTrue(runExpectingUsageError("bench", "--sweep", "--seconds", "0").contains("--seconds 0"));
        assertTrue(runExpectingUsageError("bench", "--bandwidth-seconds", "-1").contains("--bandwidth-seconds -1"));
    }

    @Test
    void valueBytesNotAMultipleOfFourIsAOneLineError() {
        String err = runExpectingUsageError("bench", "--value-bytes", "3");
        assertTrue(err.contains("--value-bytes 3"), err);
        assertTrue(err.contains("multiple of 4"), err);
    }

    @Test
    void unknownModeIsAOneLineError() {
        String err = runExpectingUsageError("bench", "--mode", "fly");
        assertTrue(err.contains("'fly'"), err);
        assertTrue(err.contains("push, pull or pushpull"), err);
    }

    @Test
    void bspRejectsAPipelinedPushWindow() {
        String err = runExpectingUsageError("bench", "--consistency", "bsp", "--window", "4");
        assertTrue(err.contains("--window 4"), err);
    }

    @Test
    void otherBadValuesAreNamed() {
        assertTrue(runExpectingUsageError("bench", "--value-bytes", "2147483652").contains("2147483652"));
        assertTrue(runExpectingUsageError("bench", "--shards", "0").contains("--shards 0"));
        assertTrue(runExpectingUsageError("bench", "--seconds", "-1").contains("--seconds -1"));
        assertTrue(runExpectingUsageError("bench", "--optimizer", "lamb").contains("'lamb'"));
        assertTrue(runExpectingUsageError("bench", "--consistency", "ssp:x").contains("'ssp:x'"));
    }

    /** Runs a command that must fail validation before starting anything; returns what it printed on stderr. */
    private static String runExpectingUsageError(String... args) {
        PrintStream saved = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        int code;
        try {
            System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
            code = Main.run(args);
        } finally {
            System.setErr(saved);
        }
        String err = captured.toString(StandardCharsets.UTF_8);
        assertEquals(2, code, err);
        assertEquals(1, err.strip().lines().count(), "one line: " + err);
        return err;
    }
}
