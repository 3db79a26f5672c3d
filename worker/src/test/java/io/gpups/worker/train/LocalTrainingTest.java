package io.gpups.worker.train;

import io.gpups.worker.compress.CodecPolicy;

import io.gpups.core.codec.Codec;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.tensor.ChunkLayout;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.worker.client.ParameterClient;
import io.gpups.worker.client.PsClient;
import io.gpups.worker.client.PsException;
import io.gpups.worker.data.DataSource;
import io.gpups.worker.data.SyntheticClassification;
import io.gpups.worker.data.TrainTestSplit;
import io.gpups.worker.model.ModelSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Trains on the synthetic set with no server: {@link InProcessParameters} applies the optimizer on the CPU
 * device, as a single-worker bsp shard would. Proves the models learn: chance is 10%, and the set's 10%
 * label noise caps accuracy near 91%.
 */
class LocalTrainingTest {

    private static final SyntheticClassification SYNTHETIC = SyntheticClassification.fashionMnistShaped(3L);
    private static TrainTestSplit data;
    private static Device device;

    @BeforeAll
    static void setUp() {
        data = SYNTHETIC.generate();
        device = Devices.installed().open("cpu", line -> { });
    }

    @AfterAll
    static void tearDown() {
        device.close();
    }

    @Test
    void mlpLearnsTheSyntheticSet() {
        List<EpochReport> reports = train("mlp:64", "sgd", 0.1f, 3);

        EpochReport last = reports.get(reports.size() - 1);
        assertTrue(last.testAccuracy() >= 0.85, "test accuracy " + last.testAccuracy() + " after 3 epochs, expected >= 0.85");
        assertTrue(last.meanTrainLoss() < reports.get(0).meanTrainLoss(), "loss did not fall: " + reports);
    }

    @Test
    void logisticRegressionLearnsTheSyntheticSetWithAdam() {
        List<EpochReport> reports = train("logreg", "adam", 0.001f, 2);

        assertTrue(reports.get(1).testAccuracy() >= 0.85, "test accuracy " + reports.get(1).testAccuracy()
                + " after 2 epochs, expected >= 0.85");
    }

    @Test
    void reportsCountEveryPushOfEveryStep() {
        List<EpochReport> reports = train("logreg", "sgd", 0.1f, 2);

        int steps = SYNTHETIC.trainSamples() / 100;
        long bytesPerStep = 4L * (784 * 10 + 10);
        assertEquals(2, reports.size());
        assertEquals(0, reports.get(0).epoch());
        assertEquals(2L * steps, reports.get(0).pushes());
        assertEquals(steps * bytesPerStep, reports.get(0).bytesPushed());
        assertEquals(4L * steps, reports.get(1).pushes());
        assertTrue(reports.get(1).samplesPerSecond() > 0 && reports.get(1).seconds() > 0, reports.toString());
    }

    @Test
    void theWorkerCountMustMatchTheCluster() {
        TrainerConfig config = config("logreg", "sgd", 0.1f, 1, 2);
        try (InProcessParameters parameters = new InProcessParameters(device)) {
            Trainer trainer = new Trainer(config, parameters, device, data, report -> { });

            IllegalStateException e = assertThrows(IllegalStateException.class, trainer::run);
            assertTrue(e.getMessage().contains("2 workers"), e.getMessage());
        }
    }

    /**
     * A shard lost in the middle of a step's pulls: the pull of one tensor stays parked for good (its shard is
     * alive, waiting for a step that will not come) while the other's fails (its connection closed). The
     * trainer sees the failure at once, reconnects and goes on from the step the parameters are at; it does
     * not wait for the parked pull. Every step is pushed exactly once.
     */
    @Test
    void aFailedPullEndsTheStepAtOnceEvenWithAnotherPullParkedForGood() {
        try (InProcessParameters store = new InProcessParameters(device)) {
            LosesAShard lossy = new LosesAShard(store, 5);
            Trainer trainer = new Trainer(config("logreg", "sgd", 0.1f, 1, 1), lossy, device, data, report -> { });

            List<EpochReport> reports = assertTimeoutPreemptively(Duration.ofSeconds(20), trainer::run);

            assertEquals(1, reports.size());
            assertEquals(1, trainer.recoveries());
            assertEquals(1, lossy.reconnects);
            int steps = SYNTHETIC.trainSamples() / 100;
            assertEquals(2L * steps, store.pushes(), "weight and bias pushed once per step");
        }
    }

