package io.gpups.worker.train;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.worker.client.PsClient;
import io.gpups.worker.client.TableClient;
import io.gpups.worker.data.EpochSharding;
import io.gpups.worker.data.SparseDataset;
import io.gpups.worker.data.SparseSplit;
import io.gpups.worker.metrics.BinaryMetrics;
import io.gpups.worker.metrics.TrainingMonitor;
import io.gpups.worker.model.RowInputNetwork;
import io.gpups.worker.model.EmbBagModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Data-parallel training of an {@link EmbBagModel} by one worker, under asp (rows are applied on arrival). Step t is:
 *
 * <pre>
 * pull the softmax layer's tensors and the rows of the batch's ids (one request per shard, ids made unique)
 * e_b = sum_i v_i row_i / sum_i v_i per sample                          -> upload
 * forward/backward on this worker's device                              -> layer gradients, de_b = d(loss)/d(e_b)
 * push the layer's gradients, and for each feature i of sample b the row gradient v_i / sum v * de_b
 * (the client sums the gradients of repeated ids)
 * </pre>
 *
 * After each epoch rank 0 pulls the model and measures the test set's accuracy (the arg-max class); with two classes
 * also the AUC and log loss of the second class's probability. Every worker reports to the listener.
 */
public final class EmbBagTrainer {

    private static final Logger log = LoggerFactory.getLogger(EmbBagTrainer.class);

    /**
     * One worker's embbag job.
     *
     * @param model     {@code embbag:...} ({@link EmbBagModel#parse})
     * @param optimizer the update rule of the softmax layer (the rows' is the model's: {@link EmbBagModel#table})
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
    private final SparseSplit data;
    private final EpochListener listener;
    private TrainingMonitor monitor = TrainingMonitor.NONE;
    /** Whether steps are synchronous: step t pulls at clock t (the model after step t - 1 of every worker). */
    private boolean bsp;

    public EmbBagTrainer(Config config, PsClient client, Device device, SparseSplit data, EpochListener listener) {
        this.config = config;
        this.client = client;
        this.device = device;
        this.data = data;
        this.listener = listener;
    }

    /** Tells {@code monitor} about every step and epoch; call before {@link #run}. */
    public EmbBagTrainer monitor(TrainingMonitor monitor) {
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
            throw new IllegalStateException("an embbag model trains under asp or bsp (embedding tables are not served"
                    + " under ssp yet); the shards run " + cluster.consistency());
        }
        bsp = cluster.consistency().mode() == Consistency.Mode.BSP;
        SparseDataset train = data.train();
        EmbBagModel model = EmbBagModel.parse(config.model(), data.classes(), config.seed());
        List<TensorSpec> specs = model.tensors(config.optimizer());
        TableSpec table = model.table();
        client.register(specs).join();
        TableClient tables = client.tables();
        tables.register(table).join();

        int samples = train.samples();
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
                    SparseDataset test = data.test();
                    int n = test.samples();
                    int[] predicted = new int[n];
                    float[] secondClass = new float[n];
                    step.predict(test, config.evalBatch(), predicted, secondClass, bsp ? t : 0);
                    int right = 0;
                    for (int i = 0; i < n; i++) {
                        right += predicted[i] == test.labels()[i] ? 1 : 0;
                    }
                    accuracy = n == 0 ? Double.NaN : (double) right / n;
                    if (model.classes() == 2 && n > 0) {
                        float[] labels = new float[n];
                        for (int i = 0; i < n; i++) {
                            labels[i] = test.labels()[i];
                        }
                        auc = BinaryMetrics.auc(secondClass, labels, n);
                        logLoss = BinaryMetrics.logLoss(secondClass, labels, n);
                    }
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

    /** One step's host buffers, reused by every step; the per-feature ones grow with the largest batch seen. */
    private final class Step {
        private final EmbBagModel model;
        private final RowInputNetwork onDevice;
        private final List<TensorSpec> specs;
        private final TableClient tables;
        private final ByteBuffer[] parameters;
        private final ByteBuffer[] gradients;
        private final float[] input;
        private final float[] inputGradient;
        private final float[] labels;
        private final float[] logits;
        /** Per sample of the batch: 1 / (sum of its values). */
        private final float[] inverseWeight;
        /** The batch's features, sample after sample: their ids, values, and the sample they belong to. */
        private long[] ids = new long[1024];
        private float[] weights = new float[1024];
        private int[] sampleOf = new int[1024];
        private float[] rows;
        private float[] rowGradients;
        private int features;

        Step(EmbBagModel model, RowInputNetwork onDevice, List<TensorSpec> specs, TableClient tables, int maxBatch) {
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
            input = new float[maxBatch * model.dim()];
            inputGradient = new float[maxBatch * model.dim()];
            labels = new float[maxBatch];
            logits = new float[maxBatch * model.classes()];
            inverseWeight = new float[maxBatch];
            rows = new float[ids.length * model.dim()];
            rowGradients = new float[ids.length * model.dim()];
        }

