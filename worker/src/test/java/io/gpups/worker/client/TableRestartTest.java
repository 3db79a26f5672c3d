package io.gpups.worker.client;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardSecurity;
import io.gpups.server.ShardServer;
import io.gpups.server.checkpoint.CheckpointSettings;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * A shard holding table rows stopped after a checkpoint and started again on its port with {@code --restore}, over
 * real sockets: the worker reconnects, registers the table again, and finds every row as checkpointed; the pushes
 * after it give exactly what an uninterrupted run gives (Adam's per-row state and steps came back, nothing was
 * applied twice).
 */
class TableRestartTest {

    private static final int DIM = 6;
    private static final TableSpec ITEMS = new TableSpec("items", DIM, new Initializer(Initializer.Kind.UNIFORM, 0.1f, 3),
            new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0f), 1024, Eviction.LRU);

    @TempDir
    Path checkpoints;
    private final List<Device> devices = new ArrayList<>();
    private final List<ShardServer> servers = new ArrayList<>();
    private final List<PsClient> clients = new ArrayList<>();

    @AfterEach
    void stop() {
        clients.forEach(PsClient::close);
        servers.forEach(ShardServer::close);
        devices.forEach(Device::close);
    }

    private ShardServer shard(int index, int port, Path dir, Path restore) throws Exception {
        Device d = Devices.installed().open("cpu", line -> { });
        devices.add(d);
        ShardServer s = ShardServer.start(new ShardConfig("127.0.0.1", port, index, 2, 1, Consistency.parse("asp"), 8 << 20),
                d, ShardSecurity.none(), null, new CheckpointSettings(dir, null, 0, restore));
        servers.add(s);
        return s;
    }

    private TableClient cluster(Path dir) throws Exception {
        List<InetSocketAddress> addresses = new ArrayList<>();
        for (int s = 0; s < 2; s++) {
            addresses.add(new InetSocketAddress("127.0.0.1", shard(s, 0, dir, null).port()));
        }
        PsClient c = PsClient.connect(addresses, 0, PsClient.Options.defaults());
        clients.add(c);
        c.tables().register(ITEMS).get(30, TimeUnit.SECONDS);
        return c.tables();
    }

    private static void pushes(TableClient t, long[] ids, int seed, int count) throws Exception {
        Random r = new Random(seed);
        for (int step = 0; step < count; step++) {
            float[] g = new float[ids.length * DIM];
            for (int i = 0; i < g.length; i++) {
                g[i] = (float) r.nextGaussian();
            }
            t.push("items", ids, ids.length, g, RowDtype.FP32, step).get(30, TimeUnit.SECONDS);
        }
    }

    private static float[] pull(TableClient t, long[] ids) throws Exception {
        float[] out = new float[ids.length * DIM];
        t.pull("items", ids, ids.length, RowDtype.FP32, 0, out).get(30, TimeUnit.SECONDS);
        return out;
    }

    @Test
    void rowsComeBackFromTheCheckpointAndTrainOnAsIfNeverStopped() throws Exception {
        long[] ids = new long[50];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = 1000 + 7L * i;
        }
        TableClient uninterrupted = cluster(checkpoints.resolve("a"));
        pushes(uninterrupted, ids, 1, 4);
        pushes(uninterrupted, ids, 2, 3);

        TableClient restarted = cluster(checkpoints.resolve("b"));
        pushes(restarted, ids, 1, 4);
        PsClient client = clients.get(1);
        client.checkpoint("before-stop").get(30, TimeUnit.SECONDS);
        float[] checkpointed = pull(restarted, ids);
        ShardServer old = servers.get(3);
        int port = old.port();
        old.close();
        shard(1, port, checkpoints.resolve("b"), checkpoints.resolve("b"));
        client.reconnect(30_000);

        assertArrayEquals(checkpointed, pull(restarted, ids), "rows after the restart");
        pushes(restarted, ids, 2, 3);
        assertArrayEquals(pull(uninterrupted, ids), pull(restarted, ids), "rows three pushes after the restart");
    }
}
