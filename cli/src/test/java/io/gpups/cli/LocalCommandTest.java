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