        /** Pulls the layer and the rows of samples {@code index[from, from + n)} of {@code set}, and uploads the batch. */
        private void load(SparseDataset set, int[] index, int from, int n, long clock) {
            int dim = model.dim();
            features = 0;
            for (int b = 0; b < n; b++) {
                int sample = index == null ? from + b : index[from + b];
                int start = set.offsets()[sample];
                int count = set.offsets()[sample + 1] - start;
                ensure(features + count);
                System.arraycopy(set.ids(), start, ids, features, count);
                System.arraycopy(set.values(), start, weights, features, count);
                Arrays.fill(sampleOf, features, features + count, b);
                double sum = 0;
                for (int k = 0; k < count; k++) {
                    sum += set.values()[start + k];
                }
                inverseWeight[b] = (float) (1.0 / sum);
                labels[b] = set.labels()[sample];
                features += count;
            }
            List<CompletableFuture<?>> pulls = new ArrayList<>();
            for (int i = 0; i < specs.size(); i++) {
                pulls.add(client.pull(specs.get(i).name(), clock, parameters[i]));
            }
            pulls.add(tables.pull(EmbBagModel.TABLE, ids, features, RowDtype.FP32, clock, rows));
            CompletableFuture.allOf(pulls.toArray(CompletableFuture[]::new)).join();
            Arrays.fill(input, 0, n * dim, 0f);
            for (int k = 0; k < features; k++) {
                int b = sampleOf[k];
                float w = weights[k] * inverseWeight[b];
                for (int j = 0; j < dim; j++) {
                    input[b * dim + j] += w * rows[k * dim + j];
                }
            }
            for (int i = 0; i < specs.size(); i++) {
                device.upload(parameters[i], onDevice.parameter(i), 0, onDevice.elements(i));
            }
            device.upload(input, 0, onDevice.input(), 0, n * dim);
            device.upload(labels, 0, onDevice.labels(), 0, n);
        }

        private void ensure(int capacity) {
            if (capacity <= ids.length) {
                return;
            }
            int grown = Math.max(capacity, 2 * ids.length);
            ids = Arrays.copyOf(ids, grown);
            weights = Arrays.copyOf(weights, grown);
            sampleOf = Arrays.copyOf(sampleOf, grown);
            rows = new float[grown * model.dim()];
            rowGradients = new float[grown * model.dim()];
        }

        /** One training step on samples {@code share[from, from + n)}; returns the batch's mean loss. */
        float train(SparseDataset set, int[] share, int from, int n, long step) {
            load(set, share, from, n, bsp ? step : 0);
            float loss = onDevice.forwardBackward(n);
            int dim = model.dim();
            device.download(onDevice.inputGradient(), 0, inputGradient, 0, n * dim);
            for (int k = 0; k < features; k++) {
                int b = sampleOf[k];
                float w = weights[k] * inverseWeight[b];
                for (int j = 0; j < dim; j++) {
                    rowGradients[k * dim + j] = w * inputGradient[b * dim + j];
                }
            }
            List<CompletableFuture<?>> pushes = new ArrayList<>();
            for (int i = 0; i < specs.size(); i++) {
                device.download(onDevice.gradient(i), 0, onDevice.elements(i), gradients[i]);
                pushes.add(client.push(specs.get(i).name(), step, gradients[i]));
            }
            pushes.add(tables.push(EmbBagModel.TABLE, ids, features, rowGradients, RowDtype.FP32, step));
            CompletableFuture.allOf(pushes.toArray(CompletableFuture[]::new)).join();
            return loss;
        }

        /**
         * The arg-max class of every sample of {@code set} into {@code predicted}, and the softmax probability of
         * class 1 into {@code secondClass}, in batches of {@code evalBatch}.
         */
        void predict(SparseDataset set, int evalBatch, int[] predicted, float[] secondClass, long clock) {
            int total = set.samples();
            int c = model.classes();
            for (int from = 0; from < total; from += evalBatch) {
                int n = Math.min(evalBatch, total - from);
                load(set, null, from, n, clock);
                onDevice.forward(n);
                device.download(onDevice.logits(), 0, logits, 0, c * n);
                for (int b = 0; b < n; b++) {
                    int best = 0;
                    for (int k = 1; k < c; k++) {
                        if (logits[b * c + k] > logits[b * c + best]) {
                            best = k;
                        }
                    }
                    predicted[from + b] = best;
                    double sum = 0;
                    for (int k = 0; k < c; k++) {
                        sum += Math.exp(logits[b * c + k] - logits[b * c + best]);
                    }
                    secondClass[from + b] = (float) (Math.exp(logits[b * c + 1] - logits[b * c + best]) / sum);
                }
            }
        }
    }
}
