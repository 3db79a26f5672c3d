package io.gpups.worker.train;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.worker.client.PsClient;
import io.gpups.worker.client.TableClient;
import io.gpups.worker.data.CtrDataset;
import io.gpups.worker.data.CtrSplit;
import io.gpups.worker.data.EpochSharding;
import io.gpups.worker.metrics.BinaryMetrics;
import io.gpups.worker.metrics.TrainingMonitor;
import io.gpups.worker.model.RowInputNetwork;
import io.gpups.worker.model.CtrModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Data-parallel training of a {@link CtrModel} by one worker, under asp (rows are applied on arrival) or bsp (the
 * pulls of step t wait for step t - 1 of every worker, rows as dense tensors). Step t is:
 *
 * <pre>
 * pull the MLP's tensors and the rows of the batch's ids (one request per shard, ids made unique)
 * input = [row of field 0 | ... | row of field F-1 | dense features] per sample  -> upload
 * forward/backward on this worker's device                                       -> MLP gradients, input gradient
 * push the MLP's gradients, and each (sample, field)'s slice of the input gradient as its id's row gradient
 * (the client sums the gradients of repeated ids)
 * </pre>
 *
 * After each epoch rank 0 pulls the model and measures the test set's AUC, log loss and accuracy (click predicted
 * where the click probability is above one half); every worker reports to the listener.
 */
public final class CtrTrainer {

    private static final Logger log = LoggerFactory.getLogger(CtrTrainer.class);

    /**
     * One worker's CTR job.
     *
     * @param model     {@code ctr:...} ({@link CtrModel#parse})
     * @param optimizer the update rule of the MLP (the rows' is the model's: {@link CtrModel#table})
     */
    public record Config(String model, int batch, int epochs, OptimizerSpec optimizer, int rank, int workers, long seed,
                         int evalBatch) {
        public Config {
            if (batch <= 0 || epochs <= 0 || evalBatch <= 0) {
                throw new IllegalArgumentException("batch, epochs and eval batch must be > 0, got " + batch + ", "
                        + epochs + ", " + evalBatch);
            }
            if (workers <= 0 || rank < 0 || rank >= workers) {
                throw new IllegalArgumentException("rank must be in [0, " + workers + "), got " + rank);
            }
            optimizer.validate();
        }
    }

    private final Config config;
    private final PsClient client;
    private final Device device;
    private final CtrSplit data;
    private final EpochListener listener;
    private TrainingMonitor monitor = TrainingMonitor.NONE;
    /** Whether steps are synchronous: step t pulls at clock t (the MLP and rows after step t - 1 of every worker). */
    private boolean bsp;

    public CtrTrainer(Config config, PsClient client, Device device, CtrSplit data, EpochListener listener) {
        this.config = config;
        this.client = client;
        this.device = device;
        this.data = data;
        this.listener = listener;
    }

    /** Tells {@code monitor} about every step and epoch; call before {@link #run}. */
    public CtrTrainer monitor(TrainingMonitor monitor) {
        this.monitor = monitor == null ? TrainingMonitor.NONE : monitor;
        return this;
    }

