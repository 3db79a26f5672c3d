package io.gpups.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gpups.cli.dashboard.LocalJobView;
import io.gpups.cli.progress.ProgressMode;
import io.gpups.cli.progress.TrainingProgress;
import io.gpups.core.config.Consistency;
import io.gpups.worker.client.PsClient;
import io.gpups.worker.data.DataSource;
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
import java.util.concurrent.CompletableFuture;
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

    @Option(names = "--servers", defaultValue = "2", description = "Shard processes (default: ${DEFAULT-VALUE}).")
    int servers;

    @Option(names = "--workers", defaultValue = "2", description = "Worker processes (default: ${DEFAULT-VALUE}).")
    int workers;

    @Mixin
    WorkerCommand.TrainingOptions training;

    @Mixin
    SecurityOptions security;

    @Option(names = "--chaos", description = "For demos and tests: kill-shard:I@S kills shard I with SIGKILL S seconds "
            + "after training starts and restarts it on its port with --restore from --checkpoint-dir; workers "
            + "reconnect and go on from the restored step.")
    String chaos;

    @Option(names = "--worker-timeout", defaultValue = "0", description = "Passed to every shard: milliseconds of "
            + "silence after which a worker is dropped from bsp steps; 0: never (default: ${DEFAULT-VALUE}).")
    long workerTimeoutMillis;

    @Mixin
    CheckpointOptions checkpoints;

    @Option(names = "--consistency", defaultValue = "bsp", description = "bsp, asp or ssp:S (default: ${DEFAULT-VALUE}).")
    String consistency;

    @Option(names = "--device", defaultValue = "auto", description = "auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}). "
            + "With cuda (or auto where CUDA is usable) shards then workers are dealt round-robin over the GPUs.")
    String device;

    @Option(names = "--gpus", description = "GPU ordinals to spread the processes over, e.g. 0,1 (default: every visible GPU).")
    String gpus;

    @Option(names = "--json", description = "Write the summary as JSON to this file.")
    Path json;

    @Option(names = "--run-dir", description = "Where the processes' logs go (default: runs/local-<time>).")
    Path runDir;

    @Option(names = "--dashboard-port", defaultValue = "0", description = "Serve a live dashboard of every process's "
            + "metrics on this port of 127.0.0.1; 0: off (default: ${DEFAULT-VALUE}).")
    int dashboardPort;

    @Option(names = "--progress", defaultValue = "auto", description = "auto (a bar on a terminal, else a line every 10 s), "
            + "bar, plain or none (default: ${DEFAULT-VALUE}).")
    String progress;

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        validate();
        GpuPlacement placement = GpuPlacement.resolve(device, gpus, servers, workers, GpuPlacement.installedCuda());
        DataSource source = DataSource.resolve(training.data, out::println);
        Path dir = RunDirectory.resolve(runDir, "local");
        out.printf("gpups local: %d shard(s), %d worker(s), %s, %s, %s lr %s, batch %d per worker, %d epoch(s), codec %s%n",
                servers, workers, training.model, consistency, training.optimizer, training.lr, training.batch, training.epochs,
                training.codec);
        out.printf("data: %s; logs: %s%n", source.describe(), dir);
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
                            List.of("--worker-timeout", "" + workerTimeoutMillis));
            List<InetSocketAddress> shards = LocalShards.start(children, servers, workers, consistency, placement::shard,
                    shardExtras);
            String serverList = String.join(",", shards.stream().map(a -> "127.0.0.1:" + a.getPort()).toList());
            out.printf("shards listening on %s (%.1f s)%n", serverList, (System.nanoTime() - start) / 1e9);
            view.announce();

            EpochTable table = new EpochTable(workers, training.epochs, view.lines());
            List<ChildProcesses.Child> started = new ArrayList<>();
            long trainStart = System.nanoTime();
            for (int r = 0; r < workers; r++) {
                List<String> args = new ArrayList<>(List.of("worker", "--servers", serverList, "--rank", "" + r,
                        "--workers", "" + workers, "--device", placement.worker(r)));
                args.addAll(training.asArgs());
                args.addAll(security.asArgs());
                args.addAll(view.workerArgs(r));
                int rank = r;
                started.add(children.start("worker-" + r, List.of("-Xmx2g", "-Dgpups.blas.threads=1"), args, line -> {
                    if (line.startsWith(WorkerCommand.EPOCH)) {
                        table.add(rank, line.substring(WorkerCommand.EPOCH.length()));
                    } else if (line.startsWith(TrainingProgress.PREFIX)) {
                        view.progress(rank, line.substring(TrainingProgress.PREFIX.length()));
                    }
                }));
            }
            ChaosReport chaosReport = new ChaosReport();
            chaosShards = shards;
            if (chaos != null) {
                ChaosPlan plan = ChaosPlan.parse(chaos, servers);
                Thread monkey = new Thread(() -> killAndRestore(children, plan, shards, placement, shardExtras, chaosReport),
                        "gpups-chaos");
                monkey.setDaemon(true);
                monkey.start();
            }
            ChildProcesses.Child failed = awaitWorkers(started);
            double trainSeconds = (System.nanoTime() - trainStart) / 1e9;
            view.endProgress();
            if (failed != null) {
                out.printf("%s failed (exit code %d); stopping every process. Its log %s ends with:%n%s%n", failed.name(),
                        failed.exit().join(), failed.log(), ChildProcesses.tail(failed, 20));
                return 1;
            }
            List<String> stats = shardStats(shards);
            ObjectNode summary = table.summary(trainSeconds);
            summary.put("servers", servers);
            summary.put("workers", workers);
            summary.put("model", training.model);
            summary.put("consistency", consistency);
            if (chaos != null) {
                summary.put("chaos", chaos);
                summary.put("chaos_restart_seconds", chaosReport.restartSeconds);
                if (chaosReport.failure != null) {
                    summary.put("chaos_failure", chaosReport.failure);
                }
            }
            summary.put("codec", training.codec);
            summary.put("pull_dtype", training.pullDtype);
            summary.put("optimizer", training.optimizer);
            summary.put("lr", training.lr);
            summary.put("batch", training.batch);
            summary.put("data", source.describe());
            ArrayNode shardNodes = summary.putArray("shards");
            for (String s : stats) {
                shardNodes.add(JSON.readTree(s));
            }
            printSummary(summary, stats);
            if (json != null) {
                Path parent = json.toAbsolutePath().getParent();
                if (parent != null) {
                    Files.createDirectories(parent);
                }
                JSON.writerWithDefaultPrettyPrinter().writeValue(json.toFile(), summary);
                out.println("summary written to " + json);
            }
        }
        return 0;
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /**
     * kill-shard:I@S kills shard I S seconds after training starts; kill-shard:I@Nsteps once the shard has applied
     * N steps (its updates over its chunks, from STATS).
     */
    record ChaosPlan(int shard, double afterSeconds, long afterSteps) {
        static ChaosPlan parse(String text, int servers) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("kill-shard:(\\d+)@(\\d+(?:\\.\\d+)?)(steps)?")
                    .matcher(text.trim());
            if (!m.matches() || (m.group(3) != null && m.group(2).contains("."))) {
                throw new IllegalArgumentException("--chaos '" + text + "': expected kill-shard:I@SECONDS or kill-shard:I@Nsteps");
            }
            int shard = Integer.parseInt(m.group(1));
            if (shard >= servers) {
                throw new IllegalArgumentException("--chaos '" + text + "': shard " + shard + " out of range 0.." + (servers - 1));
            }
            return m.group(3) != null ? new ChaosPlan(shard, 0, Long.parseLong(m.group(2)))
                    : new ChaosPlan(shard, Double.parseDouble(m.group(2)), 0);
        }
    }

    /** Waits until the shard has applied {@code steps} steps, asking its STATS every 100 ms. */
    private void awaitSteps(int index, long steps) throws Exception {
        io.gpups.core.protocol.TlsFiles tls = security.tls();
        PsClient.Options options = PsClient.Options.defaults().secured(security.auth(), tls == null ? null : tls.clientContext());
        try (PsClient admin = PsClient.connect(chaosShards, -1, options)) {
            while (true) {
                JsonNode n = JSON.readTree(admin.stats().get(30, TimeUnit.SECONDS).get(index));
                long chunks = Math.max(1, n.path("chunks").asLong());
                if (n.path("chunks").asLong() > 0 && n.path("updates").asLong() / chunks >= steps) {
                    return;
                }
                Thread.sleep(100);
            }
        }
    }

    /** The job's shard addresses, for the chaos thread. */
    private volatile List<InetSocketAddress> chaosShards;

    /** What the chaos thread did, for the summary. */
    static final class ChaosReport {
        volatile double restartSeconds = Double.NaN;
        volatile String failure;
    }

    /** Kills one shard with SIGKILL and restarts it on its port from the newest complete checkpoint. */
    private void killAndRestore(ChildProcesses children, ChaosPlan plan, List<InetSocketAddress> shards,
                                GpuPlacement placement, java.util.function.IntFunction<List<String>> shardExtras,
                                ChaosReport report) {
        try {
            if (plan.afterSteps() > 0) {
                awaitSteps(plan.shard(), plan.afterSteps());
            } else {
                Thread.sleep((long) (plan.afterSeconds() * 1000));
            }
            ChildProcesses.Child victim = children.child("server-" + plan.shard());
            out.printf("chaos: killing shard %d (SIGKILL)%n", plan.shard());
            long killed = System.nanoTime();
            victim.process().destroyForcibly();
            victim.process().waitFor();
            List<String> args = LocalShards.shardArgs(plan.shard(), shards.get(plan.shard()).getPort(), servers, workers,
                    consistency, placement.shard(plan.shard()),
                    concat(shardExtras.apply(plan.shard()), List.of("--restore", checkpoints.directory.toAbsolutePath().toString())));
            CompletableFuture<Integer> port = new CompletableFuture<>();
            ChildProcesses.Child restarted = LocalShards.startShard(children, "server-" + plan.shard() + "-restarted", args, port);
            restarted.exit().thenAccept(code -> port.completeExceptionally(new CliException("the restarted shard exited with code "
                    + code + "; its log " + restarted.log() + " ends with:\n" + ChildProcesses.tail(restarted, 10))));
            port.get(120, TimeUnit.SECONDS);
            report.restartSeconds = (System.nanoTime() - killed) / 1e9;
            out.printf("chaos: shard %d restarted from its checkpoint, listening again %.1f s after the kill%n",
                    plan.shard(), report.restartSeconds);
        } catch (Exception e) {
            report.failure = e.toString();
            out.println("chaos: restarting the shard failed: " + e);
        }
    }

    private void validate() {
        if (chaos != null) {
            ChaosPlan.parse(chaos, servers);
            if (checkpoints.directory == null || checkpoints.restore != null) {
                throw new IllegalArgumentException("--chaos restarts the shard from --checkpoint-dir: give --checkpoint-dir "
                        + "(with --checkpoint-every) and no --restore");
            }
        }
        if (servers < 1 || servers > 64) {
            throw new IllegalArgumentException("--servers must be 1..64, got " + servers);
        }
        if (workers < 1 || workers > 64) {
            throw new IllegalArgumentException("--workers must be 1..64, got " + workers);
        }
        Consistency.parse(consistency);
        io.gpups.worker.train.TrainerConfig.of(training.model, training.batch, training.epochs, training.optimizer,
                training.lr, 0, workers, new DataSource.IdxDirectory(Path.of(".")), training.seed);
        training.compression();
        training.pullDtype();
    }

    /** Waits for every worker; returns the first that failed, or null. */
    private static ChildProcesses.Child awaitWorkers(List<ChildProcesses.Child> workers) throws Exception {
        List<CompletableFuture<Integer>> exits = workers.stream().map(ChildProcesses.Child::exit).toList();
        while (true) {
            boolean allDone = true;
            for (ChildProcesses.Child w : workers) {
                if (!w.exit().isDone()) {
                    allDone = false;
                } else if (w.exit().join() != 0) {
                    return w;
                }
            }
            if (allDone) {
                return null;
            }
            CompletableFuture.anyOf(exits.stream().filter(f -> !f.isDone()).toArray(CompletableFuture[]::new))
                    .get(1, TimeUnit.DAYS);
        }
    }

    private List<String> shardStats(List<InetSocketAddress> shards) {
        io.gpups.core.protocol.TlsFiles tls = security.tls();
        PsClient.Options options = PsClient.Options.defaults().secured(security.auth(), tls == null ? null : tls.clientContext());
        try (PsClient admin = PsClient.connect(shards, -1, options)) {
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
        private final ArrayNode printed = JSON.createArrayNode();

        EpochTable(int workers, int epochs, PrintStream out) {
            this.workers = workers;
            this.epochs = epochs;
            this.out = out;
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
            Map<Integer, JsonNode> byRank = byEpoch.computeIfAbsent(epoch, e -> new TreeMap<>());
            boolean complete = byRank.size() == workers;
            byRank.put(rank, n);
            List<JsonNode> reports = new ArrayList<>(byRank.values());
            if (!complete && reports.size() == workers) {
                double loss = reports.stream().mapToDouble(r -> r.path("loss").asDouble()).average().orElse(Double.NaN);
                double rate = reports.stream().mapToDouble(r -> r.path("samples_per_second").asDouble()).sum();
                double accuracy = reports.stream().filter(r -> r.hasNonNull("test_accuracy"))
                        .mapToDouble(r -> r.path("test_accuracy").asDouble()).findFirst().orElse(Double.NaN);
                double seconds = reports.stream().mapToDouble(r -> r.path("seconds").asDouble()).max().orElse(0);
                long pushes = reports.stream().mapToLong(r -> r.path("pushes").asLong()).sum();
                long bytes = reports.stream().mapToLong(r -> r.path("bytes_pushed").asLong()).sum();
                long raw = reports.stream().mapToLong(r -> r.path("bytes_pushed_raw").asLong()).sum();
                out.printf("epoch %2d/%d  loss %.4f  test accuracy %.4f  %,.0f samples/s  %.1f s%n",
                        epoch + 1, epochs, loss, accuracy, rate, seconds);
                ObjectNode row = printed.addObject();
                row.put("epoch", epoch + 1);
                row.put("loss", loss);
                row.put("test_accuracy", accuracy);
                row.put("samples_per_second", rate);
                row.put("seconds", seconds);
                row.put("pushes", pushes);
                row.put("bytes_pushed", bytes);
                row.put("bytes_pushed_raw", raw);
            }
        }

        synchronized ObjectNode summary(double trainSeconds) {
            ObjectNode s = JSON.createObjectNode();
            JsonNode last = printed.isEmpty() ? JSON.createObjectNode() : printed.get(printed.size() - 1);
            s.put("test_accuracy", last.path("test_accuracy").asDouble(Double.NaN));
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
