package io.gpups.worker.train;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardSecurity;
import io.gpups.server.ShardServer;
import io.gpups.worker.client.PsClient;
import io.gpups.worker.data.CtrGenerator;
import io.gpups.worker.model.CtrModel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A CTR model trained by one worker against two asp shards over real sockets, on a generated set small enough to
 * learn in seconds: training its embedding rows lifts the test AUC well above the same model with its rows frozen
 * (the MLP alone can only use the rows' random initial values and the dense features).
 */
class CtrTrainerTest {

    private final List<Device> devices = new ArrayList<>();
    private final List<ShardServer> servers = new ArrayList<>();
    private final List<PsClient> clients = new ArrayList<>();

    @AfterEach
    void stop() {
        clients.forEach(PsClient::close);
        servers.forEach(ShardServer::close);
        devices.forEach(Device::close);
    }

    private List<InetSocketAddress> startShards(int shards, String consistency) throws Exception {
        return startShards(shards, consistency, 1);
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
    private EpochReport train(String model, CtrGenerator.Generated data) throws Exception {
        PsClient client = PsClient.connect(startShards(2, "asp"), 0, PsClient.Options.defaults());
        clients.add(client);
        Device device = Devices.installed().open("cpu", line -> { });
        devices.add(device);
        List<EpochReport> reports = new CtrTrainer(new CtrTrainer.Config(model, 128, 3,
                new OptimizerSpec.Adam(0.003f, 0.9f, 0.999f, 1e-8f, 0f), 0, 1, 7, 1000), client, device, data.split(),
                r -> { }).run();
        assertEquals(3, reports.size());
        for (String stats : client.stats().get()) {
            assertTrue(stats.contains("\"name\":\"" + CtrModel.TABLE + "\""), "every shard holds rows: " + stats);
        }
        return reports.get(2);
    }

    @Test
    void trainingTheRowsLiftsTheTestAucWellAboveFrozenRows() throws Exception {
        // One worker, steps in order: the same run gives the same numbers every time.
        CtrGenerator.Generated data = new CtrGenerator(26, 30, 1.1, 5).generateWithTeacher(12_000, 4_000);
        double teacher = data.teacher().testAuc();
        EpochReport trained = train("ctr:dim=8,mlp=32", data);
        EpochReport frozen = train("ctr:dim=8,mlp=32,row_optimizer=sgd,row_lr=1e-9", data);
        assertTrue(teacher > 0.75, "teacher AUC " + teacher);
        assertTrue(trained.testAuc() > 0.72, "test AUC " + trained.testAuc() + " (the teacher's " + teacher + ")");
        assertTrue(trained.testAuc() > frozen.testAuc() + 0.03, "test AUC " + trained.testAuc()
                + " with trained rows, " + frozen.testAuc() + " with rows frozen at their initial values");
        assertTrue(trained.testLogLoss() < frozen.testLogLoss(), "log loss " + trained.testLogLoss() + " against "
                + frozen.testLogLoss());
    }

    @Test
    void twoBspWorkersTrainTheRowsToo() throws Exception {
        CtrGenerator.Generated data = new CtrGenerator(26, 30, 1.1, 5).generateWithTeacher(12_000, 4_000);
        List<InetSocketAddress> shards = startShards(2, "bsp", 2);
        List<java.util.concurrent.CompletableFuture<EpochReport>> runs = new ArrayList<>();
        for (int rank = 0; rank < 2; rank++) {
            PsClient client = PsClient.connect(shards, rank, PsClient.Options.defaults());
            clients.add(client);
            Device device = Devices.installed().open("cpu", line -> { });
            devices.add(device);
            CtrTrainer trainer = new CtrTrainer(new CtrTrainer.Config("ctr:dim=8,mlp=32", 64, 3,
                    new OptimizerSpec.Adam(0.003f, 0.9f, 0.999f, 1e-8f, 0f), rank, 2, 7, 1000), client, device,
                    data.split(), r -> { });
            runs.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> trainer.run().get(2)));
        }
        EpochReport rank0 = runs.get(0).get(300, java.util.concurrent.TimeUnit.SECONDS);
        runs.get(1).get(300, java.util.concurrent.TimeUnit.SECONDS);
        assertTrue(rank0.testAuc() > 0.72, "test AUC " + rank0.testAuc() + " (the teacher's " + data.teacher().testAuc() + ")");
    }

    @Test
    void anSspJobIsRefusedWithItsReason() throws Exception {
        PsClient client = PsClient.connect(startShards(1, "ssp:2"), 0, PsClient.Options.defaults());
        clients.add(client);
        Device device = Devices.installed().open("cpu", line -> { });
        devices.add(device);
        CtrGenerator.Generated data = new CtrGenerator(26, 30, 1.1, 5).generateWithTeacher(100, 100);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> new CtrTrainer(new CtrTrainer.Config(
                "ctr", 16, 1, new OptimizerSpec.Sgd(0.1f, 0f), 0, 1, 7, 100), client, device, data.split(), r -> { }).run());
        assertTrue(e.getMessage().contains("a ctr model trains under asp or bsp"), e.getMessage());
    }
}
