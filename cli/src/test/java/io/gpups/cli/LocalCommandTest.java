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

/** {@code gpups local} end to end: real shard and worker processes over loopback. */
class LocalCommandTest {

    @Test
    void trainsWithSeparateProcessesAndStopsThemAll(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("summary.json");
        int code = Main.run("local", "--servers", "2", "--workers", "2", "--model", "logreg", "--epochs", "1",
                "--batch", "64", "--json", json.toString(), "--run-dir", dir.resolve("run").toString());
        assertEquals(0, code);
        JsonNode s = new ObjectMapper().readTree(json.toFile());
        assertEquals(1, s.path("epochs").asInt());
        // One epoch of logistic regression: far above chance (0.1) on Fashion-MNIST or the synthetic set.
        assertTrue(s.path("test_accuracy").asDouble() > 0.7, s.toString());
        assertTrue(s.path("samples_per_second").asDouble() > 0, s.toString());
        assertTrue(s.path("pushes").asLong() > 0, s.toString());
        assertTrue(s.path("bytes_pushed").asLong() > 0, s.toString());
        assertTrue(s.path("train_seconds").asDouble() > 0, s.toString());
        // Both shards served: every update applied once per step, and no errors.
        assertEquals(2, s.path("shards").size());
        for (JsonNode shard : s.path("shards")) {
            assertEquals(0, shard.path("errors").asLong(), shard.toString());
            assertTrue(shard.path("updates").asLong() > 0, shard.toString());
        }
        assertEquals(0, ProcessHandle.current().children().filter(ProcessHandle::isAlive).count(),
                "every child process was stopped");
    }

    /**
     * The kill test: shard 1 is killed with SIGKILL mid-training and restarted from its newest checkpoint; the
     * workers reconnect, replay from the restored step, and training ends within a point of an undisturbed
     * run. The shard that kept running applied every step exactly once: replayed pushes are duplicates.
     */
    @Test
    void aKilledShardRestoredFromItsCheckpointFinishesTheJob(@TempDir Path dir) throws Exception {
        String[] common = {"local", "--servers", "2", "--workers", "2", "--model", "logreg", "--epochs", "3", "--progress", "none"};
        Path plain = dir.resolve("plain.json");
        assertEquals(0, Main.run(concat(common, "--json", plain.toString(), "--run-dir", dir.resolve("plain-run").toString())));
        Path chaos = dir.resolve("chaos.json");
        assertEquals(0, Main.run(concat(common, "--json", chaos.toString(), "--run-dir", dir.resolve("chaos-run").toString(),
                "--checkpoint-dir", dir.resolve("ckpt").toString(), "--checkpoint-every", "50steps", "--chaos", "kill-shard:1@120steps")));
        JsonNode p = new ObjectMapper().readTree(plain.toFile());
        JsonNode c = new ObjectMapper().readTree(chaos.toFile());
        assertTrue(c.path("chaos_restart_seconds").asDouble() > 0, c.toString());
        assertEquals(p.path("test_accuracy").asDouble(), c.path("test_accuracy").asDouble(), 0.01,
                "accuracy with a killed shard vs undisturbed");
        // logreg: the weight is shard 0's only chunk; every step updated it exactly once, replays included.
        JsonNode shard0 = c.path("shards").get(0);
        assertEquals(p.path("shards").get(0).path("updates").asLong(), shard0.path("updates").asLong(), shard0.toString());
        assertEquals(0, shard0.path("errors").asLong());
    }

    private static String[] concat(String[] a, String... b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @Test
    void badFlagsAreOneLineErrorsNamingTheValue() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            assertEquals(2, Main.run("local", "--workers", "0"));
            assertEquals(2, Main.run("local", "--consistency", "ssp:x"));
            assertEquals(2, Main.run("local", "--optimizer", "rmsprop"));
        } finally {
            System.setErr(old);
        }
        String text = err.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("--workers must be 1..64, got 0"), text);
        assertTrue(text.contains("consistency 'ssp:x'"), text);
        assertTrue(text.contains("optimizer 'rmsprop'"), text);
    }
}
