package io.gpups.dashboard;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

/** A process's registry and the HTTP endpoint that serves it, with the process's own dashboard at {@code /}. */
public record MetricsEndpoint(ProcessMetrics metrics, MetricsHttpServer http) implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(MetricsEndpoint.class);

    /**
     * A registry tagged {@code role} (and {@code shard} or {@code rank} = {@code index}) served on {@code host:port},
     * behind the bearer {@code token} when one is given (null: none).
     */
    public static MetricsEndpoint open(String role, int index, String host, int port, String token) throws IOException {
        String indexTag = role.equals("server") ? "shard" : "rank";
        ProcessMetrics metrics = new ProcessMetrics("role", role, indexTag, Integer.toString(index));
        String name = role + "-" + index;
        MetricsCollector self = new MetricsCollector(List.of(new MetricsCollector.Target(name, role, "this process",
                () -> metrics.registry().scrape())), Duration.ofSeconds(1), 1800);
        try {
            MetricsHttpServer http = MetricsHttpServer.start(host, port, metrics.registry(), self, token);
            log.info("metrics on http://{}:{}/metrics, dashboard on http://{}:{}/{}", host, http.port(), host, http.port(),
                    token == null ? "" : " (bearer token required)");
            return new MetricsEndpoint(metrics, http);
        } catch (IOException e) {
            metrics.close();
            throw new IOException("--metrics-port " + port + " on " + host + ": " + e.getMessage(), e);
        }
    }

    public PrometheusMeterRegistry registry() {
        return metrics.registry();
    }

    public int port() {
        return http.port();
    }

    @Override
    public void close() {
        http.close();
        metrics.close();
    }
}
