package io.gpups.cli;

import io.gpups.dashboard.JobDashboard;
import io.gpups.dashboard.MetricsHttpServer;
import io.gpups.dashboard.MetricsToken;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code gpups dashboard}: scrapes every shard's and worker's {@code /metrics} and serves the dashboard page
 * ({@code /}) and its data ({@code /api/series}) for the whole job, until stopped.
 */
@Command(name = "dashboard", mixinStandardHelpOptions = true,
        description = "Serve a live dashboard for a job, gathered from every process's /metrics.")
final class DashboardCommand implements Callable<Integer> {

    @Option(names = "--servers", required = true, split = ",",
            description = "Shards' metrics addresses HOST:PORT (their --metrics-port), in shard order.")
    List<String> servers;

    @Option(names = "--workers", split = ",", description = "Workers' metrics addresses HOST:PORT, in rank order.")
    List<String> workers = new ArrayList<>();

    @Option(names = "--port", defaultValue = "8080", description = "Port of the dashboard page (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--bind", defaultValue = "127.0.0.1", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String bind;

    @Option(names = "--metrics-token-file", description = "Bearer token the processes' metrics ports require (their "
            + "--metrics-token-file), sent with every scrape.")
    Path tokenFile;

    @Option(names = "--interval-ms", defaultValue = "1000", description = "How often every process is scraped (default: ${DEFAULT-VALUE}).")
    long intervalMillis;

    @Override
    public Integer call() throws Exception {
        if (intervalMillis < 50) {
            throw new IllegalArgumentException("--interval-ms must be >= 50, got " + intervalMillis);
        }
        String token = tokenFile == null ? null : MetricsToken.read(tokenFile);
        try (MetricsHttpServer http = JobDashboard.start(bind, port, JobDashboard.targets(servers, workers, token),
                Duration.ofMillis(intervalMillis))) {
            System.out.printf("dashboard on http://%s:%d/ (%d shard(s), %d worker(s)); Ctrl-C stops it%n", bind, http.port(),
                    servers.size(), workers.size());
            CountDownLatch stop = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown, "gpups-dashboard-stop"));
            stop.await();
        }
        return 0;
    }
}