    /**
     * The hold is asked before every step with the job's last step. One that fails as a lost shard does (a STATS
     * request on a closed connection) is recovered from as a failed pull is, and asked again at the step the
     * trainer goes on from; every step is still pushed exactly once.
     */
    @Test
    void aStepHoldIsAskedBeforeEveryStepAndALostShardThereIsRecoveredFrom() {
        int steps = SYNTHETIC.trainSamples() / 100;
        try (InProcessParameters store = new InProcessParameters(device)) {
            Trainer trainer = new Trainer(config("logreg", "sgd", 0.1f, 2, 1), store, device, data, report -> { });
            List<Long> asked = new ArrayList<>();
            List<Long> lastSteps = new ArrayList<>();
            trainer.hold((step, lastStep) -> {
                asked.add(step);
                lastSteps.add(lastStep);
                if (asked.size() == 4) {
                    throw new PsException(null, "connection to shard 1 closed");
                }
            });

            trainer.run();

            List<Long> expected = new ArrayList<>(List.of(0L, 1L, 2L, 3L));
            for (long s = 3; s < 2L * steps; s++) {
                expected.add(s);
            }
            assertEquals(expected, asked, "every step once, step 3 again after the recovery");
            assertTrue(lastSteps.stream().allMatch(l -> l == 2L * steps - 1), "the job's last step: " + lastSteps.get(0));
            assertEquals(1, trainer.recoveries());
            assertEquals(2L * 2 * steps, store.pushes(), "weight and bias pushed once per step");
        }
    }

    /**
     * A store whose pulls at clock {@code lossAt} are lost, once: the first stays unanswered, the second fails
     * as one does on a closed connection. Everything else goes to the store.
     */
    private static final class LosesAShard implements ParameterClient {
        private final InProcessParameters store;
        private final long lossAt;
        private int pullsAtLoss;
        int reconnects;

        LosesAShard(InProcessParameters store, long lossAt) {
            this.store = store;
            this.lossAt = lossAt;
        }

        @Override
        public CompletableFuture<Long> pull(String tensor, long clock, ByteBuffer destination) {
            if (clock == lossAt && pullsAtLoss < 2) {
                pullsAtLoss++;
                return pullsAtLoss == 1 ? new CompletableFuture<>()
                        : CompletableFuture.failedFuture(new PsException(null, "connection to shard 1 closed"));
            }
            return store.pull(tensor, clock, destination);
        }

        @Override
        public void reconnect(long timeoutMillis) {
            reconnects++;
        }

        @Override
        public PsClient.ClusterInfo cluster() {
            return store.cluster();
        }

        @Override
        public CompletableFuture<Void> register(List<TensorSpec> tensors) {
            return store.register(tensors);
        }

        @Override
        public CompletableFuture<Void> push(String tensor, long step, ByteBuffer gradient) {
            return store.push(tensor, step, gradient);
        }

        @Override
        public CompletableFuture<Void> push(String tensor, long step, Codec codec, ByteBuffer[] chunkPayloads) {
            return store.push(tensor, step, codec, chunkPayloads);
        }

        @Override
        public ChunkLayout layout(String tensor) {
            return store.layout(tensor);
        }

        @Override
        public CompletableFuture<Void> clock(long clock) {
            return store.clock(clock);
        }

        @Override
        public long bytesPushed() {
            return store.bytesPushed();
        }

        @Override
        public long rawBytesPushed() {
            return store.rawBytesPushed();
        }

        @Override
        public long pushes() {
            return store.pushes();
        }
    }

    @Test
    void aWorkerWhoseLossIsNotFiniteStopsNamingRankStepEpochAndLoss() {
        // Every training feature NaN: the first step's loss is NaN.
        float[] features = data.train().features().clone();
        java.util.Arrays.fill(features, Float.NaN);
        io.gpups.worker.data.Dataset train = data.train();
        TrainTestSplit poisoned = new TrainTestSplit(new io.gpups.worker.data.Dataset(train.name(), features,
                train.labels(), train.featureCount(), train.classes()), data.test());
        List<EpochReport> heard = new ArrayList<>();
        try (InProcessParameters parameters = new InProcessParameters(device)) {
            Trainer trainer = new Trainer(config("logreg", "sgd", 0.1f, 2, 1), parameters, device, poisoned, heard::add);
            NonFiniteLossException e = assertThrows(NonFiniteLossException.class, trainer::run);
            assertEquals(0, e.rank());
            assertEquals(0, e.epoch());
            assertEquals(0, e.step());
            assertTrue(Double.isNaN(e.loss()), "loss " + e.loss());
            assertTrue(e.getMessage().startsWith("worker 0: training loss NaN at step 0 (epoch 0, batch 1 of "
                    + SYNTHETIC.trainSamples() / 100 + ")"), e.getMessage());
            assertEquals(0, parameters.pushes(), "nothing is pushed for the step whose loss is NaN");
            assertEquals(List.of(), heard, "no epoch is reported");
        }
    }

    private static List<EpochReport> train(String model, String optimizer, float lr, int epochs) {
        List<EpochReport> heard = new ArrayList<>();
        try (InProcessParameters parameters = new InProcessParameters(device)) {
            List<EpochReport> reports = new Trainer(config(model, optimizer, lr, epochs, 1), parameters, device, data,
                    heard::add).run();
            assertEquals(reports, heard, "the listener hears every report");
            return reports;
        }
    }

    /** Batch 100; evaluation in batches of 768 so the last of the 2000 test samples form a short batch. */
    private static TrainerConfig config(String model, String optimizer, float lr, int epochs, int workers) {
        return new TrainerConfig(ModelSpec.parse(model), 100, epochs, OptimizerSpec.defaults(optimizer, lr), 0, workers,
                new DataSource.Synthetic(SYNTHETIC), 17L, 768, CodecPolicy.NONE);
    }
}
