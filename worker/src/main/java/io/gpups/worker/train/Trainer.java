package io.gpups.worker.train;

import io.gpups.core.codec.Codec;
import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.worker.client.ParameterClient;
import io.gpups.worker.client.PsException;
import io.gpups.worker.compress.GradientEncoder;
import io.gpups.worker.data.Dataset;
import io.gpups.worker.data.EpochSharding;
import io.gpups.worker.data.TrainTestSplit;
import io.gpups.worker.metrics.TrainingMonitor;
import io.gpups.worker.model.DeviceModel;
import io.gpups.worker.model.Model;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Data-parallel training of one worker against the parameter shards. Step t (counted across epochs from
 * 0) is:
 *
 * <pre>
 * pull every tensor at clock t (all in flight, then wait)  -> upload to the device
 * forward/backward on this worker's t-th batch              -> download gradients
 * push every gradient for step t (all in flight, then wait) -> clock(t + 1)
 * </pre>
 *
 * After the last step of an epoch, rank 0 pulls the parameters at the new clock and measures test accuracy;
 * every worker then reports to the listener. Host buffers (one direct buffer per tensor for parameters and
 * one for gradients) are allocated once and reused by every step.
 */
public final class Trainer {

    private static final Logger log = LoggerFactory.getLogger(Trainer.class);

    private final TrainerConfig config;
    private final ParameterClient parameters;
    private final Device device;
    private final TrainTestSplit data;
    private final EpochListener listener;
    private TrainingMonitor monitor = TrainingMonitor.NONE;
    private StepHold hold = StepHold.NONE;

    public Trainer(TrainerConfig config, ParameterClient parameters, Device device, TrainTestSplit data,
                   EpochListener listener) {
        this.config = config;
        this.parameters = parameters;
        this.device = device;
        this.data = data;
        this.listener = listener;
    }

    /**
     * Whether to go on when a shard comes back from a restart with its parameters at their initial values
     * ({@link ShardResetException}); by default the worker stops. Call before {@link #run}.
     */
    public Trainer allowReset(boolean allow) {
        this.allowReset = allow;
        return this;
    }

    private boolean allowReset;

    /** Tells {@code monitor} about every step, push and epoch (metrics, progress); call before {@link #run}. */
    public Trainer monitor(TrainingMonitor monitor) {
        this.monitor = monitor == null ? TrainingMonitor.NONE : monitor;
        return this;
    }

    /** Asks {@code hold} before every step whether to wait there (see {@link StepHold}); call before {@link #run}. */
    public Trainer hold(StepHold hold) {
        this.hold = hold == null ? StepHold.NONE : hold;
        return this;
    }

    /** Trains every epoch and returns this worker's reports, which the listener has also received. */
    public List<EpochReport> run() {
        int clusterWorkers = parameters.cluster().workers();
        if (clusterWorkers != config.workers()) {
            throw new IllegalStateException("this worker was configured for " + config.workers()
                    + " workers but the cluster has " + clusterWorkers);
        }
        Model model = config.model().create(data.featureCount(), data.classes(), config.seed());
        List<TensorSpec> specs = model.tensors(config.optimizer());
        parameters.register(specs).join();

        Dataset train = data.train();
        EpochSharding sharding = new EpochSharding(train.samples(), config.workers(), config.rank(), config.batch(),
                config.seed());
        int maxBatch = Math.max(config.batch(), config.rank() == 0 ? config.evalBatch() : 0);
        List<EpochReport> reports = new ArrayList<>(config.epochs());
        try (DeviceModel onDevice = model.onDevice(device, maxBatch);
             Exchange exchange = new Exchange(specs, onDevice)) {
            HostBatch batch = new HostBatch(train, config.batch());
            int[] share = new int[sharding.shareSize()];
            long step = firstStep(exchange);
            long lastStep = (long) config.epochs() * sharding.stepsPerEpoch() - 1;
            monitor.trainingStarted(step);
            while (true) {
                try {
                    int firstEpoch = (int) (step / sharding.stepsPerEpoch());
                    for (int epoch = firstEpoch; epoch < config.epochs(); epoch++) {
                        long started = System.nanoTime();
                        sharding.fillShare(epoch, share);
                        monitor.epochStarted(epoch, config.epochs(), sharding.stepsPerEpoch());
                        double lossSum = 0;
                        int first = epoch == firstEpoch ? (int) (step % sharding.stepsPerEpoch()) : 0;
                        for (int s = first; s < sharding.stepsPerEpoch(); s++, step++) {
                            failedAt = step;
                            hold.beforeStep(step, lastStep);
                            exchange.pullAll(step);
                            batch.upload(share, s * config.batch(), config.batch(), device, onDevice);
                            double loss = onDevice.forwardBackward(config.batch());
                            if (!Double.isFinite(loss)) {
                                throw new NonFiniteLossException(config.rank(), step, epoch, s,
                                        sharding.stepsPerEpoch(), loss);
                            }
                            lossSum += loss;
                            exchange.pushAll(step);
                            parameters.clock(step + 1).join();
                            monitor.stepEnded(epoch, s, sharding.stepsPerEpoch(), config.batch(), loss);
                        }
                        double trainSeconds = (System.nanoTime() - started) / 1e9;
                        double accuracy = Double.NaN;
                        if (config.rank() == 0) {
                            exchange.pullAll(step);
                            accuracy = testAccuracy(onDevice);
                            monitor.testAccuracy(accuracy);
                        }
                        exchange.reportResidualNorms();
                        double seconds = (System.nanoTime() - started) / 1e9;
                        EpochReport report = new EpochReport(epoch, lossSum / (sharding.stepsPerEpoch() - first),
                                (double) (sharding.stepsPerEpoch() - first) * config.batch() / trainSeconds, accuracy,
                                parameters.pushes(), parameters.bytesPushed(),
                                parameters.rawBytesPushed(), seconds);
                        reports.add(report);
                        listener.epochEnded(report);
                        monitor.epochEnded(report);
                    }
                    break;
                } catch (RuntimeException e) {
                    if (!shardLost(e)) {
                        throw e;
                    }
                    // A shard went away (killed, restarted with --restore): reconnect, then go on from where the
                    // shards are. Under bsp that is the step they are collecting, which may be earlier than this
                    // worker's (a restored shard is back at its checkpoint): pushes for steps another shard
                    // already applied are answered OK and not applied again, so replaying them is safe.
                    log.warn("worker {}: lost a shard at step {} ({}); reconnecting", config.rank(), failedAt, rootMessage(e));
                    exchange.abandonInFlight();
                    step = recover(exchange);
                    log.warn("worker {}: reconnected; going on at step {}", config.rank(), step);
                    recoveries++;
                }
            }
        }
        return reports;
    }

