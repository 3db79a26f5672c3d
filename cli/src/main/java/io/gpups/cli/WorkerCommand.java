package io.gpups.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gpups.cli.progress.ProgressMode;
import io.gpups.cli.progress.TrainingProgress;
import io.gpups.core.codec.Codec;
import io.gpups.core.device.Device;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.TlsFiles;
import io.gpups.core.tensor.ChunkLayout;
import io.gpups.dashboard.MetricsEndpoint;
import io.gpups.worker.client.PsClient;
import io.gpups.worker.compress.CodecPolicy;
import io.gpups.worker.data.DataSource;
import io.gpups.worker.data.TrainTestSplit;
import io.gpups.worker.metrics.TrainingMonitor;
import io.gpups.worker.metrics.WorkerMetrics;
import io.gpups.worker.data.SparseSplit;
import io.gpups.worker.model.CtrModel;
import io.gpups.worker.model.EmbBagModel;
import io.gpups.worker.train.CtrTrainer;
import io.gpups.worker.train.EmbBagTrainer;
import io.gpups.worker.train.EpochListener;
import io.gpups.worker.train.EpochReport;
import io.gpups.worker.train.ShardResetException;
import io.gpups.worker.train.Trainer;
import io.gpups.worker.train.TrainerConfig;
import io.micrometer.core.instrument.Tags;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code gpups worker}: trains one worker's share of the data against running shards. */
@Command(name = "worker", mixinStandardHelpOptions = true, description = "Run one training worker against running shards.")
final class WorkerCommand implements Callable<Integer> {

