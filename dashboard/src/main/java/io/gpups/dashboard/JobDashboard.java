package io.gpups.dashboard;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The dashboard of a whole job: a {@link MetricsCollector} scraping every shard's and worker's {@code /metrics},
 * served by a {@link MetricsHttpServer} as the page ({@code /}) and its data ({@code /api/series}).
 */
public final class JobDashboard {

    private JobDashboard() {
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
            throws IOException {
        MetricsCollector collector = new MetricsCollector(targets, interval, 3600).start();
        try {
            return MetricsHttpServer.start(bind, port, null, collector);
        } catch (IOException e) {
            collector.close();
            throw new IOException("dashboard port " + port + " on " + bind + ": " + e.getMessage(), e);
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