    /** How long a worker waits for a lost shard to come back before it gives up. */
    static final long RECONNECT_MILLIS = 120_000;

    /** The step in progress, for the log when a shard is lost. */
    private long failedAt;
    /** Times this trainer reconnected after losing a shard. */
    private int recoveries;

    /** Times this trainer reconnected after losing a shard. */
    public int recoveries() {
        return recoveries;
    }

    /**
     * Reconnects and finds the step to go on from, trying again while the shards are still coming back (a
     * connection can fail again right after the reconnect), for up to {@link #RECONNECT_MILLIS}.
     */
    private long recover(Exchange exchange) {
        long deadline = System.nanoTime() + RECONNECT_MILLIS * 1_000_000L;
        long[] seen = parameters.versionsSeen();
        while (true) {
            try {
                parameters.reconnect(Math.max(1, (deadline - System.nanoTime()) / 1_000_000L));
                refuseReset(seen);
                return parameters.cluster().consistency().mode() == Consistency.Mode.BSP ? firstStep(exchange) : failedAt;
            } catch (RuntimeException again) {
                if (!shardLost(again) || System.nanoTime() > deadline) {
                    throw again;
                }
                log.warn("worker {}: reconnecting again ({})", config.rank(), rootMessage(again));
                try {
                    Thread.sleep(200);
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw again;
                }
            }
        }
    }

    /** After a reconnect: stops, unless {@link #allowReset}, when a shard came back at its initial values. */
    private void refuseReset(long[] seen) {
        ShardResetException reset = ShardResetException.check(seen, parameters.versionsNow().join(), failedAt);
        if (reset == null) {
            return;
        }
        if (!allowReset) {
            throw reset;
        }
        log.warn("worker {}: {}; --allow-reset: going on", config.rank(), reset.getMessage());
    }

