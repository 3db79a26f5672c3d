package io.gpups.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gpups.cli.progress.ProgressMode;
import io.gpups.cli.progress.TrainingProgress;
import io.gpups.core.config.Consistency;
import io.gpups.worker.client.PsClient;
import io.gpups.worker.data.CtrDataset;
import io.gpups.worker.data.DataSource;
import io.gpups.worker.model.CtrModel;
import io.gpups.worker.model.EmbBagModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * {@code gpups local}: a whole job on this machine. Starts N shard processes and M worker processes on
 * 127.0.0.1, shows each epoch as every worker finishes it, stops every process it started (also on Ctrl-C
 * or when one fails), and ends with a summary.
 */
@Command(name = "local", mixinStandardHelpOptions = true,
        description = "Train on this machine: N shard processes and M worker processes over loopback TCP.")
final class LocalCommand implements Callable<Integer> {

    private static final ObjectMapper JSON = new ObjectMapper();

    // An initial value, not defaultValue: picocli applies a defaultValue after the deprecated --servers below.
    @Option(names = "--shards", description = "Shard processes (default: ${DEFAULT-VALUE}).")
    int servers = 2;

    @Option(names = "--servers", hidden = true, description = "Deprecated spelling of --shards.")
    void deprecatedServers(int count) {
        servers = DeprecatedSpelling.warn("local", "--servers", "--shards", count);
    }

    @Option(names = "--workers", defaultValue = "2", description = "Worker processes (default: ${DEFAULT-VALUE}).")
    int workers;

    @Mixin
    WorkerCommand.TrainingOptions training;

    @Mixin
    SecurityOptions security;

    @Option(names = "--chaos", description = "For demos and tests. kill-shard:I@S kills shard I with SIGKILL S seconds "
            + "after training starts (kill-shard:I@Nsteps: once it has applied N steps) and restarts it on its port with "
            + "--restore from --checkpoint-dir; workers reconnect and go on from the restored step. kill-shard-fresh:I@S "
            + "(or @Nsteps) restarts it without --restore, empty: the workers refuse to go on from its initial values and "
            + "stop, naming the shard and both steps (unless --allow-reset). kill-worker:R@S (or "
            + "@Nsteps, counted on shard 0) kills worker R with SIGKILL, waits until every shard has dropped it "
            + "(--worker-timeout) and restarts it with the same rank: it rejoins at the shards' current step (bsp) or "
            + "slowest live clock (asp, ssp). In the @Nsteps forms the workers are held at steps, so that the events "
            + "come in one order on any machine: the kill at step N; a killed worker back before the others' last step.")
    String chaos;

    @Option(names = "--worker-timeout", defaultValue = "0", description = "Passed to every shard: milliseconds of "
            + "silence after which a worker is dropped (bsp steps and the ssp/asp slowest clock stop waiting for it); "
            + "0: never (default: ${DEFAULT-VALUE}).")
    long workerTimeoutMillis;

    @Mixin
    CheckpointOptions checkpoints;

    @Mixin
    NonFiniteOptions nonFinite;

    @Option(names = "--consistency", defaultValue = "bsp", description = "bsp, asp or ssp:S (default: ${DEFAULT-VALUE}; "
            + "asp for --model ctr and embbag).")
    String consistency;

    @Mixin
    DeviceOption device;

    @Option(names = "--gpus", description = "GPU ordinals to spread the processes over, e.g. 0,1 (default: every visible "
            + "GPU): with --device cuda (or auto where CUDA is usable) shards then workers are dealt round-robin over them.")
    String gpus;

    @Mixin
    JsonOutput json;

    @Mixin
    RunDirOption runDir;

    @Option(names = "--dashboard-port", defaultValue = "0", description = "Serve a live dashboard of every process's "
            + "metrics on this port of 127.0.0.1; 0: off (default: ${DEFAULT-VALUE}).")
    int dashboardPort;

