package io.gpups.worker.client;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shards and workers over real loopback sockets, checked against a single-process computation. */
class PsClientClusterTest {

    /** 64-byte chunks: every tensor below is cut into several chunks spread over both shards. */
    private static final PsClient.Options SMALL_CHUNKS = new PsClient.Options(64, 1 << 20);
    private static final OptimizerSpec.Adam ADAM = new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0.001f);

    private final List<Device> devices = new ArrayList<>();
    private final List<ShardServer> servers = new ArrayList<>();
    private final List<PsClient> clients = new ArrayList<>();

    private List<InetSocketAddress> startShards(int shards, int workers, String consistency) throws Exception {
        List<InetSocketAddress> addresses = new ArrayList<>();
        for (int s = 0; s < shards; s++) {
            Device d = Devices.installed().open("cpu", line -> { });
            devices.add(d);
            ShardServer server = ShardServer.start(new ShardConfig("127.0.0.1", 0, s, shards, workers,
                    Consistency.parse(consistency), 1 << 20), d);
            servers.add(server);
            addresses.add(new InetSocketAddress("127.0.0.1", server.port()));
        }
        return addresses;
    }

    private PsClient client(List<InetSocketAddress> shards, int rank) {
        PsClient c = PsClient.connect(shards, rank, SMALL_CHUNKS);
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
        return List.of(
                new TensorSpec("w", new long[] {7, 9}, Initializer.glorotUniform(7, 9, 3), ADAM),
                new TensorSpec("b", new long[] {9}, new Initializer(Initializer.Kind.CONSTANT, 0.5f, 0), ADAM));
    }

    /** The gradient worker {@code rank} pushes at {@code step}: any deterministic, varied values. */
    private static float gradient(int rank, long step, int i) {
        return (float) Math.sin(0.37 * i + 1.3 * step + 2.1 * rank) * (1 + rank);
    }

    @Test
    void bspAfterKStepsEqualsSingleProcessMeanGradientAdam() throws Exception {
        int workers = 2;
        int steps = 12;
        List<InetSocketAddress> shards = startShards(2, workers, "bsp");
        List<CompletableFuture<Void>> runs = new ArrayList<>();
        for (int r = 0; r < workers; r++) {
            PsClient c = client(shards, r);
            int rank = r;
            runs.add(CompletableFuture.runAsync(() -> train(c, rank, steps)));
        }
        CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);

        for (TensorSpec spec : model()) {
            int n = (int) spec.elements();
            float[] expected = referenceAdam(spec, workers, steps);
            ByteBuffer got = direct(n);
            long version = clients.get(0).pull(spec.name(), steps, got).get(10, TimeUnit.SECONDS);
            assertEquals(steps, version, "every chunk applied exactly one update per step");
            for (int i = 0; i < n; i++) {
                assertEquals(expected[i], got.getFloat(4 * i), 2e-5f, spec.name() + "[" + i + "]");
            }
        }
    }

    private static void train(PsClient c, int rank, int steps) {
        try {
            c.register(model()).get(10, TimeUnit.SECONDS);
            for (long t = 0; t < steps; t++) {
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
    }

    /** Plain-Java Adam (L2 weight decay) on the mean of every worker's gradient, in double. */
    private static float[] referenceAdam(TensorSpec spec, int workers, int steps) {
        int n = (int) spec.elements();
        double[] p = new double[n];
        double[] m = new double[n];
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            p[i] = spec.initializer().valueAt(i);
        }
        for (int t = 0; t < steps; t++) {
            double bc1 = 1 - Math.pow(ADAM.beta1(), t + 1);
            double bc2 = 1 - Math.pow(ADAM.beta2(), t + 1);
            for (int i = 0; i < n; i++) {
                double g = 0;
                for (int r = 0; r < workers; r++) {
                    g += gradient(r, t, i);
                }
                g = g / workers + ADAM.weightDecay() * p[i];
                m[i] = ADAM.beta1() * m[i] + (1 - ADAM.beta1()) * g;
                v[i] = ADAM.beta2() * v[i] + (1 - ADAM.beta2()) * g * g;
                p[i] -= ADAM.lr() * (m[i] / bc1) / (Math.sqrt(v[i] / bc2) + ADAM.eps());
            }
        }
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) p[i];
        }
        return out;
    }

    @Test
    void sspHoldsBackOnlyAWorkerMoreThanSClocksAhead() throws Exception {
        List<InetSocketAddress> shards = startShards(2, 2, "ssp:1");
        PsClient fast = client(shards, 0);
        PsClient slow = client(shards, 1);
        fast.register(model()).get(10, TimeUnit.SECONDS);
        slow.register(model()).get(10, TimeUnit.SECONDS);
        ByteBuffer w = direct(63);

        fast.clock(2).get(10, TimeUnit.SECONDS);
        // The slowest clock is 0: clock 1 is within S = 1 of it and is served at once.
        fast.pull("w", 1, w).get(10, TimeUnit.SECONDS);
        // Clock 2 is 2 ahead: held back.
        CompletableFuture<Long> ahead = fast.pull("w", 2, w);
        assertThrows(TimeoutException.class, () -> ahead.get(300, TimeUnit.MILLISECONDS));
        assertFalse(ahead.isDone());
        // The slow worker catches up to clock 1: now 2 - 1 <= 1 and the pull is answered.
        slow.clock(1).get(10, TimeUnit.SECONDS);
        ahead.get(10, TimeUnit.SECONDS);
    }

    @Test
    void bspPullForAStepNotYetAppliedWaitsForEveryWorker() throws Exception {
        List<InetSocketAddress> shards = startShards(1, 2, "bsp");
        PsClient a = client(shards, 0);
        PsClient b = client(shards, 1);
        a.register(model()).get(10, TimeUnit.SECONDS);
        b.register(model()).get(10, TimeUnit.SECONDS);
        ByteBuffer g = direct(9);
        a.push("b", 0, g).get(10, TimeUnit.SECONDS);
        CompletableFuture<Long> next = a.pull("b", 1, direct(9));
        assertThrows(TimeoutException.class, () -> next.get(300, TimeUnit.MILLISECONDS));
        b.push("b", 0, g).get(10, TimeUnit.SECONDS);
        assertEquals(1L, next.get(10, TimeUnit.SECONDS));
    }

    @Test
    void errorsReachTheCallerWithTheShardsCode() throws Exception {
        List<InetSocketAddress> shards = startShards(1, 1, "bsp");
        PsClient c = client(shards, 0);
        c.register(model()).get(10, TimeUnit.SECONDS);
        ExecutionException e = assertThrows(ExecutionException.class, () -> c.push("b", 5, direct(9)).get(10, TimeUnit.SECONDS));
        PsException ps = assertInstanceOf(PsException.class, e.getCause());
        assertEquals(ErrorCode.STALE_STEP, ps.code());
        assertTrue(ps.getMessage().contains("step 5"), ps.getMessage());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> c.push("nope", 0, direct(1)));
        assertEquals("tensor 'nope' is not registered with this client", bad.getMessage());
    }

    private static ByteBuffer direct(int floats) {
        return ByteBuffer.allocateDirect(4 * floats).order(ByteOrder.LITTLE_ENDIAN);
    }
}
