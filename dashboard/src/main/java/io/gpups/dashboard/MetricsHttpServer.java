package io.gpups.dashboard;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The HTTP side of a process's observability, on its own port:
 * <pre>
 * GET /metrics       Prometheus text format of the process's registry (when it has one)
 * GET /              the dashboard page (when there is a collector)
 * GET /dashboard.js  the page's script, /dashboard.css its style (from the jar)
 * GET /api/series    the collector's state as JSON, what the page draws
 * </pre>
 * Built on the JDK's {@code com.sun.net.httpserver}: no dependency, a few dozen lines, and its one thread
 * is apart from the shard's Netty event loops, so a slow scrape or a browser never delays a push. The
 * traffic is a scrape every few seconds and a page polling once a second, far below what it needs to be
 * fast at. It binds 127.0.0.1 unless told otherwise; with a token, every request must carry
 * {@code Authorization: Bearer TOKEN} (compared in constant time) or is answered 401. Bind it elsewhere
 * only with a token, or where only trusted scrapers reach it.
 */
public final class MetricsHttpServer implements AutoCloseable {

    private static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

    private final HttpServer http;
    private final ExecutorService executor;
    private final PrometheusMeterRegistry registry;
    private final MetricsCollector collector;
    /** "Bearer TOKEN" as bytes, or null for no check. */
    private final byte[] expectedAuthorization;

    private MetricsHttpServer(String host, int port, PrometheusMeterRegistry registry, MetricsCollector collector,
                              String token) throws IOException {
        this.registry = registry;
        this.collector = collector;
        this.expectedAuthorization = token == null ? null : ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
        this.http = HttpServer.create(new InetSocketAddress(host, port), 16);
        this.executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "gpups-metrics-http");
            t.setDaemon(true);
            return t;
        });
        http.setExecutor(executor);
        http.createContext("/", this::handle);
        http.start();
    }

    /**
     * Serves {@code registry} (may be null) and, with a {@code collector} (may be null), the dashboard, on
     * {@code host:port} (port 0 picks a free one). The collector starts polling at the first page request.
     */
    public static MetricsHttpServer start(String host, int port, PrometheusMeterRegistry registry,
                                          MetricsCollector collector) throws IOException {
        return new MetricsHttpServer(host, port, registry, collector, null);
    }

    /** As above; with a {@code token} (null: none), a request without {@code Authorization: Bearer TOKEN} gets 401. */
    public static MetricsHttpServer start(String host, int port, PrometheusMeterRegistry registry,
                                          MetricsCollector collector, String token) throws IOException {
        return new MetricsHttpServer(host, port, registry, collector, token);
    }

    public int port() {
        return http.getAddress().getPort();
    }

    /** The address it listens on. */
    public InetSocketAddress address() {
        return http.getAddress();
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            if (!authorized(ex)) {
                ex.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"gpups\"");
                send(ex, 401, "text/plain; charset=utf-8", "this endpoint needs 'Authorization: Bearer TOKEN' "
                        + "(the process's --metrics-token-file)\n");
                return;
            }
            if (!ex.getRequestMethod().equals("GET") && !ex.getRequestMethod().equals("HEAD")) {
                send(ex, 405, "text/plain; charset=utf-8", "only GET\n");
                return;
            }
            String path = ex.getRequestURI().getPath();
            switch (path) {
                case "/metrics" -> {
                    if (registry == null) {
                        send(ex, 404, "text/plain; charset=utf-8", "this process has no metrics registry\n");
                    } else {
                        send(ex, 200, PROMETHEUS_TEXT, registry.scrape());
                    }
                }
                case "/", "/index.html" -> dashboard(ex, "index.html", "text/html; charset=utf-8");
                case "/dashboard.js" -> dashboard(ex, "dashboard.js", "text/javascript; charset=utf-8");
                case "/dashboard.css" -> dashboard(ex, "dashboard.css", "text/css; charset=utf-8");
                case "/api/series" -> {
                    if (collector == null) {
                        send(ex, 404, "text/plain; charset=utf-8", "no dashboard here\n");
                    } else {
                        collector.start();
                        send(ex, 200, "application/json", collector.json());
                    }
                }
                default -> send(ex, 404, "text/plain; charset=utf-8", "not found: " + path
                        + " (try /metrics" + (collector != null ? " or /" : "") + ")\n");
            }
        } catch (RuntimeException e) {
            // The exchange is closed; the server keeps serving.
        }
    }

    private boolean authorized(HttpExchange ex) {
        if (expectedAuthorization == null) {
            return true;
        }
        String given = ex.getRequestHeaders().getFirst("Authorization");
        return given != null && java.security.MessageDigest.isEqual(expectedAuthorization, given.getBytes(StandardCharsets.UTF_8));
    }

    private void dashboard(HttpExchange ex, String resource, String type) throws IOException {
        if (collector == null) {
            send(ex, 404, "text/plain; charset=utf-8", "no dashboard here; metrics are at /metrics\n");
            return;
        }
        collector.start();
        try (InputStream in = MetricsHttpServer.class.getResourceAsStream("/gpups/dashboard/" + resource)) {
            if (in == null) {
                send(ex, 500, "text/plain; charset=utf-8", "resource /gpups/dashboard/" + resource + " missing from the jar\n");
                return;
            }
            send(ex, 200, type, new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        boolean head = ex.getRequestMethod().equals("HEAD");
        ex.sendResponseHeaders(status, head ? -1 : bytes.length);
        if (!head) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    @Override
    public void close() {
        http.stop(0);
        executor.shutdownNow();
        if (collector != null) {
            collector.close();
        }
    }
}
