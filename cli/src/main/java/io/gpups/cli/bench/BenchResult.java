package io.gpups.cli.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * One line of the report. Rates are over the measured window; {@code goodput} counts {@code value_bytes} per
 * completed operation (a pushpull moves that much each way). {@code updateElementsPerSecond} is what the shards
 * say they applied, not what the workers sent. The loopback fields are {@code NaN} when the ceiling was not
 * measured.
 */
public record BenchResult(BenchSettings settings, long ops, double seconds, double opsPerSecond,
                          double goodputBytesPerSecond, double updateElementsPerSecond, double latencyP50Ms,
                          double latencyP99Ms, double latencyP999Ms, double latencyMaxMs,
                          double loopbackBytesPerSecond, double fractionOfLoopback, CodecThroughput codecThroughput) {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** The result of a measured window, beside the loopback ceiling ({@code NaN}: not measured). */
    public static BenchResult of(BenchSettings s, LoadGenerator.Window w, double loopbackBytesPerSecond,
                                 CodecThroughput codecThroughput) {
        double opsPerSecond = w.ops() / w.seconds();
        double goodput = opsPerSecond * s.valueBytes();
        return new BenchResult(s, w.ops(), w.seconds(), opsPerSecond, goodput, w.elementsUpdated() / w.statsSeconds(),
                percentileMs(w, 50), percentileMs(w, 99), percentileMs(w, 99.9),
                w.latencyNanos().getTotalCount() == 0 ? Double.NaN : w.latencyNanos().getMaxValue() / 1e6,
                loopbackBytesPerSecond, goodput / loopbackBytesPerSecond, codecThroughput);
    }

    private static double percentileMs(LoadGenerator.Window w, double percentile) {
        return w.latencyNanos().getTotalCount() == 0 ? Double.NaN
                : w.latencyNanos().getValueAtPercentile(percentile) / 1e6;
    }

    /** The JSON object for {@code {"results":[...]}}; NaN becomes null. */
    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put("mode", settings.mode().cliName());
        o.put("value_bytes", settings.valueBytes());
        o.put("servers", settings.servers());
        o.put("workers", settings.workers());
        o.put("window", settings.window());
        o.put("optimizer", settings.optimizerName());
        o.put("consistency", settings.consistency().toString());
        o.put("device", settings.device());
        o.put("warmup_seconds", settings.warmupSeconds());
        o.put("seconds", seconds);
        o.put("ops", ops);
        number(o, "ops_per_second", opsPerSecond);
        number(o, "goodput_bytes_per_second", goodputBytesPerSecond);
        number(o, "update_elements_per_second", updateElementsPerSecond);
        number(o, "latency_p50_ms", latencyP50Ms);
        number(o, "latency_p99_ms", latencyP99Ms);
        number(o, "latency_p999_ms", latencyP999Ms);
        number(o, "latency_max_ms", latencyMaxMs);
        number(o, "loopback_bytes_per_second", loopbackBytesPerSecond);
        number(o, "fraction_of_loopback", fractionOfLoopback);
        o.put("codec", settings.codec().toString());
        if (codecThroughput != null) {
            // goodput above counts raw fp32 gradient bytes; these say what the codec costs and saves.
            o.put("codec_elements", codecThroughput.elements());
            o.put("payload_bytes", codecThroughput.payloadBytes());
            number(o, "compression_ratio", 4.0 * codecThroughput.elements() / codecThroughput.payloadBytes());
            number(o, "encode_elements_per_second", codecThroughput.encodeElementsPerSecond());
            number(o, "decode_elements_per_second", codecThroughput.decodeElementsPerSecond());
            number(o, "memory_bandwidth_bytes_per_second", codecThroughput.memoryBandwidthBytesPerSecond());
            number(o, "encode_fraction_of_bandwidth", codecThroughput.encodeFractionOfBandwidth());
            number(o, "decode_fraction_of_bandwidth", codecThroughput.decodeFractionOfBandwidth());
        }
        return o;
    }

    private static void number(ObjectNode o, String field, double v) {
        if (Double.isFinite(v)) {
            o.put(field, v);
        } else {
            o.putNull(field);
        }
    }

    /** Writes {@code {"results":[...]}} to {@code file}, creating its directory. */
    public static void writeJson(Path file, List<BenchResult> results) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        ArrayNode array = root.putArray("results");
        results.forEach(r -> array.add(r.toJson()));
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        JSON.writeValue(file.toFile(), root);
    }

    /** Prints the results as a table, one line each, and each codec's device throughput under it. */
    public static void printTable(PrintStream out, List<BenchResult> results) {
        printRates(out, results);
        for (BenchResult r : results) {
            CodecThroughput c = r.codecThroughput;
            if (c != null) {
                out.printf(Locale.ROOT, "codec %s on the device, %d elements: encode %.1f Melem/s (%.3f of memory bandwidth), "
                                + "decode %.1f Melem/s (%.3f), memory bandwidth %.1f GB/s, payload %d bytes (ratio %.1f)%n",
                        c.codec(), c.elements(), c.encodeElementsPerSecond() / 1e6, c.encodeFractionOfBandwidth(),
                        c.decodeElementsPerSecond() / 1e6, c.decodeFractionOfBandwidth(),
                        c.memoryBandwidthBytesPerSecond() / 1e9, c.payloadBytes(), 4.0 * c.elements() / c.payloadBytes());
            }
        }
    }

    private static void printRates(PrintStream out, List<BenchResult> results) {
        String format = "%-8s %12s %7s %7s %6s %10s %12s %14s %9s %9s %13s %8s%n";
        out.printf(Locale.ROOT, format, "mode", "value_bytes", "servers", "workers", "window", "ops/s", "goodput MB/s",
                "upd Melem/s", "p50 ms", "p99 ms", "loopback MB/s", "of loop");
        for (BenchResult r : results) {
            BenchSettings s = r.settings;
            out.printf(Locale.ROOT, format, s.mode().cliName(), s.valueBytes(), s.servers(), s.workers(), s.window(),
                    fixed(r.opsPerSecond, 1), fixed(r.goodputBytesPerSecond / 1e6, 1),
                    fixed(r.updateElementsPerSecond / 1e6, 1), fixed(r.latencyP50Ms, 3), fixed(r.latencyP99Ms, 3),
                    fixed(r.loopbackBytesPerSecond / 1e6, 1), fixed(r.fractionOfLoopback, 3));
        }
    }

    private static String fixed(double v, int decimals) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%." + decimals + "f", v) : "-";
    }
}