    /** Trains every epoch and returns this worker's reports, which the listener has also received. */
    public List<EpochReport> run() {
        PsClient.ClusterInfo cluster = client.cluster();
        if (cluster.workers() != config.workers()) {
            throw new IllegalStateException("this worker was configured for " + config.workers()
                    + " workers but the cluster has " + cluster.workers());
        }
        if (cluster.consistency().mode() == Consistency.Mode.SSP) {
            throw new IllegalStateException("a ctr model trains under asp or bsp (embedding tables are not served under"
                    + " ssp yet); the shards run " + cluster.consistency());
        }
        bsp = cluster.consistency().mode() == Consistency.Mode.BSP;
        CtrDataset train = data.train();
        CtrModel model = CtrModel.parse(config.model(), CtrDataset.FIELDS, CtrDataset.DENSE, config.seed());
        List<TensorSpec> specs = model.tensors(config.optimizer());
        TableSpec table = model.table();
        client.register(specs).join();
        TableClient tables = client.tables();
        tables.register(table).join();

        int samples = train.labels().length;
        EpochSharding sharding = new EpochSharding(samples, config.workers(), config.rank(), config.batch(), config.seed());
        int maxBatch = Math.max(config.batch(), config.rank() == 0 ? config.evalBatch() : 0);
        List<EpochReport> reports = new ArrayList<>(config.epochs());
        try (RowInputNetwork onDevice = model.onDevice(device, maxBatch)) {
            Step step = new Step(model, onDevice, specs, tables, maxBatch);
            int[] share = new int[sharding.shareSize()];
            long t = 0;
            monitor.trainingStarted(0);
            for (int epoch = 0; epoch < config.epochs(); epoch++) {
                long started = System.nanoTime();
                sharding.fillShare(epoch, share);
                monitor.epochStarted(epoch, config.epochs(), sharding.stepsPerEpoch());
                double lossSum = 0;
                for (int s = 0; s < sharding.stepsPerEpoch(); s++, t++) {
                    float loss = step.train(train, share, s * config.batch(), config.batch(), t);
                    if (!Float.isFinite(loss)) {
                        throw new NonFiniteLossException(config.rank(), t, epoch, s, sharding.stepsPerEpoch(), loss);
                    }
                    lossSum += loss;
                    monitor.stepEnded(epoch, s, sharding.stepsPerEpoch(), config.batch(), loss);
                }
                double trainSeconds = (System.nanoTime() - started) / 1e9;
                double auc = Double.NaN;
                double logLoss = Double.NaN;
                double accuracy = Double.NaN;
                if (config.rank() == 0) {
                    float[] p = step.predict(data.test(), config.evalBatch(), bsp ? t : 0);
                    float[] labels = data.test().labels();
                    auc = BinaryMetrics.auc(p, labels, labels.length);
                    logLoss = BinaryMetrics.logLoss(p, labels, labels.length);
                    int right = 0;
                    for (int i = 0; i < labels.length; i++) {
                        right += (p[i] > 0.5f ? 1f : 0f) == labels[i] ? 1 : 0;
                    }
                    accuracy = labels.length == 0 ? Double.NaN : (double) right / labels.length;
                    monitor.testAccuracy(accuracy);
                }
                EpochReport report = new EpochReport(epoch, lossSum / sharding.stepsPerEpoch(),
                        (double) sharding.stepsPerEpoch() * config.batch() / trainSeconds, accuracy, client.pushes(),
                        client.bytesPushed(), client.rawBytesPushed(), (System.nanoTime() - started) / 1e9, auc, logLoss);
                log.info("worker {}: {}", config.rank(), report);
                reports.add(report);
                listener.epochEnded(report);
            }
        }
        return reports;
    }

    /** One step's host buffers, reused by every step. */
    private final class Step {
        private final CtrModel model;
        private final RowInputNetwork onDevice;
        private final List<TensorSpec> specs;
        private final TableClient tables;
        private final ByteBuffer[] parameters;
        private final ByteBuffer[] gradients;
        private final long[] ids;
        private final float[] rows;
        private final float[] input;
        private final float[] inputGradient;
        private final float[] rowGradients;
        private final float[] labels;
        private final float[] logits;

        Step(CtrModel model, RowInputNetwork onDevice, List<TensorSpec> specs, TableClient tables, int maxBatch) {
            this.model = model;
            this.onDevice = onDevice;
            this.specs = specs;
            this.tables = tables;
            parameters = new ByteBuffer[specs.size()];
            gradients = new ByteBuffer[specs.size()];
            for (int i = 0; i < specs.size(); i++) {
                parameters[i] = ByteBuffer.allocateDirect(4 * onDevice.elements(i)).order(ByteOrder.LITTLE_ENDIAN);
                gradients[i] = ByteBuffer.allocateDirect(4 * onDevice.elements(i)).order(ByteOrder.LITTLE_ENDIAN);
            }
            int positions = maxBatch * model.fields();
            ids = new long[positions];
            rows = new float[positions * model.dim()];
            input = new float[maxBatch * model.inputs()];
            inputGradient = new float[maxBatch * model.inputs()];
            rowGradients = new float[positions * model.dim()];
            labels = new float[maxBatch];
            logits = new float[2 * maxBatch];
        }