    @Option(names = "--progress", defaultValue = "auto", description = "auto (a bar on a terminal, else a line every 10 s), "
            + "bar, plain or none (default: ${DEFAULT-VALUE}).")
    String progress;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        boolean tables = CtrModel.names(training.model) || EmbBagModel.names(training.model);
        if (tables && spec != null
                && !spec.commandLine().getParseResult().hasMatchedOption("--consistency")) {
            consistency = "asp";   // rows are applied on arrival: the one mode tables are served in
        }
        validate();
        GpuPlacement placement = GpuPlacement.resolve(device.spec, gpus, servers, workers, GpuPlacement.installedCuda());
        String dataDescription = CtrModel.names(training.model) ? CtrData.describe(training.data)
                : EmbBagModel.names(training.model) ? SparseData.describe(training.data)
                : DataSource.resolve(training.data, out::println).describe();
        Path dir = runDir.resolve("local");
        out.printf("gpups local: %d shard(s), %d worker(s), %s, %s, %s lr %s, batch %d per worker, %d epoch(s), codec %s%n",
                servers, workers, training.model, consistency, training.optimizer, training.lr, training.batch, training.epochs,
                training.codec);
        out.printf("data: %s; logs: %s%n", dataDescription, dir);
        if (placement.describe() != null) {
            out.println(placement.describe());
        }

        if (checkpoints.directory != null) {
            // A shard restarted with --restore before the first checkpoint finds the directory empty, not missing.
            Files.createDirectories(checkpoints.directory);
        }
        long start = System.nanoTime();
        try (ChildProcesses children = new ChildProcesses(dir);
             LocalJobView view = new LocalJobView(servers, workers, dashboardPort, ProgressMode.parse(progress), out)) {
            java.util.function.IntFunction<List<String>> shardExtras =
                    s -> concat(concat(concat(security.asArgs(), checkpoints.asArgs()), view.shardArgs(s)),
                            concat(List.of("--worker-timeout", "" + workerTimeoutMillis), nonFinite.asArgs()));
            List<InetSocketAddress> shards = LocalShards.start(children, servers, workers, consistency, placement::shard,
                    shardExtras);
            String serverList = String.join(",", shards.stream().map(a -> "127.0.0.1:" + a.getPort()).toList());
            out.printf("shards listening on %s (%.1f s)%n", serverList, (System.nanoTime() - start) / 1e9);
            view.announce();

            EpochTable table = new EpochTable(workers, training.epochs, view.lines());
            long trainStart = System.nanoTime();
            WorkerSlots slots = new WorkerSlots(workers);
            ChaosPlan plan = chaos == null ? null : ChaosPlan.parse(chaos, servers, workers);
            // A rank's first process gets its part of the chaos plan; a restarted one joins without a hold.
            boolean[] launched = new boolean[workers];
            WorkerSlots.Launcher launcher = (rank, name, startedAt) -> {
                List<String> args = new ArrayList<>(List.of("worker", "--servers", serverList, "--rank", "" + rank,
                        "--workers", "" + workers, "--device", placement.worker(rank)));
                ChaosHold hold = plan == null || launched[rank] ? null : plan.hold(rank);
                launched[rank] = true;
                if (hold != null) {
                    args.addAll(hold.asArgs());
                }
                args.addAll(training.asArgs());
                args.addAll(security.asArgs());
                args.addAll(view.workerArgs(rank));
                return children.start(name, List.of("-Xmx2g", "-Dgpups.blas.threads=1"), args, line -> {
                    if (line.startsWith(WorkerCommand.EPOCH)) {
                        table.add(rank, line.substring(WorkerCommand.EPOCH.length()));
                    } else if (line.startsWith(TrainingProgress.PREFIX)) {
                        view.progress(rank, line.substring(TrainingProgress.PREFIX.length()));
                    } else if (line.startsWith(WorkerCommand.START)) {
                        long step = startStep(line.substring(WorkerCommand.START.length()));
                        if (step >= 0) {
                            startedAt.accept(step);
                        }
                    }
                });
            };
            for (int r = 0; r < workers; r++) {
                slots.set(r, launcher.start(r, "worker-" + r, step -> { }));
            }
            LocalChaos chaosRun = plan == null ? null : new LocalChaos(plan, shards, adminOptions(), out);
            if (plan != null && plan.target() == ChaosPlan.Target.SHARD) {
                // Killed before its first checkpoint, a restored shard starts empty; the workers then refuse to go on.
                List<String> restore = plan.fresh() ? List.of() : List.of("--restore",
                        checkpoints.directory.toAbsolutePath().toString(), "--restore-if-present");
                chaosRun.start(() -> chaosRun.killShard(children, s -> LocalShards.shardArgs(s, shards.get(s).getPort(),
                        servers, workers, consistency, placement.shard(s), concat(shardExtras.apply(s), restore))));
            } else if (plan != null) {
                // The shards check liveness every 100 ms; a loaded machine may be slower still.
                chaosRun.start(() -> chaosRun.killWorker(slots, launcher, trainStart, workerTimeoutMillis + 30_000));
            }
            ChildProcesses.Child failed = slots.await();
            double trainSeconds = (System.nanoTime() - trainStart) / 1e9;
            view.endProgress();
            if (failed != null) {
                out.printf("%s failed (exit code %d); stopping every process. Its log %s ends with:%n%s%n", failed.name(),
                        failed.exit().join(), failed.log(), ChildProcesses.tail(failed, 20));
                return 1;
            }
            table.finish();
            List<String> stats = shardStats(shards);
            ObjectNode summary = table.summary(trainSeconds);
            summary.put("servers", servers);
            summary.put("workers", workers);
            summary.put("model", training.model);
            summary.put("consistency", consistency);
            if (chaosRun != null) {
                summary.put("chaos", chaos);
                chaosRun.report().putInto(summary, plan);
            }
            summary.put("codec", training.codec);
            summary.put("pull_dtype", training.pullDtype);
            summary.put("optimizer", training.optimizer);
            summary.put("lr", training.lr);
            summary.put("batch", training.batch);
            summary.put("data", dataDescription);
            ArrayNode shardNodes = summary.putArray("shards");
            for (String s : stats) {
                shardNodes.add(JSON.readTree(s));
            }
            printSummary(summary, stats);
            if (json.wanted()) {
                json.write(summary, out);
            }
        }
        return 0;
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /** The step in a worker's {@code gpups-start} line; -1 if the line is unreadable. */
    private long startStep(String json) {
        try {
            return JSON.readTree(json).path("step").asLong(-1);
        } catch (Exception e) {
            out.println("a worker sent an unreadable start line: " + json);
            return -1;
        }
    }

