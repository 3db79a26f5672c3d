package io.gpups.cli;

import io.gpups.dashboard.MetricsEndpoint;
import io.gpups.dashboard.MetricsToken;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** {@code --metrics-port}, {@code --metrics-bind} and {@code --metrics-token-file}, shared by {@code server} and {@code worker}. */
final class MetricsOptions {

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
    public Path tokenFile;

    /**
     * With a port: a registry tagged {@code role} (and {@code shard} or {@code rank} = {@code index}) served on
     * {@code --metrics-bind}, with the process's own dashboard at {@code /}, behind the bearer token of
     * {@code --metrics-token-file} when one is given. Without a port: null.
     */
    public MetricsEndpoint open(String role, int index) throws IOException {
        if (port == 0) {
            return null;
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--metrics-port must be 0..65535, got " + port);
        }
        String token = tokenFile == null ? null : MetricsToken.read(tokenFile);
        return MetricsEndpoint.open(role, index, bind, port, token);
    }

    /** The same flags as arguments for a child process. */
    public static List<String> asArgs(int port, String bind) {
        return List.of("--metrics-port", Integer.toString(port), "--metrics-bind", bind);
    }

    /** As above, with a bearer token file (null: none). */
    public static List<String> asArgs(int port, String bind, Path tokenFile) {
        if (tokenFile == null) {
            return asArgs(port, bind);
        }
        return List.of("--metrics-port", Integer.toString(port), "--metrics-bind", bind,
                "--metrics-token-file", tokenFile.toAbsolutePath().toString());
    }
}
