package io.gpups.worker.train;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardServer;
import io.gpups.worker.client.PsClient;
import io.gpups.worker.compress.CodecPolicy;
import io.gpups.worker.data.DataSource;
import io.gpups.worker.data.SyntheticClassification;
import io.gpups.worker.data.TrainTestSplit;
import io.gpups.worker.metrics.TrainingMonitor;
import io.gpups.worker.model.ModelSpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A shard stopped mid-training and started again on its port without {@code --restore}, over real sockets: the
 * worker that reconnects finds it back at its initial values and stops with an error naming the shard and both
 * steps; with {@code allowReset} it goes on. The restart happens inside the trainer's own step callback, after
 * step {@value #RESTART_AFTER}, so where it falls is fixed by construction.
 */
class ShardRestartTest {

    private static final int RESTART_AFTER = 5;
    private static final SyntheticClassification SMALL = new SyntheticClassification(2_000, 200, 32, 4, 0.5f, 0.35f, 0.05f, 7L);

    private final List<Device> devices = new ArrayList<>();
    private final List<ShardServer> servers = new ArrayList<>();

    @AfterEach
    void stop() {
        servers.forEach(ShardServer::close);
        devices.forEach(Device::close);
    }

    private ShardServer shard(int index, int port) {
        Device device = Devices.installed().open("cpu", line -> { });
        devices.add(device);
        try {
            ShardServer s = ShardServer.start(new ShardConfig("127.0.0.1", port, index, 2, 1, Consistency.bsp(), 1 << 22), device);
            servers.add(s);
            return s;
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One bsp worker on two shards; shard 1 is stopped after step {@link #RESTART_AFTER} and started again empty. */
    private Trainer trainer(PsClient client, Device device, TrainTestSplit data) {
        TrainerConfig config = new TrainerConfig(ModelSpec.parse("mlp:16"), 50, 1, OptimizerSpec.defaults("sgd", 0.1f), 0, 1,
                new DataSource.Synthetic(SMALL), 9L, 200, CodecPolicy.NONE);
        return new Trainer(config, client, device, data, report -> { }).monitor(new TrainingMonitor() {
            private boolean restarted;

            @Override
            public void stepEnded(int epoch, int step, int steps, int samples, double loss) {
                if (step == RESTART_AFTER && !restarted) {
                    restarted = true;
                    ShardServer old = servers.get(1);
                    int port = old.port();
                    old.close();
                    servers.set(1, shard(1, port));
                }
            }
        });
    }

    private List<InetSocketAddress> twoShards() {
        shard(0, 0);
        shard(1, 0);
        return List.of(new InetSocketAddress("127.0.0.1", servers.get(0).port()),
                new InetSocketAddress("127.0.0.1", servers.get(1).port()));
    }

    @Test
    void aWorkerRefusesToGoOnWhenAShardComesBackAtItsInitialValues() {
        List<InetSocketAddress> shards = twoShards();
        TrainTestSplit data = SMALL.generate();
        try (Device device = Devices.installed().open("cpu", line -> { });
             PsClient client = PsClient.connect(shards, 0, new PsClient.Options(1 << 20, 1 << 22))) {
            Trainer trainer = trainer(client, device, data);
            ShardResetException e = assertThrows(ShardResetException.class, trainer::run);
            assertEquals(1, e.shard());
            // Steps 0..5 were applied (shard 0 is at version 6); step 6 was in progress; the last pull from shard 1
            // was step 5's.
            assertTrue(e.getMessage().startsWith("shard 1 came back with its chunks at version 0, their initial values, "
                    + "but this worker was at step 6 and had seen shard 1 at version 5; shard 0 is at version 6."), e.getMessage());
            assertTrue(e.getMessage().contains("--restore <checkpoint dir>, or run the workers with --allow-reset"), e.getMessage());
        }
    }

    @Test
    void withAllowResetTheWorkerGoesOnFromTheResetShard() {
        List<InetSocketAddress> shards = twoShards();
        TrainTestSplit data = SMALL.generate();
        try (Device device = Devices.installed().open("cpu", line -> { });
             PsClient client = PsClient.connect(shards, 0, new PsClient.Options(1 << 20, 1 << 22))) {
            Trainer trainer = trainer(client, device, data).allowReset(true);
            List<EpochReport> reports = trainer.run();
            assertEquals(1, reports.size());
            assertEquals(1, trainer.recoveries());
        }
    }
}
