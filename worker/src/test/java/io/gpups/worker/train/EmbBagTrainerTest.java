package io.gpups.worker.train;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardSecurity;
import io.gpups.server.ShardServer;
import io.gpups.worker.client.PsClient;
import io.gpups.worker.data.SparseDataset;
import io.gpups.worker.data.SparseSplit;
import io.gpups.worker.model.EmbBagModel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A bag-of-embeddings model trained by one worker against two asp shards over real sockets, on a small synthetic
 * sparse set of four classes: each sample's ids are drawn half from its class's own ids, half from ids every class
 * shares. Training the rows lifts the test accuracy well above chance (0.25) and above the same model with its rows
 * frozen at their random initial values.
 */
class EmbBagTrainerTest {

    private static final int CLASSES = 4;
    private static final int IDS_PER_CLASS = 100;
    private static final int SHARED_IDS = 200;
    private static final int FEATURES = 6;

    private final List<Device> devices = new ArrayList<>();
    private final List<ShardServer> servers = new ArrayList<>();
    private final List<PsClient> clients = new ArrayList<>();

    @AfterEach
    void stop() {
        clients.forEach(PsClient::close);
        servers.forEach(ShardServer::close);
        devices.forEach(Device::close);
    }

    /** {@code n} samples: label uniform, each feature its class's id or a shared id with even odds, value 1 or 2. */
    static SparseDataset generate(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] labels = new int[n];
        int[] offsets = new int[n + 1];
        long[] ids = new long[n * FEATURES];
        float[] values = new float[n * FEATURES];
        for (int i = 0; i < n; i++) {
            labels[i] = random.nextInt(CLASSES);
            for (int k = 0; k < FEATURES; k++) {
                int at = i * FEATURES + k;
                ids[at] = random.nextBoolean() ? 1000L * (labels[i] + 1) + random.nextInt(IDS_PER_CLASS)
                        : 1_000_000L + random.nextInt(SHARED_IDS);
                values[at] = 1 + random.nextInt(2);
            }
            offsets[i + 1] = (i + 1) * FEATURES;
        }
        return new SparseDataset(labels, offsets, ids, values);
    }

    private List<InetSocketAddress> startShards(int shards, String consistency, int workers) throws Exception {
        List<InetSocketAddress> addresses = new ArrayList<>();
        for (int s = 0; s < shards; s++) {
            Device d = Devices.installed().open("cpu", line -> { });
            devices.add(d);
            ShardServer server = ShardServer.start(new ShardConfig("127.0.0.1", 0, s, shards, workers,
                    Consistency.parse(consistency), 8 << 20), d, ShardSecurity.none());
            servers.add(server);
            addresses.add(new InetSocketAddress("127.0.0.1", server.port()));
        }
        return addresses;
    }

    /** The last epoch's report of one worker training {@code model} for three epochs on {@code data}. */
    private EpochReport train(String model, SparseSplit data) throws Exception {
        PsClient client = PsClient.connect(startShards(2, "asp", 1), 0, PsClient.Options.defaults());
        clients.add(client);
        Device device = Devices.installed().open("cpu", line -> { });
        devices.add(device);
        List<EpochReport> reports = new EmbBagTrainer(new EmbBagTrainer.Config(model, 64, 3,
                new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0f), 0, 1, 7, 500), client, device, data,
                r -> { }).run();
        assertEquals(3, reports.size());
        for (String stats : client.stats().get()) {
            assertTrue(stats.contains("\"name\":\"" + EmbBagModel.TABLE + "\""), "every shard holds rows: " + stats);
        }
        return reports.get(2);
    }

    @Test
    void trainingTheRowsLiftsTheTestAccuracyWellAboveChanceAndFrozenRows() throws Exception {
        // One worker, steps in order: the same run gives the same numbers every time.
        SparseSplit data = new SparseSplit(generate(4000, 1), generate(1000, 2));
        EpochReport trained = train("embbag:dim=8,row_lr=0.1", data);
        EpochReport frozen = train("embbag:dim=8,row_optimizer=sgd,row_lr=1e-9", data);
        assertTrue(Double.isNaN(trained.testAuc()), "no AUC for " + CLASSES + " classes");
        assertTrue(trained.testAccuracy() > 0.8, "test accuracy " + trained.testAccuracy());
        assertTrue(trained.testAccuracy() > frozen.testAccuracy() + 0.15, "test accuracy " + trained.testAccuracy()
                + " with trained rows, " + frozen.testAccuracy() + " with rows frozen at their initial values");
    }

    @Test
    void twoBspWorkersTrainTheRowsToo() throws Exception {
        SparseSplit data = new SparseSplit(generate(4000, 1), generate(1000, 2));
        List<InetSocketAddress> shards = startShards(2, "bsp", 2);
        List<java.util.concurrent.CompletableFuture<EpochReport>> runs = new ArrayList<>();
        for (int rank = 0; rank < 2; rank++) {
            PsClient client = PsClient.connect(shards, rank, PsClient.Options.defaults());
            clients.add(client);
            Device device = Devices.installed().open("cpu", line -> { });
            devices.add(device);
            EmbBagTrainer trainer = new EmbBagTrainer(new EmbBagTrainer.Config("embbag:dim=8,row_lr=0.1", 32, 3,
                    new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0f), rank, 2, 7, 500), client, device, data,
                    r -> { });
            runs.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> trainer.run().get(2)));
        }
        EpochReport rank0 = runs.get(0).get(300, java.util.concurrent.TimeUnit.SECONDS);
        runs.get(1).get(300, java.util.concurrent.TimeUnit.SECONDS);
        assertTrue(rank0.testAccuracy() > 0.8, "test accuracy " + rank0.testAccuracy());
    }

    @Test
    void anSspJobIsRefusedWithItsReason() throws Exception {
        PsClient client = PsClient.connect(startShards(1, "ssp:2", 1), 0, PsClient.Options.defaults());
        clients.add(client);
        Device device = Devices.installed().open("cpu", line -> { });
        devices.add(device);
        SparseSplit data = new SparseSplit(generate(100, 1), generate(100, 2));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> new EmbBagTrainer(
                new EmbBagTrainer.Config("embbag", 16, 1, new OptimizerSpec.Sgd(0.1f, 0f), 0, 1, 7, 100), client, device,
                data, r -> { }).run());
        assertTrue(e.getMessage().contains("an embbag model trains under asp or bsp"), e.getMessage());
    }
}
