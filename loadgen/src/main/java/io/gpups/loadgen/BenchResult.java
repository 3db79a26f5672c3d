package io.gpups.loadgen;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gpups.core.tensor.ChunkLayout;

import java.io.IOException;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.StringJoiner;

/**
 * One line of the report, with the ceilings measured in the same run beside it. Rates are over the measured
 * window; {@code goodput} counts {@code value_bytes} per completed operation (a pushpull moves that much each
 * way, and is still counted once). {@code updateElementsPerSecond} is what the shards say they applied
 * ({@code elements_updated} in STATS), not what the workers sent.
 *
 * <p>Fractions of the ceilings: {@code fraction_of_loopback} is goodput over the loopback-TCP ceiling for the
 * same message size (one direction). For operations that push (and so apply the optimizer on the shards),
 * {@code fraction_of_memory_bandwidth} is the shards' achieved update traffic, {@code update_elements_per_second
 * x apply_bytes_per_element} ({@link ApplyTraffic}: 28 for Adam), over the device's triad bandwidth
 * ({@link DeviceBandwidth}). Summed over shards: with N shards on one machine they share its memory.
 *
 * @param loopback the loopback ceiling for this value size, or null when not measured
 * @param memory   the device's bandwidth, or null when not measured
 */
public record BenchResult(BenchSettings settings, long ops, double seconds, double opsPerSecond,
                          double goodputBytesPerSecond, double updateElementsPerSecond, double latencyP50Ms,
                          double latencyP99Ms, double latencyP999Ms, double latencyMaxMs,
                          LoopbackCeiling loopback, DeviceBandwidth memory, CodecThroughput codecThroughput,
                          long ringFrames, long ringFallbacks) {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** The result of a measured window, beside the ceilings (either may be null: not measured). */
    public static BenchResult of(BenchSettings s, LoadGenerator.Window w, LoopbackCeiling loopback,
                                 DeviceBandwidth memory, CodecThroughput codecThroughput) {
        double opsPerSecond = w.ops() / w.seconds();
        double goodput = opsPerSecond * s.valueBytes();
        return new BenchResult(s, w.ops(), w.seconds(), opsPerSecond, goodput, w.elementsUpdated() / w.statsSeconds(),
                percentileMs(w, 50), percentileMs(w, 99), percentileMs(w, 99.9),
                w.latencyNanos().getTotalCount() == 0 ? Double.NaN : w.latencyNanos().getMaxValue() / 1e6,
                loopback, memory, codecThroughput, w.ringFrames(), w.ringFallbacks());
    }

    private static double percentileMs(LoadGenerator.Window w, double percentile) {
        return w.latencyNanos().getTotalCount() == 0 ? Double.NaN
                : w.latencyNanos().getValueAtPercentile(percentile) / 1e6;
    }

    /** The loopback-TCP ceiling in bytes per second, {@code NaN} when not measured. */
    public double loopbackBytesPerSecond() {
        return loopback == null ? Double.NaN : loopback.bytesPerSecond();
    }

    public double fractionOfLoopback() {
        return goodputBytesPerSecond / loopbackBytesPerSecond();
    }

    /** Memory bytes per updated element on the shards, {@code NaN} for pulls (nothing is applied). */
    public double applyBytesPerElement() {
        if (!settings.mode().pushes()) {
            return Double.NaN;
        }
        int chunkElements = Math.min(settings.elements(), ChunkLayout.DEFAULT_CHUNK_BYTES / 4);
        return ApplyTraffic.bytesPerElement(settings.optimizer(), settings.codec(), chunkElements);
    }

    /** The shards' achieved update traffic in bytes per second. */
    public double applyBytesPerSecond() {
        return updateElementsPerSecond * applyBytesPerElement();
    }

    /** {@link #applyBytesPerSecond} over the triad; {@code NaN} for pulls or without the measurement. */
    public double fractionOfMemoryBandwidth() {
        return memory == null ? Double.NaN : applyBytesPerSecond() / memory.triadBytesPerSecond();
    }

    /** The JSON object for {@code {"results":[...]}}; NaN becomes null. */
    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put("mode", settings.mode().cliName());
        o.put("value_bytes", settings.valueBytes());
        o.put("servers", settings.shards());
        o.put("workers", settings.workers());
        o.put("window", settings.window());
        o.put("codec", settings.codec().toString());
        o.put("optimizer", settings.optimizerName());
        o.put("consistency", settings.consistency().toString());
        o.put("device", settings.device());
        o.put("transport", settings.transport().cliName());
        if (settings.transport() == BenchTransport.SHM) {
            // Frames that went through the shared-memory rings in the window, and those that found a ring full.
            o.put("ring_frames", ringFrames);
            o.put("ring_fallbacks", ringFallbacks);
        }
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
        number(o, "loopback_bytes_per_second", loopbackBytesPerSecond());
        o.put("loopback_ceiling", loopback == null ? null : loopback.source());
        number(o, "loopback_netty_bytes_per_second", loopback == null ? Double.NaN : loopback.nettyBytesPerSecond());
        number(o, "loopback_socket_bytes_per_second", loopback == null ? Double.NaN : loopback.socketBytesPerSecond());
        number(o, "fraction_of_loopback", fractionOfLoopback());
        number(o, "memory_bandwidth_bytes_per_second", memory == null ? Double.NaN : memory.triadBytesPerSecond());
        number(o, "apply_bytes_per_element", applyBytesPerElement());
        number(o, "apply_bytes_per_second", applyBytesPerSecond());
        number(o, "fraction_of_memory_bandwidth", fractionOfMemoryBandwidth());
        if (codecThroughput != null) {
            // goodput above counts raw fp32 gradient bytes; these say what the codec costs and saves.
            o.put("codec_elements", codecThroughput.elements());
            o.put("payload_bytes", codecThroughput.payloadBytes());
            number(o, "compression_ratio", 4.0 * codecThroughput.elements() / codecThroughput.payloadBytes());
            number(o, "encode_elements_per_second", codecThroughput.encodeElementsPerSecond());
            number(o, "decode_elements_per_second", codecThroughput.decodeElementsPerSecond());
            number(o, "encode_fraction_of_bandwidth", codecThroughput.encodeFractionOfBandwidth());
            number(o, "decode_fraction_of_bandwidth", codecThroughput.decodeFractionOfBandwidth());
        }
        return o;
    }

    /** The ceilings of a run as JSON: the device's bandwidth and each loopback measurement. */
    public static ObjectNode ceilingsJson(DeviceBandwidth memory, List<LoopbackCeiling> loopback) {
        ObjectNode o = JSON.createObjectNode();
        if (memory != null) {
            ObjectNode m = o.putObject("memory");
            m.put("device", memory.device());
            m.put("elements_per_array", memory.elements());
            m.put("method", "triad a[i] = a[i] + s*b[i] through the device's sgd kernel, "
                    + DeviceBandwidth.TRIAD_BYTES_PER_ELEMENT + " bytes per element");
            number(m, "triad_bytes_per_second", memory.triadBytesPerSecond());
            number(m, "adam_apply_bytes_per_second", memory.adamBytesPerSecond());
            m.put("adam_apply_bytes_per_element", DeviceBandwidth.ADAM_BYTES_PER_ELEMENT);
            number(m, "adam_apply_fraction_of_memory_bandwidth", memory.adamFractionOfTriad());
        }
        ArrayNode l = o.putArray("loopback");
        for (LoopbackCeiling c : loopback) {
            ObjectNode n = l.addObject();
            n.put("message_bytes", c.messageBytes());
            number(n, "netty_bytes_per_second", c.nettyBytesPerSecond());
            number(n, "socket_bytes_per_second", c.socketBytesPerSecond());
            number(n, "ceiling_bytes_per_second", c.bytesPerSecond());
            n.put("ceiling", c.source());
        }
        return o;
    }

    static void number(ObjectNode o, String field, double v) {
        if (Double.isFinite(v)) {
            o.put(field, v);
        } else {
            o.putNull(field);
        }
    }

    /** Writes {@code {"results":[...]}} to {@code file}, creating its directory. */
    public static void writeJson(Path file, List<BenchResult> results) throws IOException {
        writeJson(file, results, null);
    }

    /** Writes {@code {"results":[...]}} and, when given, the other top-level fields of {@code extra}. */
    public static void writeJson(Path file, List<BenchResult> results, ObjectNode extra) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        if (extra != null) {
            root.setAll(extra);
        }
        ArrayNode array = root.putArray("results");
        results.forEach(r -> array.add(r.toJson()));
        createParent(file);
        JSON.writeValue(file.toFile(), root);
    }

    /**
     * Writes the results as CSV: a header with every JSON field that any result has (in first-seen order), then
     * one row per result, empty where a result lacks the field or it is null.
     */
    public static void writeCsv(Path file, List<BenchResult> results) throws IOException {
        List<ObjectNode> rows = results.stream().map(BenchResult::toJson).toList();
        Set<String> columns = new LinkedHashSet<>();
        for (ObjectNode row : rows) {
            for (Iterator<String> it = row.fieldNames(); it.hasNext(); ) {
                columns.add(it.next());
            }
        }
        createParent(file);
        try (Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            w.write(String.join(",", columns));
            w.write('\n');
            for (ObjectNode row : rows) {
                StringJoiner line = new StringJoiner(",");
                for (String c : columns) {
                    JsonNode v = row.get(c);
                    line.add(v == null || v.isNull() ? "" : csvField(v.asText()));
                }
                w.write(line.toString());
                w.write('\n');
            }
        }
    }

    private static String csvField(String s) {
        return s.contains(",") || s.contains("\"") ? '"' + s.replace("\"", "\"\"") + '"' : s;
    }

    private static void createParent(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
    }

    /** Prints the results as a table, one line each, and each codec's device throughput under them. */
    public static void printTable(PrintStream out, List<BenchResult> results) {
        printRates(out, results);
        for (BenchResult r : results) {
            if (r.settings.transport() == BenchTransport.SHM) {
                out.printf(Locale.ROOT, "transport shm: %d frames through shared-memory rings, %d found a ring full and"
                        + " went over TCP%n", r.ringFrames, r.ringFallbacks);
            }
            CodecThroughput c = r.codecThroughput;
            if (c != null) {
                out.printf(Locale.ROOT, "codec %s on the device, %d elements: encode %.1f Melem/s (%.3f of memory bandwidth), "
                                + "decode %.1f Melem/s (%.3f), payload %d bytes (ratio %.1f)%n",
                        c.codec(), c.elements(), c.encodeElementsPerSecond() / 1e6, c.encodeFractionOfBandwidth(),
                        c.decodeElementsPerSecond() / 1e6, c.decodeFractionOfBandwidth(),
                        c.payloadBytes(), 4.0 * c.elements() / c.payloadBytes());
            }
        }
    }

    /** The header and one line per result; {@link #printLine} prints a line alone (a sweep, as it goes). */
    private static void printRates(PrintStream out, List<BenchResult> results) {
        printHeader(out);
        results.forEach(r -> printLine(out, r));
    }

    private static final String FORMAT = "%-8s %10s %3s %3s %4s %-9s %10s %10s %10s %9s %9s %10s %7s %7s%n";

    /** The column names of {@link #printLine}. */
    public static void printHeader(PrintStream out) {
        out.printf(Locale.ROOT, FORMAT, "mode", "value_B", "srv", "wrk", "win", "codec", "ops/s", "goodput", "upd",
                "p50 ms", "p99 ms", "loopback", "of loop", "of mem");
        out.printf(Locale.ROOT, FORMAT, "", "", "", "", "", "", "", "MB/s", "Melem/s", "", "", "MB/s", "", "");
    }

    /** One result as a table line. */
    public static void printLine(PrintStream out, BenchResult r) {
        BenchSettings s = r.settings;
        out.printf(Locale.ROOT, FORMAT, s.mode().cliName(), s.valueBytes(), s.shards(), s.workers(), s.window(),
                s.codec(), fixed(r.opsPerSecond, 1), fixed(r.goodputBytesPerSecond / 1e6, 1),
                fixed(r.updateElementsPerSecond / 1e6, 1), fixed(r.latencyP50Ms, 3), fixed(r.latencyP99Ms, 3),
                fixed(r.loopbackBytesPerSecond() / 1e6, 1), fixed(r.fractionOfLoopback(), 3),
                fixed(r.fractionOfMemoryBandwidth(), 3));
    }

    private static String fixed(double v, int decimals) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%." + decimals + "f", v) : "-";
    }
}