    /** Options of this command's own client (rank -1) that reads the shards' STATS. */
    private PsClient.Options adminOptions() {
        io.gpups.core.protocol.TlsFiles tls = security.tls();
        return PsClient.Options.defaults().secured(security.auth(), tls == null ? null : tls.clientContext());
    }

    private void validate() {
        if (servers < 1 || servers > 64) {
            throw new IllegalArgumentException("--shards must be 1..64, got " + servers);
        }
        if (workers < 1 || workers > 64) {
            throw new IllegalArgumentException("--workers must be 1..64, got " + workers);
        }
        if (workerTimeoutMillis < 0) {
            throw new IllegalArgumentException("--worker-timeout must be 0 (never) or more milliseconds, got " + workerTimeoutMillis);
        }
        nonFinite.policy();
        if (chaos != null) {
            ChaosPlan plan = ChaosPlan.parse(chaos, servers, workers);
            if (plan.target() == ChaosPlan.Target.SHARD && !plan.fresh()
                    && (checkpoints.directory == null || checkpoints.restore != null)) {
                throw new IllegalArgumentException("--chaos " + chaos + " restarts the shard from --checkpoint-dir: give "
                        + "--checkpoint-dir (with --checkpoint-every) and no --restore");
            }
            if (plan.fresh() && checkpoints.restore != null) {
                throw new IllegalArgumentException("--chaos " + chaos + " restarts the shard without --restore: give no --restore");
            }
            if (plan.target() == ChaosPlan.Target.WORKER) {
                if (workers < 2) {
                    throw new IllegalArgumentException("--chaos " + chaos + " needs --workers 2 or more: the shards never "
                            + "drop the last live worker");
                }
                if (workerTimeoutMillis <= 0) {
                    throw new IllegalArgumentException("--chaos " + chaos + " restarts the worker once every shard has "
                            + "dropped it: give --worker-timeout MS (e.g. 1500)");
                }
            }
        }
        Consistency parsedConsistency = Consistency.parse(consistency);
        if (CtrModel.names(training.model) || EmbBagModel.names(training.model)) {
            if (chaos != null) {
                throw new IllegalArgumentException("--chaos " + chaos + " is not supported with --model " + training.model
                        + " yet (its trainer does not hold at a chaos step); kill a shard by hand and restart it with "
                        + "--restore");
            }
            if (CtrModel.names(training.model)) {
                CtrModel.parse(training.model, CtrDataset.FIELDS, CtrDataset.DENSE, training.seed);
            } else {
                EmbBagModel.parse(training.model, 2, training.seed);   // the keys; the classes come with the data
            }
            if (parsedConsistency.mode() == Consistency.Mode.SSP) {
                throw new IllegalArgumentException("--model " + training.model + " trains under asp or bsp (embedding "
                        + "tables are not served under ssp yet): give --consistency asp or bsp");
            }
            io.gpups.core.optim.OptimizerSpec.defaults(training.optimizer, training.lr);
        } else {
            io.gpups.worker.train.TrainerConfig.of(training.model, training.batch, training.epochs, training.optimizer,
                    training.lr, 0, workers, new DataSource.IdxDirectory(Path.of(".")), training.seed);
        }
        training.compression();
        training.pullDtype();
    }

