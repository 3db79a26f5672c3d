package io.gpups.dashboard;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Scrapes the {@code /metrics} of every process of a job at a fixed interval and keeps what the dashboard
 * draws: time series (rates of counters, values of gauges) and the latest per-shard totals. {@link #json()}
 * is the dashboard's {@code /api/series} answer. Everything is kept in memory, the last {@code history}
 * points of each series.
 *
 * <p>Threads: {@link #pollOnce()} runs on the collector's own thread (or a test's); {@link #json()} on an
 * HTTP thread. Both are synchronized: a poll takes milliseconds, once per interval.
 */
public final class MetricsCollector implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A process to scrape: its name on the charts, server or worker, and how to read its metrics. */
    public record Target(String name, String role, String address, Callable<String> scrape) {

        /** A process serving {@code GET /metrics} at {@code hostPort}. */
        public static Target http(String name, String role, String hostPort) {
            return http(name, role, hostPort, null);
        }

        /** As above, sending {@code Authorization: Bearer token} (null: no header). */
        public static Target http(String name, String role, String hostPort, String token) {
            URI uri = URI.create("http://" + hostPort + "/metrics");
            HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
            return new Target(name, role, uri.toString(), () -> {
                HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(3));
                if (token != null) {
                    request.header("Authorization", "Bearer " + token);
                }
                HttpResponse<String> r = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() != 200) {
                    throw new IllegalStateException("HTTP " + r.statusCode());
                }
                return r.body();
            });
        }
    }

    /** A chart's definition: what the page shows above it. */
    private record Chart(String id, String title, String unit, String kind) {
    }

    private static final List<Chart> CHARTS = List.of(
            new Chart("throughput", "Update throughput (parameter elements updated per second, per shard)", "elements/s", "line"),
            new Chart("samples", "Training throughput (samples per second, per worker)", "samples/s", "line"),
            new Chart("load", "Per-shard load (totals)", "", "bars"),
            new Chart("staleness", "Staleness seen by pulls (clocks; pulls per bucket)", "pulls", "bars"),
            new Chart("loss", "Training loss (moving average, per worker)", "loss", "line"),
            new Chart("accuracy", "Test accuracy (after each epoch)", "accuracy", "line"),
            new Chart("memory", "Memory: device (shards) and Netty direct (all processes)", "bytes", "line"));

    private final List<Target> targets;
    private final Duration interval;
    private final int history;
    private final long startMillis = System.currentTimeMillis();
    private final Map<String, TargetState> states = new LinkedHashMap<>();
    /** chart id -> series name -> points [seconds since start, value]. */
    private final Map<String, Map<String, Deque<double[]>>> series = new LinkedHashMap<>();
    private ScheduledExecutorService scheduler;
    private long polls;

    public MetricsCollector(List<Target> targets, Duration interval, int history) {
        this.targets = List.copyOf(targets);
        this.interval = interval;
        this.history = history;
        for (Target t : targets) {
            states.put(t.name(), new TargetState());
        }
        for (Chart c : CHARTS) {
            series.put(c.id(), new LinkedHashMap<>());
        }
    }

    public List<Target> targets() {
        return targets;
    }

    /** Starts polling every interval on a daemon thread; a second call does nothing. */
    public synchronized MetricsCollector start() {
        if (scheduler == null) {
            scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "gpups-dashboard-collector");
                t.setDaemon(true);
                return t;
            });
            scheduler.scheduleWithFixedDelay(this::pollOnce, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
        }
        return this;
    }

    /** Scrapes every target once and records what it found. */
    public void pollOnce() {
        List<String> texts = new ArrayList<>();
        List<String> errors = new ArrayList<>();
        for (Target t : targets) {
            try {
                texts.add(t.scrape().call());
                errors.add(null);
            } catch (Exception e) {
                texts.add(null);
                errors.add(e.getClass().getSimpleName() + ": " + e.getMessage());
            }
        }
        record(texts, errors);
    }

    private synchronized void record(List<String> texts, List<String> errors) {
        double now = (System.currentTimeMillis() - startMillis) / 1000.0;
        polls++;
        for (int i = 0; i < targets.size(); i++) {
            Target t = targets.get(i);
            TargetState st = states.get(t.name());
            st.error = errors.get(i);
            st.up = texts.get(i) != null;
            if (!st.up) {
                continue;
            }
            Scrape s = new Scrape(PrometheusText.parse(texts.get(i)));
            if ("server".equals(t.role())) {
                rate(st, "elements", s.sum("gpups_elements_updated_total"), now, "throughput", t.name());
                st.pushedWire = s.sum("gpups_push_bytes_total", "encoding", "wire");
                st.pulled = s.sum("gpups_pull_bytes_total");
                st.updates = s.sum("gpups_updates_total");
                st.staleness = s.buckets("gpups_pull_staleness_bucket");
                add("memory", t.name() + " device", now, s.sum("gpups_device_memory_bytes"));
            } else {
                rate(st, "samples", s.sum("gpups_train_samples_total"), now, "samples", t.name());
                double loss = s.sum("gpups_train_loss");
                if (s.has("gpups_train_loss") && Double.isFinite(loss)) {
                    add("loss", t.name(), now, loss);
                }
                double accuracy = s.sum("gpups_test_accuracy");
                if (s.has("gpups_test_accuracy") && Double.isFinite(accuracy)) {
                    add("accuracy", t.name(), now, accuracy);
                }
            }
            if (s.has("gpups_netty_direct_memory_bytes")) {
                add("memory", t.name() + " direct", now, s.sum("gpups_netty_direct_memory_bytes"));
            }
        }
    }

    private void rate(TargetState st, String key, double value, double now, String chart, String name) {
        double[] previous = st.last.put(key, new double[] {now, value});
        if (previous != null && now > previous[0] && !Double.isNaN(value)) {
            double delta = value - previous[1];
            add(chart, name, now, delta < 0 ? 0 : delta / (now - previous[0]));
        }
    }

    private void add(String chart, String name, double t, double v) {
        Deque<double[]> points = series.get(chart).computeIfAbsent(name, n -> new ArrayDeque<>());
        points.addLast(new double[] {t, v});
        while (points.size() > history) {
            points.removeFirst();
        }
    }

    /** Number of polls so far. */
    public synchronized long polls() {
        return polls;
    }

    /** Points held by each chart (every series of a line chart; every bar of a bar chart). */
    public synchronized Map<String, Integer> pointCounts() {
        Map<String, Integer> out = new LinkedHashMap<>();
        ObjectNode state = state();
        state.path("charts").fields().forEachRemaining(e -> {
            int n = 0;
            for (var s : e.getValue().path("series")) {
                n += s.path("points").size();
            }
            for (var g : e.getValue().path("groups")) {
                n += g.path("bars").size();
            }
            out.put(e.getKey(), n);
        });
        return out;
    }

    /** The dashboard's state as JSON: targets, and every chart's series or bars. */
    public synchronized String json() {
        try {
            return JSON.writeValueAsString(state());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private ObjectNode state() {
        ObjectNode root = JSON.createObjectNode();
        root.put("seconds", (System.currentTimeMillis() - startMillis) / 1000.0);
        root.put("interval_ms", interval.toMillis());
        root.put("polls", polls);
        ArrayNode ts = root.putArray("targets");
        for (Target t : targets) {
            TargetState st = states.get(t.name());
            ObjectNode n = ts.addObject();
            n.put("name", t.name());
            n.put("role", t.role());
            n.put("address", t.address());
            n.put("up", st.up);
            n.put("error", st.error);
        }
        ObjectNode charts = root.putObject("charts");
        for (Chart c : CHARTS) {
            ObjectNode n = charts.putObject(c.id());
            n.put("title", c.title());
            n.put("unit", c.unit());
            n.put("kind", c.kind());
            if (c.kind().equals("line")) {
                ArrayNode arr = n.putArray("series");
                series.get(c.id()).forEach((name, points) -> {
                    ObjectNode s = arr.addObject();
                    s.put("name", name);
                    ArrayNode p = s.putArray("points");
                    for (double[] pt : points) {
                        p.addArray().add(round(pt[0])).add(pt[1]);
                    }
                });
            }
        }
        ArrayNode load = ((ObjectNode) charts.get("load")).putArray("groups");
        ArrayNode in = group(load, "MB pushed (wire)");
        ArrayNode out = group(load, "MB pulled");
        ArrayNode updates = group(load, "thousand updates");
        Map<Double, Double> staleness = new TreeMap<>();
        for (Target t : targets) {
            TargetState st = states.get(t.name());
            if (!"server".equals(t.role()) || st.updates < 0) {
                continue;
            }
            bar(in, t.name(), st.pushedWire / 1e6);
            bar(out, t.name(), st.pulled / 1e6);
            bar(updates, t.name(), st.updates / 1e3);
            st.staleness.forEach((le, count) -> staleness.merge(le, count, Double::sum));
        }
        // Cumulative bucket counts -> pulls per bucket.
        ArrayNode pulls = group(((ObjectNode) charts.get("staleness")).putArray("groups"), "pulls");
        double below = 0;
        double previousLe = Double.NaN;
        for (Map.Entry<Double, Double> b : staleness.entrySet()) {
            // Staleness is whole clocks: bucket (previous le, le] holds floor(previous) + 1 .. floor(le).
            long lower = Double.isNaN(previousLe) ? 0 : (long) Math.floor(previousLe) + 1;
            String label = b.getKey().isInfinite() ? "> " + fmt(previousLe)
                    : lower >= (long) Math.floor(b.getKey()) ? fmt(Math.floor(b.getKey()))
                    : lower + "-" + fmt(Math.floor(b.getKey()));
            bar(pulls, label, Math.max(0, b.getValue() - below));
            below = b.getValue();
            previousLe = b.getKey();
        }
        return root;
    }

    private static ArrayNode group(ArrayNode groups, String name) {
        ObjectNode g = groups.addObject();
        g.put("name", name);
        return g.putArray("bars");
    }

    private static void bar(ArrayNode bars, String name, double value) {
        bars.addObject().put("name", name).put("value", value);
    }

    private static double round(double seconds) {
        return Math.round(seconds * 1000) / 1000.0;
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    @Override
    public synchronized void close() {
        if (scheduler != null) {
            scheduler.shutdownNow();
        }
    }

    private static final class TargetState {
        boolean up;
        String error = "not scraped yet";
        final Map<String, double[]> last = new LinkedHashMap<>();
        double pushedWire;
        double pulled;
        double updates = -1;
        Map<Double, Double> staleness = Map.of();
    }

    /** One scrape's samples, summed over labels on demand. */
    private record Scrape(List<PrometheusText.Sample> samples) {
        boolean has(String name) {
            return samples.stream().anyMatch(s -> s.name().equals(name));
        }

        double sum(String name) {
            return samples.stream().filter(s -> s.name().equals(name)).mapToDouble(PrometheusText.Sample::value).sum();
        }

        double sum(String name, String label, String value) {
            return samples.stream().filter(s -> s.name().equals(name) && s.label(label).equals(value))
                    .mapToDouble(PrometheusText.Sample::value).sum();
        }

        /** le -> cumulative count, summed over the other labels. */
        Map<Double, Double> buckets(String name) {
            Map<Double, Double> out = new TreeMap<>();
            for (PrometheusText.Sample s : samples) {
                if (s.name().equals(name)) {
                    String le = s.label("le");
                    double bound = le.equals("+Inf") ? Double.POSITIVE_INFINITY : Double.parseDouble(le);
                    out.merge(bound, s.value(), Double::sum);
                }
            }
            return out;
        }
    }
}
