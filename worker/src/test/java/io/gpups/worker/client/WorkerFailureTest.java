package io.gpups.worker.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.Frame;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardServer;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** bsp with a worker that goes silent: the others carry on after the timeout; it rejoins when it returns. */
class WorkerFailureTest {

    private static final List<TensorSpec> MODEL = List.of(new TensorSpec("w", new long[] {8},
            Initializer.zeros(), new OptimizerSpec.Sgd(1f, 0f)));

    @Test
    void aSilentWorkerIsDroppedAfterTheTimeoutAndRejoinsWhenItReturns() throws Exception {
        try (Device device = Devices.installed().open("cpu", line -> { })) {
            ShardServer server = ShardServer.start(new ShardConfig("127.0.0.1", 0, 0, 1, 2, Consistency.bsp(),
                    Frame.DEFAULT_MAX_FRAME_BYTES, 1500), device);
            List<InetSocketAddress> shards = List.of(new InetSocketAddress("127.0.0.1", server.port()));
            try (PsClient a = PsClient.connect(shards, 0, PsClient.Options.defaults())) {
                PsClient b = PsClient.connect(shards, 1, PsClient.Options.defaults());
                a.register(MODEL).get(10, TimeUnit.SECONDS);
                b.register(MODEL).get(10, TimeUnit.SECONDS);

                // Step 0, both workers: the mean of 1 and 3.
                a.push("w", 0, filled(1f)).get(10, TimeUnit.SECONDS);
                b.push("w", 0, filled(3f)).get(10, TimeUnit.SECONDS);
                assertEquals(-2f, pull(a, 1).getFloat(0));

                // Step 1: b dies before pushing. a's pull waits, then the step completes with a's gradient alone.
                b.close();
                a.push("w", 1, filled(1f)).get(10, TimeUnit.SECONDS);
                long start = System.nanoTime();
                ByteBuffer p = pull(a, 2);
                double waited = (System.nanoTime() - start) / 1e9;
                assertEquals(-3f, p.getFloat(0), "step 1 applied the mean over the gradients that arrived: a's");
                assertTrue(waited > 0.5 && waited < 5, "waited " + waited + " s for a 1.5 s timeout");
                assertEquals(1, stats(a).path("workers_dropped").asLong());

                // b comes back with the same rank: it rejoins at the current version, and steps wait for it again.
                try (PsClient back = PsClient.connect(shards, 1, PsClient.Options.defaults())) {
                    back.register(MODEL).get(10, TimeUnit.SECONDS);
                    assertEquals(2L, back.pull("w", 0, direct()).get(10, TimeUnit.SECONDS), "it learns the current version");
                    a.push("w", 2, filled(1f)).get(10, TimeUnit.SECONDS);
                    CompletableFuture<Long> next = a.pull("w", 3, direct());
                    assertThrows(TimeoutException.class, () -> next.get(500, TimeUnit.MILLISECONDS));
                    back.push("w", 2, filled(3f)).get(10, TimeUnit.SECONDS);
                    assertEquals(3L, next.get(10, TimeUnit.SECONDS));
                    assertEquals(-5f, pull(a, 3).getFloat(0));
                    JsonNode stats = stats(a);
                    assertEquals(1, stats.path("workers_rejoined").asLong());
                    assertEquals(0, stats.path("errors").asLong());
                }
            } finally {
                server.close();
            }
        }
    }

    private static JsonNode stats(PsClient c) throws Exception {
        return new ObjectMapper().readTree(c.stats().get(10, TimeUnit.SECONDS).get(0));
    }

    private static ByteBuffer pull(PsClient c, long clock) throws Exception {
        ByteBuffer p = direct();
        c.pull("w", clock, p).get(10, TimeUnit.SECONDS);
        return p;
    }

    private static ByteBuffer filled(float v) {
        ByteBuffer b = direct();
        for (int i = 0; i < 8; i++) {
            b.putFloat(4 * i, v);
        }
        return b;
    }

    private static ByteBuffer direct() {
        return ByteBuffer.allocateDirect(32).order(ByteOrder.LITTLE_ENDIAN);
    }
}
