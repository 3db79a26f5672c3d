package io.gpups.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.loadgen.LoopbackCeiling;
import io.gpups.loadgen.MachineInfo;
import io.gpups.loadgen.RowGatherCeiling;
import io.gpups.loadgen.RowsBenchSettings;
import io.gpups.loadgen.RowsLoadGenerator;
import org.HdrHistogram.Histogram;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * {@code gpups bench --mode rows-pull|rows-push}: embedding-table requests against local shard processes, beside two
 * ceilings measured in the same run: loopback TCP for a message of one request's rows, and the device's random
 * gather of rows from a table of the same size ({@link RowGatherCeiling}).
 *
 * <p>Reported: ids/s (asked for), rows/s (sent after the client's dedupe), goodput (row bytes, float32, per second)
 * as a fraction of loopback; the shards' own gather rate (row bytes per second of their tables' gather time) as a
 * fraction of the gather ceiling; latency percentiles of whole requests.
 */
final class RowsBench {

    private RowsBench() {
    }

    static int run(RowsBenchSettings s, Path dir, PrintStream out, JsonOutput json) throws Exception {
        out.printf(Locale.ROOT, "gpups bench: %s, table of %d rows x dim %d (%s), %d ids per request (%s), %d shard(s), "
                        + "%d worker(s), window %d, asp, device %s; %.1f s warmup, %.1f s measured; logs: %s%n",
                s.modeName(), s.tableRows(), s.dim(), s.optimizerName(), s.idsPerRequest(), s.ids(), s.shards(), s.workers(),
                s.window(), s.device(), s.warmupSeconds(), s.seconds(), dir);
        RowsLoadGenerator.Window w;
        try (ChildProcesses children = new ChildProcesses(dir)) {
            List<InetSocketAddress> addresses = LocalShards.start(children, s.shards(), s.workers(), "asp",
                    shard -> s.device(), List.of());
            out.printf("shards listening on %s; filling the table ...%n", addresses);
            try (RowsLoadGenerator load = RowsLoadGenerator.connect(addresses, s)) {
                w = load.run();
            } catch (IllegalStateException | io.gpups.worker.client.PsException e) {
                throw new CliException(e.getMessage() + " (shard logs in " + dir + ")");
            }
        }
        int messageBytes = (int) Math.max(4096, (long) w.rows() * 4 * s.dim() / Math.max(1, w.requests()));
        LoopbackCeiling loopback = s.loopbackSeconds() > 0
                ? LoopbackCeiling.measure(messageBytes, Math.min(0.75, s.loopbackSeconds() / 2), s.loopbackSeconds()) : null;
        RowGatherCeiling gather;
        try (Device device = Devices.installed().open(s.device(), out::println)) {
            gather = RowGatherCeiling.measure(device, s.tableRows(), s.dim(), s.idsPerRequest(), Math.max(1, s.seconds() / 4));
        }

        double ids = w.ids() / w.seconds();
        double rows = w.rows() / w.seconds();
        double goodput = rows * 4 * s.dim();
        double shardSeconds = s.push() ? w.shardApplySeconds() : w.shardGatherSeconds();
        long shardRows = s.push() ? w.shardRowsPushed() : w.shardRowsPulled();
        double shardGather = shardSeconds > 0 ? shardRows * 4.0 * s.dim() / shardSeconds : Double.NaN;
        double lookup = w.shardLookupSeconds() > 0 ? shardRows / w.shardLookupSeconds() : Double.NaN;
        Histogram lat = w.latencyNanos();
        out.println();
        out.printf(Locale.ROOT, "%s: %d requests in %.2f s: %.0f ids/s, %.0f rows/s (%.1f unique ids per request), "
                        + "goodput %.1f MB/s%n", s.modeName(), w.requests(), w.seconds(), ids, rows,
                w.requests() == 0 ? 0 : (double) w.rows() / w.requests(), goodput / 1e6);
        out.printf(Locale.ROOT, "latency per request: p50 %.2f ms, p99 %.2f ms, max %.2f ms%n",
                lat.getValueAtPercentile(50) / 1e6, lat.getValueAtPercentile(99) / 1e6, lat.getMaxValue() / 1e6);
        if (loopback != null) {
            out.printf(Locale.ROOT, "loopback TCP, %d-byte messages: %.1f MB/s (%s); goodput = %.3f of it%n", messageBytes,
                    loopback.bytesPerSecond() / 1e6, loopback.source(), goodput / loopback.bytesPerSecond());
        }
        out.printf(Locale.ROOT, "shards' tables: lookup %.2f M rows/s; %s %.1f MB/s of row bytes (%.3f s in %d rows); "
                        + "%d rows stored; filled in %.1f s%n", lookup / 1e6, s.push() ? "optimizer step" : "gather",
                shardGather / 1e6, shardSeconds, shardRows, w.tableRows(), w.fillSeconds());
        out.printf(Locale.ROOT, "random-gather ceiling of device %s (%d rows x dim %d, %d rows per gather): %.1f MB/s; "
                        + "the shards' %s = %.3f of it%n", gather.device(), gather.rows(), gather.dim(), gather.perRequest(),
                gather.bytesPerSecond() / 1e6, s.push() ? "optimizer step" : "gather", shardGather / gather.bytesPerSecond());

        if (json.wanted()) {
            ObjectMapper m = new ObjectMapper();
            ObjectNode r = m.createObjectNode();
            r.put("mode", s.modeName()).put("shards", s.shards()).put("workers", s.workers())
                    .put("table_rows", s.tableRows()).put("dim", s.dim()).put("ids_per_request", s.idsPerRequest())
                    .put("ids", s.ids().toString()).put("optimizer", s.optimizerName()).put("device", s.device())
                    .put("window", s.window()).put("seconds", w.seconds()).put("requests", w.requests())
                    .put("ids_per_second", ids).put("rows_per_second", rows).put("goodput_bytes_per_second", goodput)
                    .put("latency_p50_ms", lat.getValueAtPercentile(50) / 1e6)
                    .put("latency_p99_ms", lat.getValueAtPercentile(99) / 1e6)
                    .put("shard_lookup_rows_per_second", lookup)
                    .put("shard_row_bytes_per_second", shardGather)
                    .put("table_rows_stored", w.tableRows()).put("fill_seconds", w.fillSeconds())
                    .put("gather_ceiling_bytes_per_second", gather.bytesPerSecond())
                    .put("shard_fraction_of_gather_ceiling", shardGather / gather.bytesPerSecond());
            if (loopback != null) {
                r.put("loopback_bytes_per_second", loopback.bytesPerSecond())
                        .put("loopback_message_bytes", messageBytes)
                        .put("fraction_of_loopback", goodput / loopback.bytesPerSecond());
            }
            r.set("machine", MachineInfo.current().toJson(m));
            json.write(r, out);
        }
        return 0;
    }
}