    private List<String> shardStats(List<InetSocketAddress> shards) {
        try (PsClient admin = PsClient.connect(shards, -1, adminOptions())) {
            return admin.stats().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            return List.of();
        }
    }

    private void printSummary(ObjectNode s, List<String> stats) throws Exception {
        out.println();
        out.printf("done: test accuracy %.4f after %d epoch(s), %.1f s training, %.0f samples/s, %d pushes, "
                        + "%.1f MB pushed (%.1f MB as fp32: compression ratio %.1f)%n",
                s.path("test_accuracy").asDouble(Double.NaN), s.path("epochs").asInt(), s.path("train_seconds").asDouble(),
                s.path("samples_per_second").asDouble(), s.path("pushes").asLong(), s.path("bytes_pushed_wire").asLong() / 1e6,
                s.path("bytes_pushed_raw").asLong() / 1e6, s.path("compression_ratio").asDouble());
        for (String text : stats) {
            JsonNode n = JSON.readTree(text);
            out.printf("shard %d: %d updates, %d elements updated, %.1f MB in, %.1f MB out, %d errors%n",
                    n.path("shard").asInt(), n.path("updates").asLong(), n.path("elements_updated").asLong(),
                    n.path("bytes_pushed").asLong() / 1e6, n.path("bytes_pulled").asLong() / 1e6, n.path("errors").asLong());
        }
    }

    /** Gathers the workers' epoch reports and prints a line when every worker has finished an epoch. */
    static final class EpochTable {
        private final int workers;
        private final int epochs;
        private final PrintStream out;
        /** Each epoch's report from each rank (a worker that lost a shard may report an epoch again: the last counts). */
        private final Map<Integer, Map<Integer, JsonNode>> byEpoch = new TreeMap<>();
        /** The latest epoch each rank has reported, -1 before its first. */
        private final int[] newest;
        private int lastPrinted = -1;
        private final ArrayNode printed = JSON.createArrayNode();

        EpochTable(int workers, int epochs, PrintStream out) {
            this.workers = workers;
            this.epochs = epochs;
            this.out = out;
            this.newest = new int[workers];
            java.util.Arrays.fill(newest, -1);
        }

        synchronized void add(int rank, String json) {
            JsonNode n;
            try {
                n = JSON.readTree(json);
            } catch (Exception e) {
                out.println("worker " + rank + " sent an unreadable epoch report: " + json);
                return;
            }
            int epoch = n.path("epoch").asInt();
            byEpoch.computeIfAbsent(epoch, e -> new TreeMap<>()).put(rank, n);
            newest[rank] = Math.max(newest[rank], epoch);
            printReady(false);
        }

        /**
         * Once every worker has exited: prints the epochs still missing a rank's report (a worker restarted after
         * the shards had finished the job has nothing left to train, and reports nothing).
         */
        synchronized void finish() {
            printReady(true);
        }

        /** Prints, in order, the epochs not printed yet that are ready (with {@code all}: every one). */
        private void printReady(boolean all) {
            for (Map.Entry<Integer, Map<Integer, JsonNode>> e : byEpoch.entrySet()) {
                int epoch = e.getKey();
                if (epoch <= lastPrinted) {
                    continue;
                }
                if (!all && !ready(epoch, e.getValue())) {
                    return;
                }
                print(epoch, e.getValue());
                lastPrinted = epoch;
            }
        }