    /** Whether {@code e} (or a cause) is a lost connection to a shard, as opposed to an error a shard answered. */
    private static boolean shardLost(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof PsException ps && ps.code() == null) {
                return true;
            }
        }
        return false;
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage();
    }

    /**
     * Where this worker starts: step 0 in a new job; under bsp, a worker that joins a job already under way
     * (restarted after it was dropped) starts at the step the shards are collecting, so it rejoins at the
     * current version instead of replaying steps whose updates are already applied. Under asp and ssp it
     * starts at the shards' slowest live clock (which its own clock was raised to when it rejoined).
     */
    private long firstStep(Exchange exchange) {
        if (parameters.cluster().consistency().mode() != Consistency.Mode.BSP) {
            long clock = parameters.slowestClock();
            if (clock > 0) {
                log.info("worker {}: the shards' slowest clock is {}; joining at step {}", config.rank(), clock, clock);
            }
            return clock;
        }
        long applied = exchange.pullAll(0);
        if (applied > 0) {
            log.info("worker {}: the shards have applied {} step(s); joining at step {}", config.rank(), applied, applied);
        }
        return applied;
    }

    /**
     * Waits for every request, but fails as soon as one fails. {@code allOf(...).join()} would wait for all of
     * them first: when a shard is lost, a pull parked on another shard (waiting for a step that now never
     * completes) would hide the loss forever, and this worker would never reconnect.
     */
    private static void joinAll(CompletableFuture<?>[] requests) {
        CompletableFuture<Void> failed = new CompletableFuture<>();
        for (CompletableFuture<?> r : requests) {
            r.whenComplete((value, error) -> {
                if (error != null) {
                    failed.completeExceptionally(error);
                }
            });
        }
        CompletableFuture.anyOf(CompletableFuture.allOf(requests), failed).join();
    }

    /** Test accuracy with the parameters now on the device, in batches of at most the eval batch (the last may be short). */
    private double testAccuracy(DeviceModel onDevice) {
        Dataset test = data.test();
        int rows = Math.min(config.evalBatch(), onDevice.maxBatch());
        HostBatch batch = new HostBatch(test, rows);
        long correct = 0;
        for (int first = 0; first < test.samples(); first += rows) {
            int n = Math.min(rows, test.samples() - first);
            batch.uploadRange(first, n, device, onDevice);
            correct += onDevice.countCorrect(n);
        }
        return (double) correct / test.samples();
    }

    /**
     * The host side of pulls and pushes: one direct little-endian buffer per tensor for each direction, and
     * for each compressed tensor its encoder (with its error-feedback residual on the device).
     */
    private final class Exchange implements AutoCloseable {
        private final String[] names;
        private final DeviceModel onDevice;
        private final ByteBuffer[] pulled;
        private final ByteBuffer[] gradients;
        private final CompletableFuture<?>[] inFlight;
        private final GradientEncoder[] encoders;

        Exchange(List<TensorSpec> specs, DeviceModel onDevice) {
            this.onDevice = onDevice;
            int n = specs.size();
            if (n != onDevice.tensorCount()) {
                throw new IllegalStateException("model registers " + n + " tensors but holds " + onDevice.tensorCount());
            }
            names = new String[n];
            pulled = new ByteBuffer[n];
            gradients = new ByteBuffer[n];
            inFlight = new CompletableFuture<?>[n];
            encoders = new GradientEncoder[n];
            for (int i = 0; i < n; i++) {
                names[i] = specs.get(i).name();
                Codec codec = config.compression().codecFor(specs.get(i));
                if (codec.kind() != Codec.Kind.NONE) {
                    encoders[i] = new GradientEncoder(device, names[i], parameters.layout(names[i]), codec, config.rank());
                }
                int bytes = Math.multiplyExact(4, onDevice.elements(i));
                pulled[i] = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
                gradients[i] = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
            }
        }

        /** Pulls every tensor at {@code clock} and uploads it into the model's parameter buffers. */
        long pullAll(long clock) {
            for (int i = 0; i < names.length; i++) {
                pulled[i].clear();
                inFlight[i] = parameters.pull(names[i], clock, pulled[i]);
            }
            joinAll(inFlight);
            long version = Long.MAX_VALUE;
            for (int i = 0; i < names.length; i++) {
                pulled[i].clear();
                device.upload(pulled[i], onDevice.parameter(i), 0, onDevice.elements(i));
                version = Math.min(version, (Long) inFlight[i].join());
            }
            return version;
        }

        /**
         * Encodes (or, uncompressed, downloads) every gradient and pushes it for {@code step}; returns when all
         * pushes are acknowledged.
         */
        void pushAll(long step) {
            ByteBuffer[][] encoded = new ByteBuffer[names.length][];
            for (int i = 0; i < names.length; i++) {
                if (encoders[i] != null) {
                    encoded[i] = encoders[i].encode(onDevice.gradient(i), step);
                } else {
                    gradients[i].clear();
                    device.download(onDevice.gradient(i), 0, onDevice.elements(i), gradients[i]);
                }
            }
            device.synchronize();
            for (int i = 0; i < names.length; i++) {
                long raw = 4L * onDevice.elements(i);
                long wire = raw;
                if (encoders[i] != null) {
                    wire = 0;
                    for (ByteBuffer payload : encoded[i]) {
                        wire += payload.remaining();
                    }
                }
                monitor.tensorPushed(names[i], wire, raw);
                inFlight[i] = encoders[i] != null
                        ? parameters.push(names[i], step, encoders[i].codec(), encoded[i])
                        : parameters.push(names[i], step, gradients[i]);
            }
            joinAll(inFlight);
        }

        /**
         * Forgets the requests still in flight after one failed (a pull parked on a shard that is alive can
         * stay unanswered for good): their buffers stay theirs, so the next requests get new ones.
         */
        void abandonInFlight() {
            for (int i = 0; i < names.length; i++) {
                pulled[i] = ByteBuffer.allocateDirect(pulled[i].capacity()).order(ByteOrder.LITTLE_ENDIAN);
                gradients[i] = ByteBuffer.allocateDirect(gradients[i].capacity()).order(ByteOrder.LITTLE_ENDIAN);
                inFlight[i] = null;
            }
        }

        /** Residual norms of the compressed tensors, when the monitor wants them (each downloads a residual). */
        void reportResidualNorms() {
            if (!monitor.wantsResidualNorms()) {
                return;
            }
            for (int i = 0; i < names.length; i++) {
                if (encoders[i] != null && encoders[i].codec().errorFeedback()) {
                    monitor.residualNorm(names[i], encoders[i].residualNorm());
                }
            }
        }

        @Override
        public void close() {
            for (GradientEncoder e : encoders) {
                if (e != null) {
                    e.close();
                }
            }
        }
    }
}
