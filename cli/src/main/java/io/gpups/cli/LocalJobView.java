package io.gpups.cli;

import io.gpups.cli.progress.LocalProgress;
import io.gpups.cli.progress.ProgressMode;
import io.gpups.dashboard.JobDashboard;
import io.gpups.dashboard.MetricsHttpServer;

import java.io.IOException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * What {@code gpups local} shows of its job besides the epoch lines: each child's metrics port (picked
 * free here and printed), the optional in-process dashboard over all of them, and the workers' progress
 * bar. Closing it stops the dashboard and clears the bar.
 */
final class LocalJobView implements AutoCloseable {

    private static final String HOST = "127.0.0.1";

    private final int servers;
    private final int workers;
    private final int dashboardPort;
    private final List<Integer> metricsPorts;
    private final LocalProgress progress;
    private MetricsHttpServer dashboard;

    public LocalJobView(int servers, int workers, int dashboardPort, ProgressMode progress, PrintStream out)
            throws IOException {
        if (dashboardPort < 0 || dashboardPort > 65535) {
            throw new IllegalArgumentException("--dashboard-port must be 0..65535, got " + dashboardPort);
        }
        this.servers = servers;
        this.workers = workers;
        this.dashboardPort = dashboardPort;
        this.metricsPorts = FreePorts.pick(servers + workers);
        this.progress = new LocalProgress(workers, progress, out);
    }

    /** Extra arguments of shard {@code s}: its metrics port. */
    public List<String> shardArgs(int s) {
        return MetricsOptions.asArgs(metricsPorts.get(s), HOST);
    }

    /** Extra arguments of worker {@code r}: its metrics port, and progress as JSON lines for {@link #progress}. */
    public List<String> workerArgs(int r) {
        List<String> args = new ArrayList<>(MetricsOptions.asArgs(metricsPorts.get(servers + r), HOST));
        args.addAll(List.of("--progress", "json"));
        return args;
    }

    /** Prints where every process's metrics are and starts the dashboard, if asked for. */
    public void announce() throws IOException {
        PrintStream out = progress.lines();
        List<String> shards = new ArrayList<>();
        List<String> ranks = new ArrayList<>();
        for (int s = 0; s < servers; s++) {
            shards.add(HOST + ":" + metricsPorts.get(s));
        }
        for (int r = 0; r < workers; r++) {
            ranks.add(HOST + ":" + metricsPorts.get(servers + r));
        }
        List<String> listed = new ArrayList<>();
        for (int i = 0; i < shards.size(); i++) {
            listed.add("server-" + i + " http://" + shards.get(i) + "/metrics");
        }
        for (int i = 0; i < ranks.size(); i++) {
            listed.add("worker-" + i + " http://" + ranks.get(i) + "/metrics");
        }
        out.println("metrics: " + String.join(", ", listed));
        if (dashboardPort > 0) {
            dashboard = JobDashboard.start(HOST, dashboardPort, JobDashboard.targets(shards, ranks), Duration.ofSeconds(1));
            out.println("dashboard: http://" + HOST + ":" + dashboard.port() + "/");
        }
    }

    /** Where lines go while a progress bar may be on screen. */
    public PrintStream lines() {
        return progress.lines();
    }

    /** A worker's {@code gpups-progress} line (the JSON after the prefix). */
    public void progress(int rank, String json) {
        progress.add(rank, json);
    }

    /** Training is over: clear the bar before the summary. */
    public void endProgress() {
        progress.close();
    }

    @Override
    public void close() {
        progress.close();
        if (dashboard != null) {
            dashboard.close();
        }
    }
}
