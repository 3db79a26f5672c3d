package io.gpups.worker.client;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.RowIds;
import io.gpups.core.table.RowValues;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardSecurity;
import io.gpups.server.ShardServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two workers and two asp shards over real loopback sockets, with an embedding table: each row lives on the shard its
 * id hashes to, repeated ids in one request are summed, and after a sequence of pushes every row equals a plain-Java
 * Adagrad over the same gradients, bit for bit. On bsp shards, two workers in lock step train the rows as a plain
 * Adagrad over the mean of their gradients, step by step.
 */
class TableClusterTest {

    private static final int DIM = 8;
    private static final OptimizerSpec.Adagrad ADAGRAD = new OptimizerSpec.Adagrad(0.1f, 1e-6f, 0.05f, 0f);
    private static final TableSpec ITEMS = new TableSpec("items", DIM, new Initializer(Initializer.Kind.NORMAL, 0.1f, 5),
            ADAGRAD, 4096, Eviction.LRU);

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
        List<InetSocketAddress> addresses = new ArrayList<>();
        for (int s = 0; s < shards; s++) {
            Device d = Devices.installed().open("cpu", line -> { });
            devices.add(d);
            ShardServer server = ShardServer.start(new ShardConfig("127.0.0.1", 0, s, shards, 2,
                    Consistency.parse(consistency), 8 << 20), d, ShardSecurity.none());
            servers.add(server);
            addresses.add(new InetSocketAddress("127.0.0.1", server.port()));
        }
        return addresses;
    }

    private PsClient client(List<InetSocketAddress> shards, int rank) {
        PsClient c = PsClient.connect(shards, rank, new PsClient.Options(1 << 20, 8 << 20));
        clients.add(c);
        return c;
    }

    /** Adagrad on the host, in float, in the kernel's operation order. */
    private static final class Reference {
        final Map<Long, float[]> values = new HashMap<>();
        final Map<Long, float[]> sums = new HashMap<>();

        float[] row(long id) {
            return values.computeIfAbsent(id, k -> {
                float[] v = new float[DIM];
                RowIds.initialValues(ITEMS.initializer(), k, DIM, v, 0);
                float[] h = new float[DIM];
                java.util.Arrays.fill(h, ADAGRAD.initialAccumulator());
                sums.put(k, h);
                return v;
            });
        }

        /** A request's gradients summed per id, in the ids' order (as the client sends them). */
        static Map<Long, float[]> summed(long[] ids, float[] grads) {
            Map<Long, float[]> summed = new java.util.LinkedHashMap<>();
            for (int i = 0; i < ids.length; i++) {
                float[] g = summed.computeIfAbsent(ids[i], k -> new float[DIM]);
                for (int j = 0; j < DIM; j++) {
                    g[j] += grads[i * DIM + j];
                }
            }
            return summed;
        }

        void push(long[] ids, float[] grads) {
            step(summed(ids, grads));
        }

        /** A bsp step of two workers: each row's gradients summed, worker 0's first, then halved (the mean). */
        void bspStep(Map<Long, float[]> first, Map<Long, float[]> second) {
            Map<Long, float[]> sum = new java.util.LinkedHashMap<>();
            for (Map<Long, float[]> w : List.of(first, second)) {
                w.forEach((id, g) -> {
                    float[] s = sum.computeIfAbsent(id, k -> new float[DIM]);
                    for (int j = 0; j < DIM; j++) {
                        s[j] += g[j];
                    }
                });
            }
            sum.values().forEach(g -> {
                for (int j = 0; j < DIM; j++) {
                    g[j] *= 0.5f;
                }
            });
            step(sum);
        }

        private void step(Map<Long, float[]> summed) {
            summed.forEach((id, g) -> {
                float[] p = row(id);
                float[] h = sums.get(id);
                for (int j = 0; j < DIM; j++) {
                    h[j] += g[j] * g[j];
                    p[j] -= ADAGRAD.lr() * g[j] / ((float) Math.sqrt(h[j]) + ADAGRAD.eps());
                }
            });
        }
    }

    private static float[] gradients(int rows, int seed) {
        java.util.Random r = new java.util.Random(seed);
        float[] g = new float[rows * DIM];
        for (int i = 0; i < g.length; i++) {
            g[i] = (float) r.nextGaussian();
        }
        return g;
    }

    @Test
    void rowsTrainedByTwoWorkersOnTwoShardsEqualAPlainAdagrad() throws Exception {
        List<InetSocketAddress> shards = startShards(2, "asp");
        TableClient w0 = client(shards, 0).tables();
        TableClient w1 = client(shards, 1).tables();
        w0.register(ITEMS).get(30, TimeUnit.SECONDS);
        w1.register(ITEMS).get(30, TimeUnit.SECONDS);
        Reference reference = new Reference();
        long[] all = new long[40];
        for (int i = 0; i < all.length; i++) {
            all[i] = RowIds.mix(i) >>> 3;   // ids spread over the u64 range
        }
        boolean[] onShard = new boolean[2];
        for (long id : all) {
            onShard[RowIds.shardOf(id, 2)] = true;
        }
        assertTrue(onShard[0] && onShard[1], "the ids reach both shards");

        java.util.Random r = new java.util.Random(3);
        for (int step = 0; step < 12; step++) {
            TableClient w = step % 2 == 0 ? w0 : w1;
            int n = 5 + r.nextInt(20);
            long[] ids = new long[n];
            for (int i = 0; i < n; i++) {
                ids[i] = all[r.nextInt(all.length)];   // repeats within a request are likely
            }
            float[] grads = gradients(n, step);
            for (long id : ids) {
                reference.row(id);
            }
            w.push("items", ids, n, grads, RowDtype.FP32, step).get(30, TimeUnit.SECONDS);
            reference.push(ids, grads);
        }

        float[] pulled = new float[all.length * DIM];
        w1.pull("items", all, all.length, RowDtype.FP32, 0, pulled).get(30, TimeUnit.SECONDS);
        float[] expected = new float[all.length * DIM];
        for (int i = 0; i < all.length; i++) {
            System.arraycopy(reference.row(all[i]), 0, expected, i * DIM, DIM);
        }
        assertArrayEquals(expected, pulled);

        long[] twice = {all[3], all[7], all[3]};
        float[] bf16 = new float[3 * DIM];
        w0.pull("items", twice, 3, RowDtype.BF16, 0, bf16).get(30, TimeUnit.SECONDS);
        for (int i = 0; i < 3; i++) {
            float[] row = reference.row(twice[i]);
            for (int j = 0; j < DIM; j++) {
                assertEquals(Float.intBitsToFloat((RowValues.toBf16(row[j]) & 0xFFFF) << 16), bf16[i * DIM + j],
                        "bf16 row " + i + " element " + j);
            }
        }
    }

    @Test
    void twoWorkersInLockStepOnTwoBspShardsEqualAPlainAdagradOverTheMean() throws Exception {
        List<InetSocketAddress> shards = startShards(2, "bsp");
        TableClient w0 = client(shards, 0).tables();
        TableClient w1 = client(shards, 1).tables();
        w0.register(ITEMS).get(30, TimeUnit.SECONDS);
        w1.register(ITEMS).get(30, TimeUnit.SECONDS);
        Reference reference = new Reference();
        long[] all = new long[40];
        for (int i = 0; i < all.length; i++) {
            all[i] = RowIds.mix(i) >>> 3;
        }
        java.util.Random r = new java.util.Random(11);
        float[] pulled = new float[all.length * DIM];
        for (int step = 0; step < 8; step++) {
            // Few ids per worker: some steps leave a shard without rows from a worker (an empty push keeps it in step).
            long[][] ids = new long[2][];
            float[][] grads = new float[2][];
            for (int w = 0; w < 2; w++) {
                int n = 1 + r.nextInt(step % 3 == 0 ? 2 : 12);
                ids[w] = new long[n];
                for (int i = 0; i < n; i++) {
                    ids[w][i] = all[r.nextInt(all.length)];
                }
                grads[w] = gradients(n, 100 * step + w);
                for (long id : ids[w]) {
                    reference.row(id);
                }
            }
            w0.push("items", ids[0], ids[0].length, grads[0], RowDtype.FP32, step).get(30, TimeUnit.SECONDS);
            // Worker 0 pulls for the next step before worker 1 has pushed: its pull waits on the shards for the step.
            java.util.concurrent.CompletableFuture<Integer> early = w0.pull("items", all, all.length, RowDtype.FP32,
                    step + 1, pulled);
            w1.push("items", ids[1], ids[1].length, grads[1], RowDtype.FP32, step).get(30, TimeUnit.SECONDS);
            reference.bspStep(Reference.summed(ids[0], grads[0]), Reference.summed(ids[1], grads[1]));
            early.get(30, TimeUnit.SECONDS);
            float[] expected = new float[all.length * DIM];
            for (int i = 0; i < all.length; i++) {
                System.arraycopy(reference.row(all[i]), 0, expected, i * DIM, DIM);
            }
            assertArrayEquals(expected, pulled, "worker 0's rows after step " + step);
            float[] other = new float[all.length * DIM];
            w1.pull("items", all, all.length, RowDtype.FP32, step + 1, other).get(30, TimeUnit.SECONDS);
            assertArrayEquals(expected, other, "worker 1's rows after step " + step);
        }
    }

    @Test
    void anSspShardRefusesTheTableWithItsReason() throws Exception {
        List<InetSocketAddress> shards = startShards(1, "ssp:1");
        TableClient w0 = client(shards, 0).tables();
        ExecutionException e = assertThrows(ExecutionException.class, () -> w0.register(ITEMS).get(30, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("embedding tables are served under asp and bsp only"),
                e.getCause().getMessage());
        assertThrows(IllegalArgumentException.class, () -> w0.pull("items", new long[] {1}, 1, RowDtype.FP32, 0,
                new float[DIM]), "a table whose registration failed is not registered");
        assertEquals(1, clients.size());
    }
}
