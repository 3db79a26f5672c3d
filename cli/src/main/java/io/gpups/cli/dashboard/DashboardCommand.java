package io.gpups.cli.dashboard;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

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
public final class DashboardCommand implements Callable<Integer> {

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
    java.nio.file.Path tokenFile;

    @Option(names = "--interval-ms", defaultValue = "1000", description = "How often every process is scraped (default: ${DEFAULT-VALUE}).")
    long intervalMillis;

    @Override
    public Integer call() throws Exception {
        if (intervalMillis < 50) {
            throw new IllegalArgumentException("--interval-ms must be >= 50, got " + intervalMillis);
        }
        String token = tokenFile == null ? null : MetricsToken.read(tokenFile);
        try (MetricsHttpServer http = start(bind, port, targets(servers, workers, token), Duration.ofMillis(intervalMillis))) {
            System.out.printf("dashboard on http://%s:%d/ (%d shard(s), %d worker(s)); Ctrl-C stops it%n", bind, http.port(),
                    servers.size(), workers.size());
            CountDownLatch stop = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown, "gpups-dashboard-stop"));
            stop.await();
        }
        return 0;
    }

    /** Targets named server-0.., worker-0.. from metrics addresses. */
    public static List<MetricsCollector.Target> targets(List<String> servers, List<String> workers) {
        return targets(servers, workers, null);
    }

    /** As above, scraping with a bearer {@code token} (null: none). */
    public static List<MetricsCollector.Target> targets(List<String> servers, List<String> workers, String token) {
        List<MetricsCollector.Target> out = new ArrayList<>();
        for (int i = 0; i < servers.size(); i++) {
            out.add(MetricsCollector.Target.http("server-" + i, "server", check(servers.get(i)), token));
        }
        for (int i = 0; i < workers.size(); i++) {
            out.add(MetricsCollector.Target.http("worker-" + i, "worker", check(workers.get(i)), token));
        }
        return out;
    }

    /** A dashboard for {@code targets}, polling at once and every {@code interval}. */
    public static MetricsHttpServer start(String bind, int port, List<MetricsCollector.Target> targets, Duration interval)
            throws java.io.IOException {
        MetricsCollector collector = new MetricsCollector(targets, interval, 3600).start();
        try {
            return MetricsHttpServer.start(bind, port, null, collector);
        } catch (java.io.IOException e) {
            collector.close();
            throw new java.io.IOException("dashboard port " + port + " on " + bind + ": " + e.getMessage(), e);
        }
    }

    private static String check(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        int p = -1;
        try {
            p = colon > 0 ? Integer.parseInt(hostPort.substring(colon + 1)) : -1;
        } catch (NumberFormatException ignored) {
            // reported below
        }
        if (p <= 0 || p > 65535) {
            throw new IllegalArgumentException("metrics address '" + hostPort + "': expected HOST:PORT with a port 1..65535");
        }
        return hostPort;
    }
}
