package io.gpups.cli.dashboard;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

/** {@code --metrics-port}, {@code --metrics-bind} and {@code --metrics-token-file}, shared by {@code server} and {@code worker}. */
public final class MetricsOptions {

    private static final Logger log = LoggerFactory.getLogger(MetricsOptions.class);

    @Option(names = "--metrics-port", defaultValue = "0",
            description = "Serve GET /metrics (Prometheus text) and the process's dashboard page on this port; 0: off "
                    + "(default: ${DEFAULT-VALUE}).")
    public int port;

    /** Where metrics listen unless {@code --metrics-bind} says otherwise: this host only. */
    public static final String DEFAULT_BIND = "127.0.0.1";

    @Option(names = "--metrics-bind", defaultValue = DEFAULT_BIND, description = "Address the metrics port listens on "
            + "(default: ${DEFAULT-VALUE}, this host only; 0.0.0.0 for a scraper on another host, then with "
            + "--metrics-token-file).")
    public String bind = DEFAULT_BIND;

    @Option(names = "--metrics-token-file", description = "File holding a bearer token (its text, surrounding "
            + "whitespace stripped, at least 16 bytes): every request to the metrics port must carry "
            + "'Authorization: Bearer TOKEN', else 401.")
    public java.nio.file.Path tokenFile;

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
     * {@code --metrics-bind}, with the process's own dashboard at {@code /}, behind the bearer token of
     * {@code --metrics-token-file} when one is given. Without a port: null.
     */
    public Endpoint open(String role, int index) throws IOException {
        if (port == 0) {
            return null;
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--metrics-port must be 0..65535, got " + port);
        }
        String token = tokenFile == null ? null : MetricsToken.read(tokenFile);
        String indexTag = role.equals("server") ? "shard" : "rank";
        ProcessMetrics metrics = new ProcessMetrics("role", role, indexTag, Integer.toString(index));
        String name = role + "-" + index;
        MetricsCollector self = new MetricsCollector(List.of(new MetricsCollector.Target(name, role, "this process",
                () -> metrics.registry().scrape())), Duration.ofSeconds(1), 1800);
        String host = bind;
        try {
            MetricsHttpServer http = MetricsHttpServer.start(host, port, metrics.registry(), self, token);
            log.info("metrics on http://{}:{}/metrics, dashboard on http://{}:{}/{}", host, http.port(), host, http.port(),
                    token == null ? "" : " (bearer token required)");
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

    /** As above, with a bearer token file (null: none). */
    public static List<String> asArgs(int port, String bind, java.nio.file.Path tokenFile) {
        if (tokenFile == null) {
            return asArgs(port, bind);
        }
        return List.of("--metrics-port", Integer.toString(port), "--metrics-bind", bind,
                "--metrics-token-file", tokenFile.toAbsolutePath().toString());
    }
}
