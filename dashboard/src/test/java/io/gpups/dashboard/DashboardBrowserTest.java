package io.gpups.dashboard;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardSecurity;
import io.gpups.server.ShardServer;
import io.gpups.worker.client.PsClient;
import io.gpups.worker.compress.CodecPolicy;
import io.gpups.worker.data.DataSource;
import io.gpups.worker.data.SyntheticClassification;
import io.gpups.worker.data.TrainTestSplit;
import io.gpups.worker.metrics.WorkerMetrics;
import io.gpups.worker.model.ModelSpec;
import io.gpups.worker.train.Trainer;
import io.gpups.worker.train.TrainerConfig;
import io.gpups.core.codec.Codec;
import io.micrometer.core.instrument.Tags;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The dashboard in a real browser: a shard and two workers train in this JVM, each process's registry served
 * on its own metrics port as in production, a dashboard scrapes them over HTTP, and headless Chromium loads
 * the page. Chromium's {@code --dump-dom} (after a virtual-time budget, so the page's fetch and drawing have
 * run) gives the DOM, whose charts carry {@code data-points}; every chart must hold points. A screenshot goes
 * to {@code target/dashboard-test.png}. Skips without /usr/bin/chromium, except under CI where it fails.
 */
class DashboardBrowserTest {

    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final int WORKERS = 2;
    private static final SyntheticClassification DATA = new SyntheticClassification(6000, 1000, 784, 10, 0.1f, 0.35f, 0.1f, 3L);

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    @Test
    void chartsHoldPointsInHeadlessChromium(@TempDir Path profile) throws Exception {
        if (!Files.isExecutable(CHROMIUM)) {
            if (System.getenv("CI") != null) {
                fail(CHROMIUM + " is missing under CI: .ci/run installs Debian's chromium package");
            }
            Assumptions.abort(CHROMIUM + " is missing (apt-get install chromium); the browser test needs it");
        }
        // One shard with its own registry and metrics port.
        ProcessMetrics shardMetrics = keep(new ProcessMetrics("role", "server", "shard", "0"));
        Device shardDevice = keep(cpu());
        ShardServer shard = keep(ShardServer.start(new ShardConfig("127.0.0.1", 0, 0, 1, WORKERS, Consistency.bsp(), 1 << 22),
                shardDevice, ShardSecurity.none(), shardMetrics.registry()));
        MetricsHttpServer shardHttp = keep(MetricsHttpServer.start("127.0.0.1", 0, shardMetrics.registry(), null));
        List<String> workerAddresses = new ArrayList<>();
        List<MetricsHttpServer> workerHttp = new ArrayList<>();
        List<ProcessMetrics> workerMetrics = new ArrayList<>();
        for (int rank = 0; rank < WORKERS; rank++) {
            workerMetrics.add(keep(new ProcessMetrics("role", "worker", "rank", "" + rank)));
            workerHttp.add(keep(MetricsHttpServer.start("127.0.0.1", 0, workerMetrics.get(rank).registry(), null)));
            workerAddresses.add("127.0.0.1:" + workerHttp.get(rank).port());
        }
        // The dashboard scrapes every process over HTTP from before the first step.
        MetricsHttpServer dashboard = keep(JobDashboard.start("127.0.0.1", 0,
                JobDashboard.targets(List.of("127.0.0.1:" + shardHttp.port()), workerAddresses), Duration.ofMillis(100)));

        // Two workers, each with its registry and port; int8 gradients so compression metrics show.
        TrainTestSplit data = DATA.generate();
        List<InetSocketAddress> shards = List.of(new InetSocketAddress("127.0.0.1", shard.port()));
        List<CompletableFuture<?>> runs = new ArrayList<>();
        for (int rank = 0; rank < WORKERS; rank++) {
            ProcessMetrics metrics = workerMetrics.get(rank);
            PsClient client = keep(PsClient.connect(shards, rank, new PsClient.Options(1 << 20, 1 << 22)));
            TrainerConfig config = new TrainerConfig(ModelSpec.parse("mlp:64"), 50, 6, OptimizerSpec.defaults("adam", 0.01f),
                    rank, WORKERS, new DataSource.Synthetic(DATA), 9L, 1000, CodecPolicy.of(Codec.parse("int8"), 0));
            Trainer trainer = new Trainer(config, client, keep(cpu()), data, report -> { })
                    .monitor(new WorkerMetrics(metrics.registry(), Tags.empty(), client));
            runs.add(CompletableFuture.runAsync(trainer::run));
        }
        CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);

        String shardScrape = get("http://127.0.0.1:" + shardHttp.port() + "/metrics");
        for (String name : List.of("gpups_requests_total{", "gpups_push_bytes_total{", "gpups_elements_updated_total",
                "gpups_apply_seconds_bucket", "gpups_pull_staleness_bucket", "gpups_queue_depth", "gpups_device_memory_bytes",
                "gpups_netty_direct_memory_bytes", "jvm_memory_used_bytes")) {
            assertTrue(shardScrape.contains(name), name + " missing from the shard's scrape");
        }
        String workerScrape = get("http://" + workerAddresses.get(0) + "/metrics");
        for (String name : List.of("gpups_train_loss", "gpups_test_accuracy", "gpups_train_samples_total",
                "gpups_compression_ratio{", "gpups_residual_norm{")) {
            assertTrue(workerScrape.contains(name), name + " missing from worker 0's scrape");
        }

        // Give the collector a few polls after training, so every line chart holds several points.
        Thread.sleep(600);
        String url = "http://127.0.0.1:" + dashboard.port() + "/";
        String dom = chromium(profile, "--dump-dom", url);
        Map<String, Integer> points = new TreeMap<>();
        Matcher m = Pattern.compile("data-chart=\"(\\w+)\" data-points=\"(\\d+)\"").matcher(dom);
        while (m.find()) {
            points.put(m.group(1), Integer.parseInt(m.group(2)));
        }
        assertEquals(List.of("accuracy", "load", "loss", "memory", "samples", "staleness", "throughput"),
                List.copyOf(points.keySet()), "charts on the page: " + points);
        points.forEach((chart, n) -> assertTrue(n > 0, "chart " + chart + " holds no points: " + points));
        assertTrue(points.get("throughput") >= 3 && points.get("loss") >= 3, "line charts hold a curve: " + points);
        assertTrue(dom.contains("worker-1"), "the page lists the processes");

        Path shot = Path.of("target", "dashboard-test.png").toAbsolutePath();
        Files.deleteIfExists(shot);
        chromium(profile, "--screenshot=" + shot, "--window-size=1240,1400", "--hide-scrollbars", url);
        assertTrue(Files.size(shot) > 10_000, "screenshot written: " + shot);
    }

    /** Runs headless Chromium on {@code url} and returns its standard output. */
    private static String chromium(Path profile, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(CHROMIUM.toString(), "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--user-data-dir=" + Files.createTempDirectory(profile, "chromium"),
                "--virtual-time-budget=3000"));
        command.addAll(List.of(args));
        Path err = Files.createTempFile(profile, "chromium", ".log");
        Process p = new ProcessBuilder(command).redirectError(err.toFile()).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("chromium did not finish in 60 s; its log: " + Files.readString(err));
        }
        assertEquals(0, p.exitValue(), "chromium failed; its log: " + Files.readString(err));
        return new String(out, StandardCharsets.UTF_8);
    }

    private static String get(String url) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), url);
        return r.body();
    }

    private static Device cpu() {
        return Devices.installed().open("cpu", line -> { });
    }

    private <T extends AutoCloseable> T keep(T resource) {
        open.add(resource);
        return resource;
    }
}
