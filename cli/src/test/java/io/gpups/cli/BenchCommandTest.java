package io.gpups.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code gpups bench} end to end: one real shard process on loopback, a short run, the JSON it writes; and the
 * one-line errors for bad flags. A smoke test of the command, not a benchmark: it asserts shapes and
 * identities, never speeds.
 */
class BenchCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void shortPushRunWritesConsistentJson(@TempDir Path tmp) throws Exception {
        Path json = tmp.resolve("bench.json");
        int code = Main.run("bench", "--servers", "1", "--workers", "1", "--mode", "push", "--value-bytes", "4096",
                "--seconds", "1", "--warmup-seconds", "0.5", "--loopback-seconds", "0.5", "--device", "cpu",
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
        assertTrue(r.get("update_elements_per_second").asDouble() > 0, r.toString());
        assertTrue(r.get("latency_p50_ms").asDouble() > 0, r.toString());
        assertTrue(r.get("latency_p50_ms").asDouble() <= r.get("latency_p99_ms").asDouble(), r.toString());
        assertTrue(r.get("loopback_bytes_per_second").asDouble() > 0, r.toString());
        assertEquals(r.get("goodput_bytes_per_second").asDouble() / r.get("loopback_bytes_per_second").asDouble(),
                r.get("fraction_of_loopback").asDouble(), 1e-9);
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
        assertTrue(runExpectingUsageError("bench", "--servers", "0").contains("--servers 0"));
        assertTrue(runExpectingUsageError("bench", "--seconds", "-1").contains("--seconds -1"));
        assertTrue(runExpectingUsageError("bench", "--optimizer", "lion").contains("'lion'"));
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
