package io.gpups.cli;

import io.gpups.dashboard.MetricsEndpoint;
import io.gpups.server.ShardSecurity;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What a shard and its metrics port expose by default, and the flags that open them up. */
class ExposureTest {

    @TempDir
    Path dir;

    private static ServerCommand server(String... extra) {
        ServerCommand cmd = new ServerCommand();
        String[] base = {"--port", "7000", "--shard", "0", "--shards", "1", "--workers", "1"};
        String[] args = new String[base.length + extra.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        new CommandLine(cmd).parseArgs(args);
        return cmd;
    }

    @Test
    void aShardListensOnLoopbackAndTakesAdminRequestsFromLoopbackUnlessToldOtherwise() {
        ServerCommand defaults = server();
        assertEquals("127.0.0.1", defaults.bind);
        assertEquals("127.0.0.1", defaults.metrics.bind);
        assertFalse(defaults.allowRemoteAdmin);
        assertEquals(ShardSecurity.DEFAULT_HELLO_TIMEOUT_MILLIS, defaults.helloTimeoutMillis);
        assertEquals(ShardSecurity.DEFAULT_IDLE_TIMEOUT_MILLIS, defaults.idleTimeoutMillis);

        ServerCommand open = server("--bind", "0.0.0.0", "--metrics-bind", "0.0.0.0", "--allow-remote-admin",
                "--hello-timeout", "2000", "--idle-timeout", "0");
        assertEquals("0.0.0.0", open.bind);
        assertEquals("0.0.0.0", open.metrics.bind);
        assertTrue(open.allowRemoteAdmin);
        assertEquals(2000, open.helloTimeoutMillis);
        assertEquals(0, open.idleTimeoutMillis);
    }

    @Test
    void aNegativeTimeoutIsAnErrorNamingTheFlag() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> server("--hello-timeout", "-1").call());
        assertTrue(e.getMessage().contains("--hello-timeout must be 0 (none) or more milliseconds, got -1"), e.getMessage());
        WorkerCommand w = new WorkerCommand();
        new CommandLine(w).parseArgs("--servers", "127.0.0.1:7000", "--rank", "0", "--workers", "1", "--connect-timeout", "-5");
        e = assertThrows(IllegalArgumentException.class, w::call);
        assertTrue(e.getMessage().contains("--connect-timeout must be 0 (one try) or more milliseconds, got -5"), e.getMessage());
    }

    private static MetricsEndpoint metrics(String... args) throws Exception {
        MetricsOptions options = new MetricsOptions();
        new CommandLine(options).parseArgs(args);
        return options.open("server", 0);
    }

    private static int get(int port, String path, String authorization) throws Exception {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path));
        if (authorization != null) {
            r.header("Authorization", authorization);
        }
        return HttpClient.newHttpClient().send(r.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    @Test
    void metricsListenOnLoopbackByDefault() throws Exception {
        try (MetricsEndpoint m = metrics("--metrics-port", Integer.toString(freePort()))) {
            assertTrue(m.http().address().getAddress().isLoopbackAddress(), m.http().address().toString());
            assertEquals(200, get(m.port(), "/metrics", null));
        }
    }

    @Test
    void aMetricsTokenFileMakesEveryEndpointAskForTheBearerToken() throws Exception {
        Path token = Files.writeString(dir.resolve("metrics.token"), "  s3cret-metrics-token-0123\n");
        try (MetricsEndpoint m = metrics("--metrics-port", Integer.toString(freePort()), "--metrics-token-file",
                token.toString())) {
            for (String path : new String[] {"/metrics", "/", "/api/series"}) {
                assertEquals(401, get(m.port(), path, null), path + " without a token");
                assertEquals(401, get(m.port(), path, "Bearer not-the-token-at-all"), path + " with a wrong token");
            }
            assertEquals(200, get(m.port(), "/metrics", "Bearer s3cret-metrics-token-0123"));
            assertEquals(200, get(m.port(), "/api/series", "Bearer s3cret-metrics-token-0123"));
        }
    }

    @Test
    void aShortMetricsTokenIsAnError() throws Exception {
        Path token = Files.writeString(dir.resolve("short.token"), "short");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> metrics("--metrics-port", "9999", "--metrics-token-file", token.toString()));
        assertTrue(e.getMessage().contains("at least 16 characters, got 5"), e.getMessage());
    }

    private static int freePort() throws Exception {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
