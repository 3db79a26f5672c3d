package io.gpups.worker.train;

import io.gpups.worker.compress.CodecPolicy;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardServer;
import io.gpups.worker.client.PsClient;
import io.gpups.worker.data.DataSource;
import io.gpups.worker.data.SyntheticClassification;
import io.gpups.worker.data.TrainTestSplit;
import io.gpups.worker.model.ModelSpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Two bsp workers training against two shards over loopback sockets, each worker on its own CPU device. */
class ClusterTrainingTest {

    private static final int WORKERS = 2;
    private static final int BATCH = 50;
    private static final SyntheticClassification SYNTHETIC = SyntheticClassification.fashionMnistShaped(5L);

    private final List<Device> devices = new ArrayList<>();
    private final List<ShardServer> servers = new ArrayList<>();
    private final List<PsClient> clients = new ArrayList<>();
    private final ExecutorService workers = Executors.newFixedThreadPool(WORKERS);

    @AfterEach
    void stop() throws InterruptedException {
        workers.shutdownNow();
        workers.awaitTermination(10, TimeUnit.SECONDS);
        clients.forEach(PsClient::close);
        servers.forEach(ShardServer::close);
        devices.forEach(Device::close);
    }

    @Test
    void twoBspWorkersLearnTogether() throws Exception {
        List<InetSocketAddress> shards = startShards(2);
        TrainTestSplit data = SYNTHETIC.generate();
        List<CompletableFuture<List<EpochReport>>> runs = new ArrayList<>();
        for (int rank = 0; rank < WORKERS; rank++) {
            PsClient client = PsClient.connect(shards, rank, new PsClient.Options(1 << 20, 1 << 22));
            clients.add(client);
            Device device = cpu();
            TrainerConfig config = new TrainerConfig(ModelSpec.parse("mlp:32"), BATCH, 2,
                    OptimizerSpec.defaults("sgd", 0.1f), rank, WORKERS, new DataSource.Synthetic(SYNTHETIC), 9L, 1000, CodecPolicy.NONE);
            Trainer trainer = new Trainer(config, client, device, data, report -> { });
            runs.add(CompletableFuture.supplyAsync(trainer::run, workers));
        }
        List<EpochReport> rank0 = runs.get(0).get(120, TimeUnit.SECONDS);
        List<EpochReport> rank1 = runs.get(1).get(120, TimeUnit.SECONDS);

        long steps = SYNTHETIC.trainSamples() / (WORKERS * BATCH);
        assertEquals(2, rank0.size());
        assertEquals(2, rank1.size());
        assertTrue(rank0.get(1).testAccuracy() >= 0.85, "rank 0 test accuracy " + rank0.get(1).testAccuracy());
        assertTrue(Double.isNaN(rank1.get(1).testAccuracy()), "only rank 0 evaluates: " + rank1.get(1));
        // One push frame per chunk per step. With 1 MiB chunks each tensor would be one, but that leaves
        // layer0.weight (100,352 of the model's 101,800 bytes) alone on a shard: the placement cuts it in two
        // pieces of 50,176 bytes, one per shard, and keeps the other three tensors whole.
        int chunks = 0;
        for (String tensor : List.of("layer0.weight", "layer0.bias", "layer1.weight", "layer1.bias")) {
            chunks += clients.get(1).layout(tensor).chunks();
        }
        assertEquals(2, clients.get(1).layout("layer0.weight").chunks());
        assertEquals(5, chunks);
        assertEquals(2 * steps * chunks, rank1.get(1).pushes(), "5 chunks pushed per step: " + rank1);
        assertEquals(rank0.get(1).pushes(), rank1.get(1).pushes());
    }

    private List<InetSocketAddress> startShards(int count) throws Exception {
        List<InetSocketAddress> addresses = new ArrayList<>();
        for (int s = 0; s < count; s++) {
            ShardServer server = ShardServer.start(new ShardConfig("127.0.0.1", 0, s, count, WORKERS,
                    Consistency.bsp(), 1 << 22), cpu());
            servers.add(server);
            addresses.add(new InetSocketAddress("127.0.0.1", server.port()));
        }
        return addresses;
    }

    private Device cpu() {
        Device device = Devices.installed().open("cpu", line -> { });
        devices.add(device);
        return device;
    }
}
