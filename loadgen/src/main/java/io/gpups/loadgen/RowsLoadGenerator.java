package io.gpups.loadgen;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.TableSpec;
import io.gpups.worker.client.PsClient;
import io.gpups.worker.client.TableClient;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Closed-loop rows load on running shards ({@code gpups bench --mode rows-pull|rows-push}): {@code workers} threads,
 * each with its own {@link PsClient}, keeping {@code window} PULL_ROWS or PUSH_ROWS requests of
 * {@code idsPerRequest} ids in flight. Before the warmup, worker 0 pulls every row of the table once, so the table
 * holds all {@code tableRows} rows and the window measures lookups, not births.
 *
 * <p>Counted over the measured window: requests, ids asked for, rows sent (the unique ids, after the client's
 * dedupe) and, from the shards' STATS at both ends, the time their tables spent in lookups, gathers and optimizer
 * steps.
 */
public final class RowsLoadGenerator implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long TIMEOUT_SECONDS = 300;

    /** What the measured window saw; the shard fields are sums over the shards. */
    public record Window(long requests, long ids, long rows, double seconds, Histogram latencyNanos, double fillSeconds,
                         double shardLookupSeconds, double shardGatherSeconds, double shardApplySeconds,
                         long shardRowsPulled, long shardRowsPushed, long tableRows) {
    }

    private final RowsBenchSettings settings;
    private final List<PsClient> clients;
    private final PsClient observer;
    private final Recorder latencies = new Recorder(3);
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong idsAsked = new AtomicLong();
    private final AtomicLong rowsSent = new AtomicLong();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private volatile boolean stopping;
    private double fillSeconds;

    private RowsLoadGenerator(RowsBenchSettings settings, List<PsClient> clients, PsClient observer) {
        this.settings = settings;
        this.clients = clients;
        this.observer = observer;
    }

    /** Connects one client per worker and an observer, registers the table and fills it. */
    public static RowsLoadGenerator connect(List<InetSocketAddress> shards, RowsBenchSettings settings) {
        List<PsClient> clients = new ArrayList<>();
        PsClient observer = null;
        try {
            for (int rank = 0; rank < settings.workers(); rank++) {
                clients.add(PsClient.connect(shards, rank, PsClient.Options.defaults()));
            }
            observer = PsClient.connect(shards, -1, PsClient.Options.defaults());
            RowsLoadGenerator load = new RowsLoadGenerator(settings, clients, observer);
            TableSpec spec = settings.table();
            for (PsClient c : clients) {
                await(c.tables().register(spec), "registering " + spec);
            }
            load.fill();
            return load;
        } catch (RuntimeException e) {
            clients.forEach(PsClient::close);
            if (observer != null) {
                observer.close();
            }
            throw e;
        }
    }

    /** Pulls every row once (ranks 1..tableRows), 64 Ki ids per request, a few requests in flight. */
    private void fill() {
        long start = System.nanoTime();
        TableClient t = clients.get(0).tables();
        int batch = 1 << 16;
        int inFlight = 4;
        List<CompletableFuture<Integer>> pending = new ArrayList<>();
        for (long first = 1; first <= settings.tableRows(); first += batch) {
            int n = (int) Math.min(batch, settings.tableRows() - first + 1);
            long[] ids = new long[n];
            for (int i = 0; i < n; i++) {
                ids[i] = RowIdDistribution.idOfRank(first + i);
            }
            pending.add(t.pull(RowsBenchSettings.TABLE, ids, n, RowDtype.FP32, 0, new float[n * settings.dim()]));
            if (pending.size() == inFlight) {
                await(pending.remove(0), "filling the table");
            }
        }
        pending.forEach(f -> await(f, "filling the table"));
        fillSeconds = (System.nanoTime() - start) / 1e9;
    }

    /** Runs the warmup and the measured window, then stops every worker and waits for its requests. */
    public Window run() throws InterruptedException {
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < settings.workers(); w++) {
            TableClient table = clients.get(w).tables();
            long seed = 1000 + w;
            Thread t = new Thread(() -> {
                try {
                    loop(table, seed);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "gpups-bench-rows-" + w);
            t.setDaemon(true);
            threads.add(t);
        }
        threads.forEach(Thread::start);
        try {
            sleepChecking(settings.warmupSeconds());
            latencies.getIntervalHistogram();
            long r0 = requests.get();
            long i0 = idsAsked.get();
            long w0 = rowsSent.get();
            double[] before = shardTotals();
            long start = System.nanoTime();
            sleepChecking(settings.seconds());
            Histogram measured = latencies.getIntervalHistogram();
            long end = System.nanoTime();
            long r1 = requests.get();
            long i1 = idsAsked.get();
            long w1 = rowsSent.get();
            double[] after = shardTotals();
            checkFailure();
            return new Window(r1 - r0, i1 - i0, w1 - w0, (end - start) / 1e9, measured, fillSeconds,
                    after[0] - before[0], after[1] - before[1], after[2] - before[2], (long) (after[3] - before[3]),
                    (long) (after[4] - before[4]), (long) after[5]);
        } finally {
            stopping = true;
            for (Thread t : threads) {
                t.join(TimeUnit.SECONDS.toMillis(failure.get() == null ? TIMEOUT_SECONDS : 1));
            }
        }
    }

    private void loop(TableClient table, long seed) throws InterruptedException {
        int k = settings.idsPerRequest();
        int dim = settings.dim();
        int window = settings.window();
        SplittableRandom random = new SplittableRandom(seed);
        float[] grads = new float[k * dim];
        for (int i = 0; i < grads.length; i++) {
            grads[i] = (float) (random.nextDouble() - 0.5) * 1e-3f;
        }
        Semaphore free = new Semaphore(window);
        // One destination per request in flight, taken and given back with the permits.
        java.util.concurrent.ConcurrentLinkedQueue<float[]> outs = new java.util.concurrent.ConcurrentLinkedQueue<>();
        for (int i = 0; i < window; i++) {
            outs.add(new float[k * dim]);
        }
        long step = 0;
        while (!stopping && failure.get() == null) {
            if (!free.tryAcquire(50, TimeUnit.MILLISECONDS)) {
                continue;
            }
            float[] out = outs.poll();
            long[] ids = new long[k];
            for (int i = 0; i < k; i++) {
                ids[i] = settings.ids().next(random);
            }
            long issued = System.nanoTime();
            CompletableFuture<Integer> f = settings.push()
                    ? table.push(RowsBenchSettings.TABLE, ids, k, grads, RowDtype.FP32, step++)
                    : table.pull(RowsBenchSettings.TABLE, ids, k, RowDtype.FP32, 0, out);
            f.whenComplete((rows, e) -> {
                if (e != null) {
                    failure.compareAndSet(null, e);
                } else {
                    latencies.recordValue(Math.max(1, System.nanoTime() - issued));
                    requests.incrementAndGet();
                    idsAsked.addAndGet(k);
                    rowsSent.addAndGet(rows);
                }
                outs.add(out);
                free.release();
            });
        }
        free.acquire(window);  // every request of this worker answered
    }

    /**
     * Summed over the shards' tables: lookup, gather and apply seconds, rows pulled and pushed, and rows stored
     * (STATS, over the observer's connection).
     */
    private double[] shardTotals() {
        double[] sums = new double[6];
        for (String json : await(observer.stats(), "STATS")) {
            try {
                for (JsonNode t : JSON.readTree(json).path("tables")) {
                    if (RowsBenchSettings.TABLE.equals(t.path("name").asText())) {
                        sums[0] += t.path("lookup_seconds").asDouble();
                        sums[1] += t.path("gather_seconds").asDouble();
                        sums[2] += t.path("apply_seconds").asDouble();
                        sums[3] += t.path("rows_pulled").asDouble();
                        sums[4] += t.path("rows_pushed").asDouble();
                        sums[5] += t.path("rows").asDouble();
                    }
                }
            } catch (java.io.IOException e) {
                throw new IllegalStateException("a shard's STATS is not JSON: " + json, e);
            }
        }
        return sums;
    }

    private void sleepChecking(double seconds) throws InterruptedException {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while (System.nanoTime() < end) {
            checkFailure();
            Thread.sleep(Math.max(1, Math.min(100, (end - System.nanoTime()) / 1_000_000)));
        }
    }

    private void checkFailure() {
        Throwable e = failure.get();
        if (e != null) {
            throw new IllegalStateException("bench worker failed: " + e, e);
        }
    }

    private static <T> T await(CompletableFuture<T> f, String what) {
        try {
            return f.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while " + what, e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(what + " failed: " + e.getCause().getMessage(), e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException(what + ": no answer within " + TIMEOUT_SECONDS + " s", e);
        }
    }

    @Override
    public void close() {
        stopping = true;
        clients.forEach(PsClient::close);
        observer.close();
    }
}