    private static final Logger log = LoggerFactory.getLogger(WorkerCommand.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Prefix of the stdout line a worker prints after each epoch (JSON follows); {@code gpups local} reads it. */
    static final String EPOCH = "gpups-epoch ";

    /**
     * Prefix of the stdout line a worker prints when training begins, {@code gpups-start {"step":S}}: the global
     * step it starts at (0, or later for a worker that rejoins a bsp job under way); {@code gpups local} reads it.
     */
    static final String START = "gpups-start ";

    @Option(names = "--servers", required = true, split = ",", description = "Shard addresses HOST:PORT, in shard order.")
    List<String> servers;

    @Option(names = "--rank", required = true, description = "This worker's rank, 0..workers-1.")
    int rank;

    @Option(names = "--workers", required = true, description = "Number of workers in the job.")
    int workers;

    @Mixin
    TrainingOptions training;

    @Mixin
    DeviceOption device;

    @Mixin
    SharedMemoryOption sharedMemory;

    @Mixin
    SecurityOptions security;

    @Option(names = "--connect-timeout", defaultValue = "60000", description = "Milliseconds to keep trying, with "
            + "backoff, to reach shards that are not up yet (not listening, full, or still holding this rank on an old "
            + "connection) before giving up with an error naming the address; 0: one try (default: ${DEFAULT-VALUE}).")
    long connectTimeoutMillis;

    @Mixin
    MetricsOptions metrics;

    @Option(names = "--progress", defaultValue = "auto", description = "auto (a bar on a terminal, else a line every 10 s), "
            + "bar, plain, json (a gpups-progress line every second) or none (default: ${DEFAULT-VALUE}).")
    String progress;

    @Option(names = "--chaos-hold", hidden = true, description = "Set by gpups local --chaos: STEP:UNTIL, hold before "
            + "that step (or 'last') until killed, rejoined or shard-lost; see ChaosHold.")
    String chaosHold;
    @Mixin
    JsonOutput json;

    @Override
    public Integer call() throws Exception {
        if (connectTimeoutMillis < 0) {
            throw new IllegalArgumentException("--connect-timeout must be 0 (one try) or more milliseconds, got "
                    + connectTimeoutMillis);
        }
        List<InetSocketAddress> addresses = parseAddresses(servers);
        if (CtrModel.names(training.model)) {
            return ctr(addresses);
        }
        if (EmbBagModel.names(training.model)) {
            return embbag(addresses);
        }
        DataSource source = DataSource.resolve(training.data, log::info);
        TrainerConfig config = TrainerConfig.of(training.model, training.batch, training.epochs, training.optimizer,
                training.lr, rank, workers, source, training.seed).withCompression(training.compression());
        TrainTestSplit data = source.load();
        log.info("worker {}/{}: {} on {}, batch {}, {} epochs, {} lr {}", rank, workers, training.model,
                source.describe(), training.batch, training.epochs, training.optimizer, training.lr);
        TlsFiles tls = security.tls();
        PsClient.Options options = new PsClient.Options(training.chunkBytes, Frame.DEFAULT_MAX_FRAME_BYTES,
                training.pullDtype()).secured(security.auth(), tls == null ? null : tls.clientContext())
                .withConnectTimeout(connectTimeoutMillis).withRing(sharedMemory.ring());
        TrainingProgress bar = new TrainingProgress(ProgressMode.parse(progress), System.out);
        try (MetricsEndpoint observed = metrics.open("worker", rank);
             Device dev = DeviceLine.open(device.spec, log::info);
             PsClient client = PsClient.connect(addresses, rank, options)) {
            Trainer trainer = new Trainer(config, client, dev, data, report -> {
                log.info("worker {}: {}", rank, report);
                bar.endLine();
                System.out.println(EPOCH + toJson(report));
                System.out.flush();
            });
            TrainingMonitor start = new TrainingMonitor() {
                @Override
                public void trainingStarted(long step) {
                    System.out.println(START + "{\"step\":" + step + "}");
                    System.out.flush();
                }
            };
            trainer.monitor(TrainingMonitor.all(observed == null ? List.of(start, bar) : List.of(start, bar,
                    new WorkerMetrics(observed.registry(), Tags.empty(), client))));
            trainer.allowReset(training.allowReset);
            if (chaosHold != null) {
                trainer.hold(ChaosHold.parse(chaosHold).on(client, log));
            }
            long trainStart = System.nanoTime();
            List<EpochReport> reports;
            try {
                reports = trainer.run();
            } catch (ShardResetException e) {
                throw new CliException("worker " + rank + ": " + e.getMessage());
            }
            double trainSeconds = (System.nanoTime() - trainStart) / 1e9;
            if (json.wanted()) {
                ObjectNode summary = WorkerSummary.of(reports, trainSeconds);
                summary.put("rank", rank);
                summary.put("workers", workers);
                summary.set("servers", JSON.valueToTree(servers));
                summary.put("model", training.model);
                summary.put("codec", training.codec);
                summary.put("pull_dtype", training.pullDtype);
                summary.put("optimizer", training.optimizer);
                summary.put("lr", training.lr);
                summary.put("batch", training.batch);
                summary.put("data", source.describe());
                summary.put("device", dev.description());
                json.write(summary, System.out);
            }
        }
        return 0;
    }

    /** {@code --model ctr...}: a {@link CtrTrainer} on Criteo-format data ({@code --data DIR}) or a generated set. */
    private int ctr(List<InetSocketAddress> addresses) throws Exception {
        if (chaosHold != null) {
            throw new IllegalArgumentException("--chaos-hold is not supported with --model " + training.model + " yet");
        }
        CtrData.Loaded data = CtrData.load(training.data, log::info);
        CtrTrainer.Config config = new CtrTrainer.Config(training.model, training.batch, training.epochs,
                OptimizerSpec.defaults(training.optimizer, training.lr), rank, workers, training.seed,
                TrainerConfig.DEFAULT_EVAL_BATCH);
        log.info("worker {}/{}: {} on {}, batch {}, {} epochs, {} lr {}", rank, workers, training.model,
                data.description(), training.batch, training.epochs, training.optimizer, training.lr);
        return runTableModel(addresses, data.description(), (client, dev, listener, monitor) ->
                new CtrTrainer(config, client, dev, data.split(), listener).monitor(monitor).run());
    }

    /** {@code --model embbag...}: an {@link EmbBagTrainer} on libsvm data ({@code --data DIR}, required). */
    private int embbag(List<InetSocketAddress> addresses) throws Exception {
        if (chaosHold != null) {
            throw new IllegalArgumentException("--chaos-hold is not supported with --model " + training.model + " yet");
        }
        String description = SparseData.describe(training.data);
        SparseSplit data = SparseData.load(training.data);
        EmbBagTrainer.Config config = new EmbBagTrainer.Config(training.model, training.batch, training.epochs,
                OptimizerSpec.defaults(training.optimizer, training.lr), rank, workers, training.seed,
                TrainerConfig.DEFAULT_EVAL_BATCH);
        log.info("worker {}/{}: {} on {} ({} train, {} test samples, {} classes), batch {}, {} epochs, {} lr {}", rank,
                workers, training.model, description, data.train().samples(), data.test().samples(), data.classes(),
                training.batch, training.epochs, training.optimizer, training.lr);
        return runTableModel(addresses, description, (client, dev, listener, monitor) ->
                new EmbBagTrainer(config, client, dev, data, listener).monitor(monitor).run());
    }

    /** Trains a model with embedding rows: runs {@code trainer}'s epochs once the client and device are open. */
    @FunctionalInterface
    private interface TableModelRun {
        List<EpochReport> run(PsClient client, Device dev, EpochListener listener, TrainingMonitor monitor);
    }

    /**
     * What {@code ctr} and {@code embbag} share: the client and device, the epoch and start lines, the progress bar and
     * metrics, and the {@code --json} summary ({@code description} names the data).
     */
    private int runTableModel(List<InetSocketAddress> addresses, String description, TableModelRun trainer)
            throws Exception {
        TlsFiles tls = security.tls();
        PsClient.Options options = new PsClient.Options(training.chunkBytes, Frame.DEFAULT_MAX_FRAME_BYTES,
                training.pullDtype()).secured(security.auth(), tls == null ? null : tls.clientContext())
                .withConnectTimeout(connectTimeoutMillis).withRing(sharedMemory.ring());
        TrainingProgress bar = new TrainingProgress(ProgressMode.parse(progress), System.out);
        try (MetricsEndpoint observed = metrics.open("worker", rank);
             Device dev = DeviceLine.open(device.spec, log::info);
             PsClient client = PsClient.connect(addresses, rank, options)) {
            EpochListener listener = report -> {
                bar.endLine();
                System.out.println(EPOCH + toJson(report));
                System.out.flush();
            };
            TrainingMonitor start = new TrainingMonitor() {
                @Override
                public void trainingStarted(long step) {
                    System.out.println(START + "{\"step\":" + step + "}");
                    System.out.flush();
                }
            };
            TrainingMonitor monitor = TrainingMonitor.all(observed == null ? List.of(start, bar) : List.of(start, bar,
                    new WorkerMetrics(observed.registry(), Tags.empty(), client)));
            long trainStart = System.nanoTime();
            List<EpochReport> reports = trainer.run(client, dev, listener, monitor);
            double trainSeconds = (System.nanoTime() - trainStart) / 1e9;
            if (json.wanted()) {
                ObjectNode summary = WorkerSummary.of(reports, trainSeconds);
                summary.put("rank", rank);
                summary.put("workers", workers);
                summary.set("servers", JSON.valueToTree(servers));
                summary.put("model", training.model);
                summary.put("optimizer", training.optimizer);
                summary.put("lr", training.lr);
                summary.put("batch", training.batch);
                summary.put("data", description);
                summary.put("device", dev.description());
                json.write(summary, System.out);
            }
        }
        return 0;
    }

    static String toJson(EpochReport r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("epoch", r.epoch());
        m.put("loss", r.meanTrainLoss());
        m.put("samples_per_second", r.samplesPerSecond());
        m.put("test_accuracy", Double.isNaN(r.testAccuracy()) ? null : r.testAccuracy());
        m.put("test_auc", Double.isNaN(r.testAuc()) ? null : r.testAuc());
        m.put("test_logloss", Double.isNaN(r.testLogLoss()) ? null : r.testLogLoss());
        m.put("pushes", r.pushes());
        m.put("bytes_pushed", r.bytesPushed());
        m.put("bytes_pushed_raw", r.bytesPushedRaw());
        m.put("seconds", r.seconds());
        try {
            return JSON.writeValueAsString(m);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    static List<InetSocketAddress> parseAddresses(List<String> servers) {
        List<InetSocketAddress> out = new ArrayList<>();
        for (String s : servers) {
            int colon = s.lastIndexOf(':');
            if (colon <= 0 || colon == s.length() - 1) {
                throw new IllegalArgumentException("server address '" + s + "': expected HOST:PORT");
            }
            int port;
            try {
                port = Integer.parseInt(s.substring(colon + 1));
            } catch (NumberFormatException e) {
                port = -1;
            }
            if (port <= 0 || port > 65535) {
                throw new IllegalArgumentException("server address '" + s + "': port must be 1..65535");
            }
            out.add(InetSocketAddress.createUnresolved(s.substring(0, colon), port));
        }
        return out.stream().map(a -> new InetSocketAddress(a.getHostString(), a.getPort())).toList();
    }

    /** Training flags shared by {@code worker} and {@code local}. */
    static final class TrainingOptions {
        @Option(names = "--model", defaultValue = "mlp:256,128", description = "mlp:H1,H2,..., logreg, or "
                + "ctr:dim=D,mlp=H1,H2,... (embedding rows on the shards; Criteo-format --data), or embbag:dim=D (mean of "
                + "embedding rows, then softmax; libsvm --data) (default: ${DEFAULT-VALUE}).")
        String model;

        @Option(names = "--data", description = "Directory with IDX files (default: the dataset-fashion-mnist package, else "
                + "synthetic data); for --model ctr, with train.tsv[.gz] and test.tsv[.gz] in the Criteo format (default: a "
                + "generated set); for --model embbag, with train.svm[.gz] and test.svm[.gz] in the libsvm format (required).")
        Path data;

        @Option(names = "--epochs", defaultValue = "10", description = "Passes over the training set (default: ${DEFAULT-VALUE}).")
        int epochs;

        @Option(names = "--batch", defaultValue = "64", description = "Samples per step per worker (default: ${DEFAULT-VALUE}).")
        int batch;

        @Option(names = "--optimizer", defaultValue = "adam", completionCandidates = OptimizerNames.class,
                description = "${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).")
        String optimizer;

        @Option(names = "--lr", defaultValue = "0.001", description = "Learning rate (default: ${DEFAULT-VALUE}).")
        float lr;

        @Option(names = "--seed", defaultValue = "42", description = "Seed of initializers and shuffles (default: ${DEFAULT-VALUE}).")
        long seed;

        @Option(names = "--chunk-bytes", defaultValue = "" + ChunkLayout.DEFAULT_CHUNK_BYTES,
                description = "Largest chunk a tensor is cut into (default: ${DEFAULT-VALUE}).")
        int chunkBytes;

        @Option(names = "--codec", defaultValue = "none",
                description = "Gradient codec: none, fp16, bf16, int8, topk:R, randomk:R or sign (default: ${DEFAULT-VALUE}).")
        String codec;

        @Option(names = "--codec-min-bytes", defaultValue = "" + CodecPolicy.DEFAULT_MIN_BYTES,
                description = "Tensors smaller than this many fp32 bytes go uncompressed (default: ${DEFAULT-VALUE}).")
        long codecMinBytes;

        @Option(names = "--pull-dtype", defaultValue = "fp32", description = "How pulled parameters travel: fp32 or bf16 (default: ${DEFAULT-VALUE}).")
        String pullDtype;

        @Option(names = "--allow-reset", description = "Go on when a shard comes back from a restart with its parameters "
                + "at their initial values (started without --restore) while this worker had trained past them; without "
                + "it the worker stops with an error naming the shard and both steps.")
        boolean allowReset;

        CodecPolicy compression() {
            return CodecPolicy.of(Codec.parse(codec), codecMinBytes);
        }

        int pullDtype() {
            return switch (pullDtype.trim().toLowerCase(Locale.ROOT)) {
                case "fp32" -> Messages.DTYPE_FP32;
                case "bf16" -> Messages.DTYPE_BF16;
                default -> throw new IllegalArgumentException("--pull-dtype '" + pullDtype + "': expected fp32 or bf16");
            };
        }

        /** The same flags as arguments for a child worker. */
        List<String> asArgs() {
            List<String> a = new ArrayList<>(List.of("--model", model, "--epochs", "" + epochs, "--batch", "" + batch,
                    "--optimizer", optimizer, "--lr", "" + lr, "--seed", "" + seed, "--chunk-bytes", "" + chunkBytes,
                    "--codec", codec, "--codec-min-bytes", "" + codecMinBytes, "--pull-dtype", pullDtype));
            if (data != null) {
                a.add("--data");
                a.add(data.toString());
            }
            if (allowReset) {
                a.add("--allow-reset");
            }
            return a;
        }
    }
}
