package io.gpups.dashboard;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The text parser and the collector's series, from hand-written scrapes. */
class MetricsCollectorTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void parsesLabelsEscapesAndSpecialValues() {
        PrometheusText.Sample s = PrometheusText.parseLine("gpups_requests_total{op=\"push\",result=\"ok\",msg=\"a\\\"b\\\\c\"} 42.0");
        assertEquals("gpups_requests_total", s.name());
        assertEquals(Map.of("op", "push", "result", "ok", "msg", "a\"b\\c"), s.labels());
        assertEquals(42.0, s.value());
        assertTrue(Double.isNaN(PrometheusText.parseLine("gpups_test_accuracy NaN").value()));
        assertEquals(Double.POSITIVE_INFINITY, PrometheusText.parseLine("x{le=\"+Inf\"} +Inf 1700000000").value());
        assertNull(PrometheusText.parseLine("# TYPE x counter"));
        assertNull(PrometheusText.parseLine("broken{op=\"push} 1"));
        assertEquals(3, PrometheusText.parse("a 1\n\n# HELP b x\nb{x=\"1\"} 2\nc 3\n").size());
    }

    @Test
    void ratesTotalsAndStalenessBuckets() throws Exception {
        AtomicReference<String> server = new AtomicReference<>();
        AtomicReference<String> worker = new AtomicReference<>("gpups_train_loss{rank=\"0\"} 0.5\ngpups_train_samples_total 640\n");
        MetricsCollector c = new MetricsCollector(List.of(
                new MetricsCollector.Target("server-0", "server", "test", server::get),
                new MetricsCollector.Target("worker-0", "worker", "test", worker::get),
                new MetricsCollector.Target("worker-1", "worker", "test", () -> {
                    throw new java.io.IOException("connection refused");
                })), Duration.ofSeconds(1), 10);
        server.set(scrape(1000, 3, 4));
        c.pollOnce();
        Thread.sleep(50);
        server.set(scrape(6000, 5, 4));
        c.pollOnce();
        JsonNode state = JSON.readTree(c.json());

        JsonNode throughput = state.path("charts").path("throughput").path("series").get(0);
        assertEquals("server-0", throughput.path("name").asText());
        assertEquals(1, throughput.path("points").size(), "a rate needs two polls");
        assertTrue(throughput.path("points").get(0).get(1).asDouble() > 0);

        JsonNode load = state.path("charts").path("load").path("groups");
        assertEquals(2.0, load.get(0).path("bars").get(0).path("value").asDouble(), 1e-9, "MB pushed (wire)");
        // Cumulative buckets le=0.5: 5, le=1: 5, le=2: 9, +Inf: 9 -> per bucket 5, 0, 4, 0.
        JsonNode bars = state.path("charts").path("staleness").path("groups").get(0).path("bars");
        assertEquals("0", bars.get(0).path("name").asText());
        assertEquals(5, bars.get(0).path("value").asDouble());
        assertEquals("2", bars.get(2).path("name").asText());
        assertEquals(4, bars.get(2).path("value").asDouble());
        assertEquals("> 2", bars.get(3).path("name").asText());

        assertEquals(2, state.path("charts").path("loss").path("series").get(0).path("points").size());
        assertEquals(0, state.path("charts").path("accuracy").path("series").size(), "no accuracy gauge, no series");
        JsonNode down = state.path("targets").get(2);
        assertFalse(down.path("up").asBoolean());
        assertTrue(down.path("error").asText().contains("connection refused"));
        assertEquals(2, c.pointCounts().get("loss"));
    }

    private static String scrape(long elements, long zeroStale, long twoStale) {
        return "# TYPE gpups_elements_updated_total counter\n"
                + "gpups_elements_updated_total{role=\"server\",shard=\"0\"} " + elements + "\n"
                + "gpups_push_bytes_total{encoding=\"wire\",shard=\"0\"} 2000000\n"
                + "gpups_push_bytes_total{encoding=\"raw\",shard=\"0\"} 8000000\n"
                + "gpups_pull_bytes_total{shard=\"0\"} 1000\n"
                + "gpups_updates_total{shard=\"0\"} 10\n"
                + "gpups_pull_staleness_bucket{shard=\"0\",le=\"0.5\"} " + zeroStale + "\n"
                + "gpups_pull_staleness_bucket{shard=\"0\",le=\"1.0\"} " + zeroStale + "\n"
                + "gpups_pull_staleness_bucket{shard=\"0\",le=\"2.0\"} " + (zeroStale + twoStale) + "\n"
                + "gpups_pull_staleness_bucket{shard=\"0\",le=\"+Inf\"} " + (zeroStale + twoStale) + "\n"
                + "gpups_device_memory_bytes{shard=\"0\"} 4096\n";
    }
}
