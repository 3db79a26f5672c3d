package io.gpups.worker.metrics;

import io.gpups.worker.client.ParameterClient;
import io.gpups.worker.train.EpochReport;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A worker's training metrics in a Micrometer registry (the caller owns it and serves it):
 * <pre>
 * gpups_train_loss                      moving average of the batch loss (weight 0.05 per step, ~20 steps)
 * gpups_epoch_loss                      mean training loss of the last finished epoch
 * gpups_test_accuracy                   test accuracy after the last epoch (rank 0 only: it measures)
 * gpups_train_samples_total             training samples processed
 * gpups_train_steps_total               training steps done
 * gpups_train_epoch                     epoch in progress, 1-based
 * gpups_compression_ratio{tensor}       fp32 bytes / wire bytes of the tensor's pushed gradients, so far
 * gpups_residual_norm{tensor}           L2 norm of the tensor's error-feedback residual, at the last epoch end
 * gpups_push_bytes_total{encoding}      gradient bytes this worker pushed: wire (as encoded) and raw (fp32)
 * gpups_pushes_total                    push frames sent (one per chunk)
 * </pre>
 * Gauges read volatile fields the training thread writes; nothing here takes a lock on that thread.
 */
public final class WorkerMetrics implements TrainingMonitor {

    private static final double LOSS_WEIGHT = 0.05;

    private final MeterRegistry registry;
    private final Tags tags;
    private final Counter samples;
    private final Counter steps;
    private final Map<String, TensorTraffic> tensors = new ConcurrentHashMap<>();
    private volatile double loss = Double.NaN;
    private volatile double epochLoss = Double.NaN;
    private volatile double accuracy = Double.NaN;
    private volatile int epoch;
    private boolean accuracyRegistered;

    public WorkerMetrics(MeterRegistry registry, Tags tags, ParameterClient client) {
        this.registry = registry;
        this.tags = tags;
        samples = Counter.builder("gpups.train.samples").description("Training samples processed by this worker")
                .tags(tags).register(registry);
        steps = Counter.builder("gpups.train.steps").description("Training steps done by this worker")
                .tags(tags).register(registry);
        Gauge.builder("gpups.train.loss", this, m -> m.loss)
                .description("Moving average of the training batch loss (weight 0.05 per step)").tags(tags).strongReference(true).register(registry);
        Gauge.builder("gpups.epoch.loss", this, m -> m.epochLoss)
                .description("Mean training loss of the last finished epoch").tags(tags).strongReference(true).register(registry);
        Gauge.builder("gpups.train.epoch", this, m -> m.epoch)
                .description("Epoch in progress, 1-based").tags(tags).strongReference(true).register(registry);
        if (client != null) {
            FunctionCounter.builder("gpups.push", client, ParameterClient::bytesPushed).baseUnit("bytes")
                    .description("Gradient bytes pushed by this worker: as encoded on the wire (wire) and as fp32 (raw)")
                    .tags(tags).tag("encoding", "wire").register(registry);
            FunctionCounter.builder("gpups.push", client, ParameterClient::rawBytesPushed).baseUnit("bytes")
                    .description("Gradient bytes pushed by this worker: as encoded on the wire (wire) and as fp32 (raw)")
                    .tags(tags).tag("encoding", "raw").register(registry);
            FunctionCounter.builder("gpups.pushes", client, ParameterClient::pushes)
                    .description("Push frames sent by this worker (one per chunk)").tags(tags).register(registry);
        }
    }

    @Override
    public void epochStarted(int epoch, int epochs, int steps) {
        this.epoch = epoch + 1;
    }

    @Override
    public void stepEnded(int epoch, int step, int stepsInEpoch, int batch, double batchLoss) {
        samples.increment(batch);
        steps.increment();
        double previous = loss;
        loss = Double.isNaN(previous) ? batchLoss : previous + LOSS_WEIGHT * (batchLoss - previous);
    }

    @Override
    public void tensorPushed(String tensor, long wireBytes, long rawBytes) {
        TensorTraffic t = tensors.get(tensor);
        if (t == null) {
            t = tensors.computeIfAbsent(tensor, this::newTensor);
        }
        t.wire.addAndGet(wireBytes);
        t.raw.addAndGet(rawBytes);
    }

    @Override
    public boolean wantsResidualNorms() {
        return true;
    }

    @Override
    public void residualNorm(String tensor, double norm) {
        TensorTraffic t = tensors.computeIfAbsent(tensor, this::newTensor);
        if (!t.residualRegistered) {
            Gauge.builder("gpups.residual.norm", t, x -> x.residualNorm)
                    .description("L2 norm of the tensor's error-feedback residual, at the last epoch end")
                    .tags(tags).tag("tensor", tensor).register(registry);
            t.residualRegistered = true;
        }
        t.residualNorm = norm;
    }

    @Override
    public void testAccuracy(double value) {
        accuracy = value;
        if (!accuracyRegistered) {
            Gauge.builder("gpups.test.accuracy", this, m -> m.accuracy)
                    .description("Test accuracy after the last finished epoch (measured by rank 0)").tags(tags)
                    .register(registry);
            accuracyRegistered = true;
        }
    }

    @Override
    public void epochEnded(EpochReport report) {
        epochLoss = report.meanTrainLoss();
    }

    private TensorTraffic newTensor(String tensor) {
        TensorTraffic t = new TensorTraffic();
        Gauge.builder("gpups.compression.ratio", t, TensorTraffic::ratio)
                .description("fp32 bytes / wire bytes of the tensor's pushed gradients so far (1 = uncompressed)")
                .tags(tags).tag("tensor", tensor).register(registry);
        return t;
    }

    private static final class TensorTraffic {
        final AtomicLong wire = new AtomicLong();
        final AtomicLong raw = new AtomicLong();
        volatile double residualNorm = Double.NaN;
        boolean residualRegistered;

        double ratio() {
            long w = wire.get();
            return w == 0 ? Double.NaN : (double) raw.get() / w;
        }
    }
}
