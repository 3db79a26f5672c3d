package io.gpups.loadgen;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gpups.core.codec.Codec;
import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.device.Devices;
import io.gpups.core.net.SharedRing;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.worker.client.PsClient;
import io.gpups.worker.compress.GradientEncoder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Closed-loop load on running shards: {@code workers} threads, each with its own {@link PsClient} (rank = its
 * index), all pushing and/or pulling one shared tensor {@value #TENSOR} and keeping {@code window} operations
 * in flight. Latency is issue to completion of a whole-tensor operation, in nanoseconds.
 *
 * <p>Consistency (the step and clock each worker sends):
 * <ul>
 *   <li>asp: step = the worker's operation counter; it does not matter, every push is applied on arrival.
 *   Pulls use clock 0 and never wait.</li>
 *   <li>ssp:S: as asp; with pushpull the worker also sends {@code CLOCK(i + 1)} right after issuing operation
 *   {@code i} (whose answer waits for the slowest worker to reach {@code i + 1 - S}), and
 *   {@code CLOCK(Long.MAX_VALUE / 2)} when it stops, so no parked answer waits for a worker that has
 *   stopped.</li>
 *   <li>bsp with push or pushpull ({@link BenchSettings#lockStep}): window 1, step = operation index. After each
 *   step every worker waits at a barrier; the push answers are all in only once the shards applied the step,
 *   so step t + 1 never arrives early. The barrier's action decides, once for everyone, whether to go on,
 *   so every worker does the same number of steps and no shard waits for a gradient that never comes.
 *   bsp with pull behaves like asp: pulls with clock 0 never wait.</li>
 * </ul>
 *
 * <p>The measured window starts and ends by swapping the latency {@link Recorder}'s interval histogram, so the
 * operations counted are exactly those that completed inside it. The shards' {@code elements_updated} is read
 * (STATS, over a separate connection with rank -1) at both ends; its rate is taken over the time between the
 * midpoints of the two STATS round trips.
 */
public final class LoadGenerator implements AutoCloseable {

    /** The benchmark tensor's name. */
    public static final String TENSOR = "bench/values";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long CLOCK_RELEASE_ALL = Long.MAX_VALUE / 2;
    private static final long REQUEST_TIMEOUT_SECONDS = 120;

    /** What the measured window saw. */
    public record Window(long ops, double seconds, Histogram latencyNanos, long elementsUpdated, double statsSeconds,
                         long ringFrames, long ringFallbacks) {
        public Window(long ops, double seconds, Histogram latencyNanos, long elementsUpdated, double statsSeconds) {
            this(ops, seconds, latencyNanos, elementsUpdated, statsSeconds, 0, 0);
        }
    }

    private final BenchSettings settings;
    private final List<PsClient> clients;
    private final PsClient observer;
    private final Recorder latencies = new Recorder(3);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final CyclicBarrier stepBarrier;
    private volatile boolean stopping;
    /** Lock-step only: the barrier action's verdict for the next step. */
    private volatile boolean nextStep = true;

    private LoadGenerator(BenchSettings settings, List<PsClient> clients, PsClient observer) {
        this.settings = settings;
        this.clients = clients;
        this.observer = observer;
        this.stepBarrier = new CyclicBarrier(settings.workers(), () -> nextStep = !stopping && failure.get() == null);
    }

    private long ringFrames() {
        return clients.stream().mapToLong(PsClient::ringFrames).sum();
    }

    private long ringFallbacks() {
        return clients.stream().mapToLong(PsClient::ringFallbacks).sum();
    }

    /** Connects one client per worker and an observer, and registers the benchmark tensor. */
    public static LoadGenerator connect(List<InetSocketAddress> shards, BenchSettings settings) {
        List<PsClient> clients = new ArrayList<>();
        PsClient observer = null;
        try {
            PsClient.Options options = settings.transport() == BenchTransport.SHM
                    ? PsClient.Options.defaults().withRing(PsClient.Ring.defaults()) : PsClient.Options.defaults();
            for (int rank = 0; rank < settings.workers(); rank++) {
                PsClient c = PsClient.connect(shards, rank, options);
                clients.add(c);
                if (settings.transport() == BenchTransport.SHM && c.ringConnections() != shards.size()) {
                    throw new IllegalStateException("--transport shm: worker " + rank + " has shared-memory rings to "
                            + c.ringConnections() + " of " + shards.size() + " shard(s); the log says why (a ring needs "
                            + SharedRing.DEFAULT_DIRECTORY + " on this host, and shards that take rings)");
                }
            }
            observer = PsClient.connect(shards, -1, PsClient.Options.defaults());
            LoadGenerator load = new LoadGenerator(settings, clients, observer);
            TensorSpec spec = new TensorSpec(TENSOR, new long[] {settings.elements()}, Initializer.zeros(),
                    settings.optimizer());
            List<CompletableFuture<Void>> registered = new ArrayList<>();
            for (PsClient c : clients) {
                registered.add(c.register(List.of(spec)));
            }
            await(CompletableFuture.allOf(registered.toArray(CompletableFuture[]::new)), "registering " + spec);
            return load;
        } catch (RuntimeException e) {
            clients.forEach(PsClient::close);
            if (observer != null) {
                observer.close();
            }
            throw e;
        }
    }

    /** Runs the warmup and the measured window, then stops every worker and waits for its operations. */
    public Window run() throws InterruptedException {
        ByteBuffer gradient = settings.mode().pushes() ? gradient(settings.valueBytes()) : null;
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < settings.workers(); w++) {
            PsClient client = clients.get(w);
            ByteBuffer[] destinations = destinations();
            ByteBuffer[][] encoded = encode(client, w, gradient);
            Runnable loop = settings.lockStep() ? () -> lockStepLoop(client, gradient, encoded, destinations[0])
                    : () -> pipelinedLoop(client, gradient, encoded, destinations);
            Thread t = new Thread(() -> {
                try {
                    loop.run();
                } catch (Throwable e) {
                    fail(e);
                }
            }, "gpups-bench-worker-" + w);
            t.setDaemon(true);
            threads.add(t);
        }
        threads.forEach(Thread::start);
        try {
            sleepChecking(settings.warmupSeconds());
            latencies.getIntervalHistogram();
            long start = System.nanoTime();
            double[] before = elementsUpdated();
            long ringBefore = ringFrames();
            long fallbacksBefore = ringFallbacks();
            sleepChecking(settings.seconds());
            Histogram measured = latencies.getIntervalHistogram();
            long end = System.nanoTime();
            double[] after = elementsUpdated();
            checkFailure();
            return new Window(measured.getTotalCount(), (end - start) / 1e9, measured,
                    (long) (after[0] - before[0]), after[1] - before[1], ringFrames() - ringBefore,
                    ringFallbacks() - fallbacksBefore);
        } finally {
            stopping = true;
            // After a failure nobody waits for the answers still out: closing the clients fails them.
            long joinMillis = TimeUnit.SECONDS.toMillis(failure.get() == null ? REQUEST_TIMEOUT_SECONDS : 1);
            for (Thread t : threads) {
                t.join(joinMillis);
            }
        }
    }

    /** Throws the first worker failure, if any. */
    private void checkFailure() {
        Throwable e = failure.get();
        if (e != null) {
            throw new IllegalStateException("bench worker failed: " + describe(e), e);
        }
    }

    private void pipelinedLoop(PsClient client, ByteBuffer gradient, ByteBuffer[][] encoded, ByteBuffer[] destinations) {
        int window = destinations.length;
        ArrayBlockingQueue<Integer> free = new ArrayBlockingQueue<>(window);
        for (int slot = 0; slot < window; slot++) {
            free.add(slot);
        }
        boolean clocks = settings.consistency().mode() == Consistency.Mode.SSP && settings.mode() == BenchMode.PUSH_PULL;
        long op = 0;
        try {
            while (!stopping && failure.get() == null) {
                Integer slot = free.poll(50, TimeUnit.MILLISECONDS);
                if (slot == null) {
                    continue;
                }
                long step = op++;
                long start = System.nanoTime();
                CompletableFuture<?> done = issue(client, step, gradient, encoded == null ? null : encoded[slot],
                        destinations[slot]);
                if (clocks) {
                    client.clock(step + 1).whenComplete((v, e) -> failIf(e));
                }
                done.whenComplete((v, e) -> {
                    if (e != null) {
                        fail(e);
                    } else {
                        latencies.recordValue(System.nanoTime() - start);
                    }
                    free.add(slot);
                });
            }
            if (clocks) {
                client.clock(CLOCK_RELEASE_ALL).whenComplete((v, e) -> failIf(e));
            }
            // Drain: every slot back means every operation of this worker has been answered.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(REQUEST_TIMEOUT_SECONDS);
            for (int back = free.size(); back < window && failure.get() == null; back = free.size()) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException((window - back) + " operation(s) still unanswered "
                            + REQUEST_TIMEOUT_SECONDS + " s after the bench stopped");
                }
                Thread.sleep(1);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void lockStepLoop(PsClient client, ByteBuffer gradient, ByteBuffer[][] encoded, ByteBuffer destination) {
        try {
            for (long step = 0; ; step++) {
                long start = System.nanoTime();
                await(issue(client, step, gradient, encoded == null ? null : encoded[0], destination), "step " + step);
                latencies.recordValue(System.nanoTime() - start);
                stepBarrier.await(REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS);
                if (!nextStep) {
                    return;
                }
            }
        } catch (BrokenBarrierException e) {
            // another worker failed and broke the barrier; its failure is the one reported
        } catch (TimeoutException e) {
            fail(new IllegalStateException("bsp: a worker did not finish its step within " + REQUEST_TIMEOUT_SECONDS + " s"));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private CompletableFuture<?> issue(PsClient client, long step, ByteBuffer gradient, ByteBuffer[] encoded,
                                       ByteBuffer destination) {
        return switch (settings.mode()) {
            case PUSH -> encoded != null ? client.push(TENSOR, step, settings.codec(), encoded) : client.push(TENSOR, step, gradient);
            case PULL -> client.pull(TENSOR, 0, destination);
            case PUSH_PULL -> client.pushPull(TENSOR, step, gradient, destination);
        };
    }

    /**
     * With a codec, one encoded gradient per operation in flight (chunk payloads), encoded once on the
     * bench's device with error feedback and then pushed again and again: the loop measures the network and
     * the shards' decoding; {@link CodecThroughput} measures encoding. Null without a codec.
     */
    private ByteBuffer[][] encode(PsClient client, int rank, ByteBuffer gradient) {
        if (settings.codec().kind() == Codec.Kind.NONE) {
            return null;
        }
        ByteBuffer[][] encoded = new ByteBuffer[settings.window()][];
        try (Device device = Devices.installed().open(settings.device(), line -> { });
             DeviceBuffer values = device.allocate(settings.elements())) {
            device.upload(gradient.duplicate(), values, 0, settings.elements());
            for (int slot = 0; slot < encoded.length; slot++) {
                try (GradientEncoder encoder = new GradientEncoder(device, TENSOR, client.layout(TENSOR), settings.codec(), rank)) {
                    ByteBuffer[] payloads = encoder.encode(values, slot);
                    encoded[slot] = new ByteBuffer[payloads.length];
                    for (int c = 0; c < payloads.length; c++) {
                        // Copied out: an encoder's buffers are reused by its next encode.
                        encoded[slot][c] = allocate(payloads[c].remaining()).put(payloads[c].duplicate()).flip();
                    }
                }
            }
        }
        return encoded;
    }

    /** One destination per operation in flight, so concurrent pulls never write the same memory. */
    private ByteBuffer[] destinations() {
        ByteBuffer[] d = new ByteBuffer[settings.window()];
        if (settings.mode().pulls()) {
            for (int i = 0; i < d.length; i++) {
                d[i] = allocate(settings.valueBytes());
            }
        }
        return d;
    }

    /** The gradient every push sends: small non-zero values, filled once, read-only from then on. */
    private static ByteBuffer gradient(int bytes) {
        ByteBuffer g = allocate(bytes);
        for (int i = 0; i < bytes / 4; i++) {
            g.putFloat(i * 4, 1e-3f * (1 + i % 7));
        }
        return g;
    }

    private static ByteBuffer allocate(int bytes) {
        try {
            return ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
        } catch (OutOfMemoryError e) {
            throw new IllegalArgumentException("cannot allocate another " + bytes + "-byte direct buffer (" + e.getMessage()
                    + "); lower --window, --workers or --value-bytes, or raise -XX:MaxDirectMemorySize");
        }
    }

    /** The shards' summed {@code elements_updated}, and the midpoint of the STATS round trip in seconds. */
    private double[] elementsUpdated() {
        long sent = System.nanoTime();
        List<String> stats = await(observer.stats(), "STATS");
        long received = System.nanoTime();
        long sum = 0;
        for (String text : stats) {
            try {
                JsonNode n = JSON.readTree(text).get("elements_updated");
                if (n == null || !n.canConvertToLong()) {
                    throw new IllegalStateException("shard STATS has no elements_updated: " + text);
                }
                sum += n.asLong();
            } catch (IOException e) {
                throw new IllegalStateException("shard STATS is not JSON: " + text, e);
            }
        }
        return new double[] {sum, (sent + received) / 2e9};
    }

    private void sleepChecking(double seconds) throws InterruptedException {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        for (long left = end - System.nanoTime(); left > 0; left = end - System.nanoTime()) {
            checkFailure();
            TimeUnit.NANOSECONDS.sleep(Math.min(left, TimeUnit.MILLISECONDS.toNanos(20)));
        }
        checkFailure();
    }

    private void failIf(Throwable e) {
        if (e != null) {
            fail(e);
        }
    }

    private void fail(Throwable e) {
        if (failure.compareAndSet(null, e)) {
            stopping = true;
            stepBarrier.reset();
        }
    }

    private static <T> T await(CompletableFuture<T> f, String what) {
        try {
            return f.get(REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException(what + " failed: " + describe(e.getCause()), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException(what + ": no answer within " + REQUEST_TIMEOUT_SECONDS + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(what + ": interrupted");
        }
    }

    private static String describe(Throwable e) {
        while (e instanceof java.util.concurrent.CompletionException && e.getCause() != null) {
            e = e.getCause();
        }
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }

    @Override
    public void close() {
        clients.forEach(PsClient::close);
        observer.close();
    }
}
