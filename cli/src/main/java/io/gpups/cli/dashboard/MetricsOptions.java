package io.gpups.cli.dashboard;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

/** {@code --metrics-port} and {@code --metrics-bind}, shared by {@code server} and {@code worker}. */
public final class MetricsOptions {

    private static final Logger log = LoggerFactory.getLogger(MetricsOptions.class);

    @Option(names = "--metrics-port", defaultValue = "0",
            description = "Serve GET /metrics (Prometheus text) and the process's dashboard page on this port; 0: off "
                    + "(default: ${DEFAULT-VALUE}).")
    public int port;

    @Option(names = "--metrics-bind", description = "Address the metrics port listens on (default: the server's --bind; "
            + "0.0.0.0 for a worker).")
    public String bind;

    /** A process's registry and its HTTP endpoint. */
    public record Endpoint(ProcessMetrics metrics, MetricsHttpServer http) implements AutoCloseable {
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

    /**
     * With a port: a registry tagged {@code role} (and {@code shard} or {@code rank} = {@code index}) served on
     * {@code --metrics-bind} (else {@code defaultBind}), with the process's own dashboard at {@code /}.
     * Without a port: null.
     */
    public Endpoint open(String role, int index, String defaultBind) throws IOException {
        if (port == 0) {
            return null;
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--metrics-port must be 0..65535, got " + port);
        }
        String indexTag = role.equals("server") ? "shard" : "rank";
        ProcessMetrics metrics = new ProcessMetrics("role", role, indexTag, Integer.toString(index));
        String name = role + "-" + index;
        MetricsCollector self = new MetricsCollector(List.of(new MetricsCollector.Target(name, role, "this process",
                () -> metrics.registry().scrape())), Duration.ofSeconds(1), 1800);
        String host = bind != null ? bind : defaultBind;
        try {
            MetricsHttpServer http = MetricsHttpServer.start(host, port, metrics.registry(), self);
            log.info("metrics on http://{}:{}/metrics, dashboard on http://{}:{}/", host, http.port(), host, http.port());
            return new Endpoint(metrics, http);
        } catch (IOException e) {
            metrics.close();
            throw new IOException("--metrics-port " + port + " on " + host + ": " + e.getMessage(), e);
        }
    }

    /** The same flags as arguments for a child process. */
    public static List<String> asArgs(int port, String bind) {
        return List.of("--metrics-port", Integer.toString(port), "--metrics-bind", bind);
    }
}