        /**
         * Whether every rank has reported the epoch or a later one: a worker that was killed and rejoined a job
         * under way skips the epochs it was away for, and they are complete without its report.
         */
        private boolean ready(int epoch, Map<Integer, JsonNode> byRank) {
            for (int r = 0; r < workers; r++) {
                if (!byRank.containsKey(r) && newest[r] <= epoch) {
                    return false;
                }
            }
            return true;
        }

        /** The first report's value of {@code field} (rank 0 evaluates), NaN where none has it. */
        private static double first(List<JsonNode> reports, String field) {
            return reports.stream().filter(r -> r.hasNonNull(field)).mapToDouble(r -> r.path(field).asDouble())
                    .findFirst().orElse(Double.NaN);
        }

        private void print(int epoch, Map<Integer, JsonNode> byRank) {
            List<JsonNode> reports = new ArrayList<>(byRank.values());
            double loss = reports.stream().mapToDouble(r -> r.path("loss").asDouble()).average().orElse(Double.NaN);
            double rate = reports.stream().mapToDouble(r -> r.path("samples_per_second").asDouble()).sum();
            double accuracy = reports.stream().filter(r -> r.hasNonNull("test_accuracy"))
                    .mapToDouble(r -> r.path("test_accuracy").asDouble()).findFirst().orElse(Double.NaN);
            double auc = first(reports, "test_auc");
            double logLoss = first(reports, "test_logloss");
            double seconds = reports.stream().mapToDouble(r -> r.path("seconds").asDouble()).max().orElse(0);
            long pushes = reports.stream().mapToLong(r -> r.path("pushes").asLong()).sum();
            long bytes = reports.stream().mapToLong(r -> r.path("bytes_pushed").asLong()).sum();
            long raw = reports.stream().mapToLong(r -> r.path("bytes_pushed_raw").asLong()).sum();
            List<String> missing = new ArrayList<>();
            for (int r = 0; r < workers; r++) {
                if (!byRank.containsKey(r)) {
                    missing.add("" + r);
                }
            }
            out.printf("epoch %2d/%d  loss %.4f  test accuracy %.4f%s  %,.0f samples/s  %.1f s%s%n",
                    epoch + 1, epochs, loss, accuracy,
                    Double.isNaN(auc) ? "" : String.format("  test AUC %.4f  log loss %.4f", auc, logLoss), rate, seconds,
                    missing.isEmpty() ? "" : "  (no report from worker " + String.join(", ", missing) + ")");
            ObjectNode row = printed.addObject();
            row.put("epoch", epoch + 1);
            row.put("loss", loss);
            row.put("test_accuracy", accuracy);
            if (!Double.isNaN(auc)) {
                row.put("test_auc", auc);
                row.put("test_logloss", logLoss);
            }
            row.put("samples_per_second", rate);
            row.put("seconds", seconds);
            row.put("pushes", pushes);
            row.put("bytes_pushed", bytes);
            row.put("bytes_pushed_raw", raw);
            row.put("workers_reporting", reports.size());
        }

        synchronized ObjectNode summary(double trainSeconds) {
            ObjectNode s = JSON.createObjectNode();
            JsonNode last = printed.isEmpty() ? JSON.createObjectNode() : printed.get(printed.size() - 1);
            s.put("test_accuracy", last.path("test_accuracy").asDouble(Double.NaN));
            if (last.hasNonNull("test_auc")) {
                s.put("test_auc", last.path("test_auc").asDouble());
                s.put("test_logloss", last.path("test_logloss").asDouble());
            }
            s.put("epochs", printed.size());
            s.put("train_seconds", trainSeconds);
            double samples = 0;
            for (JsonNode row : printed) {
                samples += row.path("samples_per_second").asDouble() * row.path("seconds").asDouble();
            }
            s.put("samples_per_second", trainSeconds > 0 ? samples / trainSeconds : 0);
            s.put("pushes", last.path("pushes").asLong());
            s.put("bytes_pushed", last.path("bytes_pushed").asLong());
            s.put("bytes_pushed_wire", last.path("bytes_pushed").asLong());
            s.put("bytes_pushed_raw", last.path("bytes_pushed_raw").asLong());
            long wire = last.path("bytes_pushed").asLong();
            s.put("compression_ratio", wire > 0 ? (double) last.path("bytes_pushed_raw").asLong() / wire : 1.0);
            s.set("epoch_reports", printed.deepCopy());
            return s;
        }
    }
}