        /** Pulls the MLP and the rows of samples {@code index[from, from + n)} of {@code set}, and uploads the batch. */
        private void load(CtrDataset set, int[] index, int from, int n, long clock) {
            int fields = model.fields();
            int dim = model.dim();
            int dense = model.denseFeatures();
            long[] allIds = set.ids();
            float[] allDense = set.dense();
            float[] allLabels = set.labels();
            for (int b = 0; b < n; b++) {
                int sample = index == null ? from + b : index[from + b];
                System.arraycopy(allIds, sample * fields, ids, b * fields, fields);
                labels[b] = allLabels[sample];
            }
            List<CompletableFuture<?>> pulls = new ArrayList<>();
            for (int i = 0; i < specs.size(); i++) {
                pulls.add(client.pull(specs.get(i).name(), clock, parameters[i]));
            }
            pulls.add(tables.pull(CtrModel.TABLE, ids, n * fields, RowDtype.FP32, clock, rows));
            CompletableFuture.allOf(pulls.toArray(CompletableFuture[]::new)).join();
            int inputs = model.inputs();
            for (int b = 0; b < n; b++) {
                int sample = index == null ? from + b : index[from + b];
                System.arraycopy(rows, b * fields * dim, input, b * inputs, fields * dim);
                System.arraycopy(allDense, sample * dense, input, b * inputs + fields * dim, dense);
            }
            for (int i = 0; i < specs.size(); i++) {
                device.upload(parameters[i], onDevice.parameter(i), 0, onDevice.elements(i));
            }
            device.upload(input, 0, onDevice.input(), 0, n * inputs);
            device.upload(labels, 0, onDevice.labels(), 0, n);
        }

        /** One training step on samples {@code share[from, from + n)}; returns the batch's mean loss. */
        float train(CtrDataset set, int[] share, int from, int n, long step) {
            load(set, share, from, n, bsp ? step : 0);
            float loss = onDevice.forwardBackward(n);
            int fields = model.fields();
            int dim = model.dim();
            int inputs = model.inputs();
            device.download(onDevice.inputGradient(), 0, inputGradient, 0, n * inputs);
            for (int b = 0; b < n; b++) {
                System.arraycopy(inputGradient, b * inputs, rowGradients, b * fields * dim, fields * dim);
            }
            List<CompletableFuture<?>> pushes = new ArrayList<>();
            for (int i = 0; i < specs.size(); i++) {
                device.download(onDevice.gradient(i), 0, onDevice.elements(i), gradients[i]);
                pushes.add(client.push(specs.get(i).name(), step, gradients[i]));
            }
            pushes.add(tables.push(CtrModel.TABLE, ids, n * fields, rowGradients, RowDtype.FP32, step));
            CompletableFuture.allOf(pushes.toArray(CompletableFuture[]::new)).join();
            return loss;
        }

        /** The click probability of every sample of {@code set}, in batches of {@code evalBatch}. */
        float[] predict(CtrDataset set, int evalBatch, long clock) {
            int total = set.labels().length;
            float[] p = new float[total];
            for (int from = 0; from < total; from += evalBatch) {
                int n = Math.min(evalBatch, total - from);
                load(set, null, from, n, clock);
                onDevice.forward(n);
                device.download(onDevice.logits(), 0, logits, 0, 2 * n);
                for (int b = 0; b < n; b++) {
                    p[from + b] = (float) (1.0 / (1.0 + Math.exp(logits[2 * b] - logits[2 * b + 1])));
                }
            }
            return p;
        }
    }
}
