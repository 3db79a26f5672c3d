package io.gpups.worker.client;

import io.gpups.core.codec.Codec;
import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardSecurity;
import io.gpups.server.ShardServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Workers and shards over real loopback sockets, with and without shared-memory rings: the same pushes give the
 * same parameters, bit for bit, whichever way their bytes went.
 */
class SharedRingClusterTest {

    /** 256 KiB chunks: every push frame is large enough for the ring. */
    private static final int CHUNK_BYTES = 256 << 10;
    private static final int N = 300_000;
    private static final OptimizerSpec.Adam ADAM = new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0.001f);

    @TempDir
    Path dir;
    private final List<Device> devices = new ArrayList<>();
    private final List<ShardServer> servers = new ArrayList<>();
    private final List<PsClient> clients = new ArrayList<>();

    private List<InetSocketAddress> startShards(int shards, Path ringDirectory) throws Exception {
        List<InetSocketAddress> addresses = new ArrayList<>();
        for (int s = 0; s < shards; s++) {
            Device d = Devices.installed().open("cpu", line -> { });
            devices.add(d);
            ShardServer server = ShardServer.start(new ShardConfig("127.0.0.1", 0, s, shards, 1, Consistency.parse("bsp"),
                    8 << 20), d, ShardSecurity.none().withRingDirectory(ringDirectory));
            servers.add(server);
            addresses.add(new InetSocketAddress("127.0.0.1", server.port()));
        }
        return addresses;
    }

    private PsClient client(List<InetSocketAddress> shards, PsClient.Ring ring) {
        PsClient c = PsClient.connect(shards, 0, new PsClient.Options(CHUNK_BYTES, 8 << 20).withRing(ring));
        clients.add(c);
        return c;
    }

    @AfterEach
    void stop() {
        clients.forEach(PsClient::close);
        servers.forEach(ShardServer::close);
        devices.forEach(Device::close);
    }

    private static List<TensorSpec> model() {
        return List.of(new TensorSpec("w", new long[] {N}, Initializer.glorotUniform(600, 500, 11), ADAM),
                new TensorSpec("b", new long[] {10}, Initializer.zeros(), ADAM));
    }

    private static ByteBuffer gradient(int n, long step) {
        ByteBuffer g = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            g.putFloat(4 * i, (float) Math.sin(0.001 * i + step));
        }
        return g;
    }

    /** Steps of push (fp32, and bf16 every third step) and pull; returns w after them. */
    private static float[] train(PsClient c, int steps) throws Exception {
        c.register(model()).get(30, TimeUnit.SECONDS);
        ByteBuffer w = ByteBuffer.allocateDirect(4 * N).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer b = ByteBuffer.allocateDirect(40).order(ByteOrder.LITTLE_ENDIAN);
        for (int t = 0; t < steps; t++) {
            c.pull("w", t, w).get(30, TimeUnit.SECONDS);
            CompletableFuture<Void> pushed;
            if (t % 3 == 2) {
                pushed = c.push("w", t, Codec.BF16, encodeBf16(c, gradient(N, t)));
            } else {
                pushed = c.push("w", t, gradient(N, t));
            }
            CompletableFuture.allOf(pushed, c.push("b", t, gradient(10, t))).get(30, TimeUnit.SECONDS);
            c.clock(t + 1).get(30, TimeUnit.SECONDS);
        }
        c.pull("w", steps, w).get(30, TimeUnit.SECONDS);
        c.pull("b", steps, b).get(30, TimeUnit.SECONDS);
        float[] out = new float[N];
        w.asFloatBuffer().get(out);
        return out;
    }

    /** bf16 payloads per chunk of w: each value's top 16 bits. */
    private static ByteBuffer[] encodeBf16(PsClient c, ByteBuffer g) {
        var layout = c.layout("w");
        ByteBuffer[] chunks = new ByteBuffer[layout.chunks()];
        for (int k = 0; k < chunks.length; k++) {
            int count = layout.length(k);
            ByteBuffer out = ByteBuffer.allocateDirect(2 * count).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < count; i++) {
                out.putShort(2 * i, (short) (Float.floatToIntBits(g.getFloat(4 * (int) (layout.offset(k) + i))) >>> 16));
            }
            chunks[k] = out;
        }
        return chunks;
    }

    @Test
    void pushesThroughRingsGiveTheParametersTcpGives() throws Exception {
        float[] overTcp = train(client(startShards(2, dir), null), 6);
        PsClient ringed = client(startShards(2, dir), new PsClient.Ring(dir, 1 << 20));
        assertEquals(2, ringed.ringConnections(), "both shards took a ring");
        float[] throughRings = train(ringed, 6);
        assertTrue(ringed.ringFrames() > 0, "pushes went through the rings");
        assertEquals(ringed.pushes(), ringed.ringFrames() + ringed.ringFallbacks() + smallFrames(ringed),
                "every large frame went through a ring or, finding it full, over TCP");
        assertArrayEquals(overTcp, throughRings);
        try (var files = Files.list(dir)) {
            assertEquals(0, files.count(), "ring files are unlinked once attached");
        }
    }

    /** Pushes of b (40 bytes of values): too small for a ring. */
    private static long smallFrames(PsClient c) {
        return c.pushes() / (c.layout("w").chunks() + 1);
    }

    @Test
    void aShardThatTakesNoRingLeavesEveryFrameOnTcp() throws Exception {
        float[] reference = train(client(startShards(1, dir), null), 3);
        PsClient c = client(startShards(1, null), new PsClient.Ring(dir, 1 << 20));
        assertEquals(0, c.ringConnections());
        assertArrayEquals(reference, train(c, 3));
        assertEquals(0, c.ringFrames());
    }
}
