package io.gpups.worker.client;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Messages;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardSecurity;
import io.gpups.server.ShardServer;
import io.gpups.server.checkpoint.CheckpointCatalog;
import io.gpups.server.checkpoint.CheckpointSchedule;
import io.gpups.server.checkpoint.CheckpointSettings;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checkpoints end to end over real sockets: a 2-shard bsp job trains, checkpoints, stops; a 3-shard job
 * restores it (chunks re-placed), serves exactly the checkpointed parameters, and its next step equals the
 * next step of the job that was never stopped (optimizer state and step counts carried over).
 */
class CheckpointRestoreClusterTest {

    /** 64-byte chunks: w (63 elements) has 4 chunks, u (25) 2, b (9) 1; placements differ for 2 and 3 shards. */
    private static final PsClient.Options SMALL_CHUNKS = new PsClient.Options(64, 1 << 20);
    private static final OptimizerSpec ADAM = new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0.001f);
    private static final int WORKERS = 2;

    @TempDir
    Path dir;

    private final List<Device> devices = new ArrayList<>();
    private final List<ShardServer> servers = new ArrayList<>();
    private final List<PsClient> clients = new ArrayList<>();

    private static List<TensorSpec> model() {
        return List.of(
                new TensorSpec("w", new long[] {7, 9}, Initializer.glorotUniform(7, 9, 3), ADAM),
                new TensorSpec("u", new long[] {5, 5}, new Initializer(Initializer.Kind.NORMAL, 0.1f, 9),
                        new OptimizerSpec.Momentum(0.05f, 0.9f, 0f)),
                new TensorSpec("b", new long[] {9}, new Initializer(Initializer.Kind.CONSTANT, 0.5f, 0), ADAM));
    }

    private List<InetSocketAddress> startShards(int shards, CheckpointSettings settings) throws Exception {
        List<InetSocketAddress> addresses = new ArrayList<>();
        for (int s = 0; s < shards; s++) {
            Device d = Devices.installed().open("cpu", line -> { });
            devices.add(d);
            ShardServer server = ShardServer.start(new ShardConfig("127.0.0.1", 0, s, shards, WORKERS,
                    Consistency.bsp(), 1 << 20), d, ShardSecurity.none(), null, settings);
            servers.add(server);
            addresses.add(new InetSocketAddress("127.0.0.1", server.port()));
        }
        return addresses;
    }

    private void stopAll() {
        clients.forEach(PsClient::close);
        clients.clear();
        servers.forEach(ShardServer::close);
        servers.clear();
        devices.forEach(Device::close);
        devices.clear();
    }

    @AfterEach
    void stop() {
        stopAll();
    }

    private PsClient client(List<InetSocketAddress> shards, int rank, PsClient.Options options) {
        PsClient c = PsClient.connect(shards, rank, options);
        clients.add(c);
        return c;
    }

    private static float gradient(int rank, long step, int i) {
        return (float) Math.sin(0.37 * i + 1.3 * step + 2.1 * rank) * (1 + rank);
    }

    private static ByteBuffer direct(int floats) {
        return ByteBuffer.allocateDirect(4 * floats).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Every worker runs steps [from, to) concurrently: pull, push, clock. */
    private static void train(List<PsClient> workers, long from, long to) throws Exception {
        List<CompletableFuture<Void>> runs = new ArrayList<>();
        for (int r = 0; r < workers.size(); r++) {
            PsClient c = workers.get(r);
            int rank = r;
            runs.add(CompletableFuture.runAsync(() -> {
                try {
                    for (long t = from; t < to; t++) {
                        for (TensorSpec spec : model()) {
                            c.pull(spec.name(), t, direct((int) spec.elements())).get(10, TimeUnit.SECONDS);
                        }
                        List<CompletableFuture<Void>> pushes = new ArrayList<>();
                        for (TensorSpec spec : model()) {
                            ByteBuffer g = direct((int) spec.elements());
                            for (int i = 0; i < spec.elements(); i++) {
                                g.putFloat(4 * i, gradient(rank, t, i));
                            }
                            pushes.add(c.push(spec.name(), t, g));
                        }
                        CompletableFuture.allOf(pushes.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
                        c.clock(t + 1).get(10, TimeUnit.SECONDS);
                    }
                } catch (Exception e) {
                    throw new IllegalStateException("worker " + rank + " failed", e);
                }
            }));
        }
        CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
    }

    private List<PsClient> registeredWorkers(List<InetSocketAddress> shards) throws Exception {
        return registeredWorkers(shards, SMALL_CHUNKS);
    }

    private List<PsClient> registeredWorkers(List<InetSocketAddress> shards, PsClient.Options options) throws Exception {
        List<PsClient> workers = new ArrayList<>();
        for (int r = 0; r < WORKERS; r++) {
            PsClient c = client(shards, r, options);
            c.register(model()).get(10, TimeUnit.SECONDS);
            workers.add(c);
        }
        return workers;
    }

    /** Every tensor's parameters as pulled at {@code clock}, checking each chunk's version is {@code clock}. */
    private static Map<String, float[]> pullAll(PsClient c, long clock) throws Exception {
        Map<String, float[]> out = new HashMap<>();
        for (TensorSpec spec : model()) {
            int n = (int) spec.elements();
            ByteBuffer b = direct(n);
            long version = c.pull(spec.name(), clock, b).get(10, TimeUnit.SECONDS);
            assertEquals(clock, version, spec.name() + ": smallest chunk version");
            float[] values = new float[n];
            b.asFloatBuffer().get(values);
            out.put(spec.name(), values);
        }
        return out;
    }

    @Test
    void aTwoShardCheckpointRestoresIntoThreeShardsExactlyAndTrainingContinuesAsIfNeverStopped() throws Exception {
        int k = 6;
        // Job A: 2 shards, scheduled checkpoints every 3 steps, and one on request at step k.
        List<InetSocketAddress> a = startShards(2, new CheckpointSettings(dir, CheckpointSchedule.parse("3steps"), 0, null));
        List<PsClient> workersA = registeredWorkers(a);
        train(workersA, 0, k);
        Map<String, float[]> atK = pullAll(workersA.get(0), k);

        List<Messages.CheckpointReply> replies = workersA.get(0).checkpoint("").get(30, TimeUnit.SECONDS);
        String name = "ckpt-step-000000000006-2shards";
        for (Messages.CheckpointReply r : replies) {
            assertEquals(name, r.directory());
            assertEquals(k, r.minVersion());
            assertEquals(0, r.flags() & Messages.CheckpointReply.WRITTEN,
                    "the scheduled step-6 checkpoint already holds these versions: not rewritten");
        }
        assertEquals(7, replies.get(0).chunks() + replies.get(1).chunks(), "4 + 2 + 1 chunks");
        assertTrue(CheckpointCatalog.check(dir.resolve("ckpt-step-000000000003-2shards"), true, false).complete());
        CheckpointCatalog.Found step6 = CheckpointCatalog.check(dir.resolve(name), true, false);
        assertTrue(step6.complete(), step6.problem());
        assertTrue(Files.exists(dir.resolve(name).resolve("manifest.json")));

        // The undisturbed twin: job A goes on one more step.
        train(workersA, k, k + 1);
        Map<String, float[]> twinAfter = pullAll(workersA.get(0), k + 1);
        stopAll();
        CheckpointCatalog.Found atShutdown = CheckpointCatalog.check(dir.resolve("ckpt-step-000000000007-2shards"), true, false);
        assertTrue(atShutdown.complete(), "a clean stop writes a checkpoint: " + atShutdown.problem());

        // Job B: 3 shards restore the step-6 checkpoint; fresh clients register the same model.
        List<InetSocketAddress> b = startShards(3, new CheckpointSettings(null, null, 0, dir.resolve(name)));
        List<PsClient> workersB = registeredWorkers(b);
        Map<String, float[]> restored = pullAll(workersB.get(0), k);
        for (TensorSpec spec : model()) {
            assertArrayEquals(atK.get(spec.name()), restored.get(spec.name()), spec.name() + " restored exactly");
        }
        train(workersB, k, k + 1);
        Map<String, float[]> after = pullAll(workersB.get(0), k + 1);
        for (TensorSpec spec : model()) {
            assertArrayEquals(twinAfter.get(spec.name()), after.get(spec.name()),
                    spec.name() + ": the step after restoring equals the step of the job never stopped");
        }
    }

    /**
     * Chunks cut differently at restore: a 2-shard job in 64-byte chunks checkpoints at step 4; a 3-shard job in
     * 128-byte chunks (w: 2 chunks instead of 4, u: 1 instead of 2) fills each chunk from the old ones it spans, and
     * its next step equals the next step of the job never stopped.
     */
    @Test
    void aCheckpointRestoresIntoAnotherChunkSizeAndTrainingContinuesAsIfNeverStopped() throws Exception {
        int k = 4;
        List<InetSocketAddress> a = startShards(2, new CheckpointSettings(dir, null, 0, null));
        List<PsClient> workersA = registeredWorkers(a);
        train(workersA, 0, k);
        Map<String, float[]> atK = pullAll(workersA.get(0), k);
        workersA.get(0).checkpoint("recut").get(30, TimeUnit.SECONDS);
        train(workersA, k, k + 1);
        Map<String, float[]> twinAfter = pullAll(workersA.get(0), k + 1);
        stopAll();

        List<InetSocketAddress> b = startShards(3, new CheckpointSettings(null, null, 0, dir.resolve("ckpt-recut-2shards")));
        List<PsClient> workersB = registeredWorkers(b, new PsClient.Options(128, 1 << 20));
        assertEquals(2, workersB.get(0).layout("w").chunks());
        Map<String, float[]> restored = pullAll(workersB.get(0), k);
        train(workersB, k, k + 1);
        Map<String, float[]> after = pullAll(workersB.get(0), k + 1);
        for (TensorSpec spec : model()) {
            assertArrayEquals(atK.get(spec.name()), restored.get(spec.name()), spec.name() + " restored exactly");
            assertArrayEquals(twinAfter.get(spec.name()), after.get(spec.name()), spec.name() + ": the next step");
        }
    }

    @Test
    void restoringTheNewestOfARootAlsoIntoAnotherChunkSize() throws Exception {
        List<InetSocketAddress> a = startShards(1, new CheckpointSettings(dir, null, 0, null));
        PsClient admin = client(a, -1, SMALL_CHUNKS);
        admin.register(model()).get(10, TimeUnit.SECONDS);
        Map<String, float[]> initial = pullAll(registeredWorkers(a).get(0), 0);
        Messages.CheckpointReply r = admin.checkpoint("first").get(30, TimeUnit.SECONDS).get(0);
        assertEquals("ckpt-first-1shards", r.directory());
        assertEquals(Messages.CheckpointReply.WRITTEN | Messages.CheckpointReply.SET_COMPLETE, r.flags(),
                "written, and the one shard's part makes the whole set, which reads back complete");
        assertTrue(r.bytes() > 4 * (63 + 25 + 9));
        ExecutionException bad = assertThrows(ExecutionException.class, () -> admin.checkpoint("../escape").get(10, TimeUnit.SECONDS));
        assertEquals(ErrorCode.BAD_ARGUMENT, assertInstanceOf(PsException.class, bad.getCause()).code());
        stopAll();

        // --restore DIR with the root: the newest complete checkpoint, whose chunks (all at version 0) another
        // chunk size can be cut from.
        List<InetSocketAddress> b = startShards(1, new CheckpointSettings(null, null, 0, dir));
        PsClient other = client(b, -1, new PsClient.Options(128, 1 << 20));
        other.register(model()).get(10, TimeUnit.SECONDS);
        Map<String, float[]> restored = pullAll(registeredWorkers(b, new PsClient.Options(128, 1 << 20)).get(0), 0);
        for (TensorSpec spec : model()) {
            assertArrayEquals(initial.get(spec.name()), restored.get(spec.name()), spec.name());
        }

        // A shard without --checkpoint-dir refuses CHECKPOINT.
        ExecutionException e = assertThrows(ExecutionException.class, () -> other.checkpoint("").get(10, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("no --checkpoint-dir"), e.getCause().getMessage());
    }
}
