package io.gpups.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code gpups worker --json}: one worker against one in-process shard, its summary checked against the model's size. */
class WorkerCommandTest {

    /** logreg on 784 inputs and 10 classes: a 784x10 weight and 10 biases, one chunk each, so two pushes per step. */
    private static final long LOGREG_FLOATS = 784 * 10 + 10;

    @Test
    void jsonSummaryCountsTheGradientsOfEveryStep(@TempDir Path tmp) throws Exception {
        Path json = tmp.resolve("out").resolve("worker.json");
        try (Device device = Devices.installed().open("cpu", line -> { });
             ShardServer shard = ShardServer.start(new ShardConfig("127.0.0.1", 0, 0, 1, 1, Consistency.bsp(), 1 << 22),
                     device)) {
            int code = Main.run("worker", "--servers", "127.0.0.1:" + shard.port(), "--rank", "0", "--workers", "1",
                    "--model", "logreg", "--epochs", "1", "--batch", "512", "--device", "cpu", "--progress", "none",
                    "--json", json.toString());
            assertEquals(0, code);
        }
        JsonNode s = new ObjectMapper().readTree(json.toFile());
        assertEquals(0, s.get("rank").asInt());
        assertEquals(1, s.get("workers").asInt());
        assertEquals(1, s.get("servers").size());
        assertEquals("logreg", s.get("model").asText());
        assertEquals(1, s.get("epochs").asInt());
        assertEquals(1, s.get("epoch_reports").size());
        long pushes = s.get("pushes").asLong();
        assertTrue(pushes > 0 && pushes % 2 == 0, "two tensors, one push each per step: " + pushes);
        // Uncompressed: every step sends both tensors whole as fp32.
        assertEquals(pushes / 2 * LOGREG_FLOATS * 4, s.get("bytes_pushed_raw").asLong(), s.toString());
        assertEquals(s.get("bytes_pushed_raw").asLong(), s.get("bytes_pushed_wire").asLong(), s.toString());
        assertEquals(1.0, s.get("compression_ratio").asDouble(), 0);
        double accuracy = s.get("test_accuracy").asDouble();
        assertTrue(accuracy > 0.5 && accuracy <= 1, "rank 0 evaluates after the epoch: " + accuracy);
        assertTrue(s.get("samples_per_second").asDouble() > 0, s.toString());
    }
}
