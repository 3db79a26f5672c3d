package io.gpups.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gpups.loadgen.BenchMode;
import io.gpups.loadgen.BenchResult;
import io.gpups.loadgen.BenchSettings;
import io.gpups.loadgen.CodecThroughput;
import io.gpups.loadgen.DeviceBandwidth;
import io.gpups.loadgen.LoadGenerator;
import io.gpups.loadgen.LoopbackCeiling;
import io.gpups.loadgen.MachineInfo;
import io.gpups.loadgen.RowsBenchSettings;
import io.gpups.loadgen.SweepCharts;
import io.gpups.loadgen.SweepPlan;
import io.gpups.core.codec.Codec;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code gpups bench}: update throughput of real shard processes on this machine, beside this machine's
 * ceilings measured in the same run. One run: measure the device's memory bandwidth ({@link DeviceBandwidth}),
 * start N shards on 127.0.0.1, drive them from M closed-loop worker threads in this process (see
 * {@link LoadGenerator} for steps, clocks and the measured window), stop the shards, then measure what
 * loopback TCP carries with the same message size ({@link LoopbackCeiling}). With {@code --sweep}, the same
 * for every point of a {@link SweepPlan}, fresh shards for each, written as JSON, CSV and PNG charts.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Measure push/pull throughput and latency against N local shard processes, "
                + "beside this machine's memory-bandwidth and loopback-TCP ceilings.")
final class BenchCommand implements Callable<Integer> {

    private static final double SINGLE_SECONDS = 10;
    private static final double SINGLE_WARMUP = 2;
    private static final double SINGLE_LOOPBACK = 2;
    private static final double SWEEP_SECONDS = 2;
    private static final double SWEEP_WARMUP = 0.5;
    private static final double SWEEP_LOOPBACK = 1;
    /** The size of the sweep's headline point (16 MiB pushes with the optimizer applied). */
    private static final int HEADLINE_BYTES = 16 << 20;

    @Spec
    CommandSpec spec;

    // An initial value, not defaultValue: picocli applies a defaultValue after the deprecated --servers below.
    @Option(names = "--shards", description = "Shard processes (default: ${DEFAULT-VALUE}).")
    int shards = 1;

    @Option(names = "--servers", hidden = true, description = "Deprecated spelling of --shards.")
    void servers(int count) {
        shards = DeprecatedSpelling.warn("bench", "--servers", "--shards", count);
    }

    @Option(names = "--workers", defaultValue = "1", description = "Closed-loop worker threads, one connection to every shard each (default: ${DEFAULT-VALUE}).")
    int workers;

    @Option(names = "--mode", defaultValue = "push", description = "push, pull or pushpull; rows-pull or rows-push for an "
            + "embedding table (default: ${DEFAULT-VALUE}).")
    String mode;

    @Option(names = "--value-bytes", defaultValue = "16777216",
            description = "Size of the one float32 tensor, so of every push and pull; a multiple of 4, at most 1 GiB (default: ${DEFAULT-VALUE}).")
    long valueBytes;

    @Option(names = "--optimizer", defaultValue = "adam",
            completionCandidates = OptimizerNames.class,
            description = "${COMPLETION-CANDIDATES}, lr 1e-3 (default: ${DEFAULT-VALUE}).")
    String optimizer;

    @Option(names = "--seconds", description = "Measured seconds per run (default: 10, with --sweep 2 per point).")
    Double seconds;

    @Option(names = "--warmup-seconds", description = "Load before measuring (default: 2, with --sweep 0.5 per point).")
    Double warmupSeconds;

    @Option(names = "--window", description = "Operations in flight per worker (default: 64 up to 64 KiB values, "
            + "8 up to 1 MiB, 2 above; 1 under bsp with push or pushpull, the only value allowed there).")
    Integer window;

    @Option(names = "--consistency", defaultValue = "asp", description = "asp, bsp or ssp:S (default: ${DEFAULT-VALUE}).")
    String consistency;

    /** The shards' device, also measured for its memory bandwidth. */
    @Mixin
    DeviceOption device;

    @Option(names = "--loopback-seconds", description = "Length of the loopback-TCP ceiling measurement per value size "
            + "and way (Netty and blocking sockets, 3 rounds each, best kept); 0 skips it (default: 2, with --sweep 1).")
    Double loopbackSeconds;

    @Option(names = "--bandwidth-seconds", defaultValue = "2", description = "Length of the --device's memory-bandwidth "
            + "measurement (a triad, then the Adam apply, through the device's kernels); 0 skips it (default: ${DEFAULT-VALUE}).")
    double bandwidthSeconds;

    @Option(names = "--codec", defaultValue = "none",
            description = "Gradient codec for --mode push: none, fp16, bf16, int8, topk:R, randomk:R or sign; also measures "
                    + "its encode and decode throughput on the device (default: ${DEFAULT-VALUE}).")
    String codec;

    @Option(names = "--transport", defaultValue = "tcp", description = "tcp, or shm: pushes through a shared-memory ring "
            + "per connection (/dev/shm), everything else over TCP (default: ${DEFAULT-VALUE}).")
    String transport;

    @Mixin
    JsonOutput json;

    @Mixin
    RunDirOption runDir;

    @Option(names = "--shard-metrics-port", defaultValue = "0", description = "Shard s serves /metrics on this port + s, "
            + "e.g. to watch memory during a long run; 0: off (default: ${DEFAULT-VALUE}).")
    int shardMetricsPort;

    @Option(names = "--sweep", description = "Run a sweep over value sizes, shard counts, worker counts and codecs "
            + "instead of one run (see --sweep-*).")
    boolean sweep;

    @Option(names = "--sweep-out", description = "Where the sweep writes results.json, results.csv and its PNG charts "
            + "(default: the run directory).")
    Path sweepOut;

    @Option(names = "--sweep-sizes", description = "Value sizes in bytes, K/M suffixes allowed (default: "
            + SweepPlan.DEFAULT_SIZES + ").")
    String sweepSizes;

    @Option(names = "--sweep-shards", description = "Shard counts (default: " + SweepPlan.DEFAULT_SHARDS + ").")
    String sweepShards;

    @Option(names = "--sweep-servers", hidden = true, description = "Deprecated spelling of --sweep-shards.")
    void sweepServers(String counts) {
        sweepShards = DeprecatedSpelling.warn("bench", "--sweep-servers", "--sweep-shards", counts);
    }

    @Option(names = "--sweep-workers", description = "Worker counts (default: " + SweepPlan.DEFAULT_WORKERS + ").")
    String sweepWorkers;

    @Option(names = "--sweep-codecs", description = "Codecs, the first being the baseline (default with --mode push: "
            + SweepPlan.DEFAULT_CODECS + "; else none).")
    String sweepCodecs;

    @Option(names = "--sweep-full", description = "Every combination of the lists, instead of the default lines "
            + "through them (every size; every shard x worker count at sizes of two chunks or more; every codec at every size).")
    boolean sweepFull;

    @Option(names = "--table-rows", defaultValue = "10000000", description = "rows-*: rows of the table, filled before "
            + "the warmup (default: ${DEFAULT-VALUE}).")
    long tableRows;

    @Option(names = "--dim", defaultValue = "64", description = "rows-*: floats per row (default: ${DEFAULT-VALUE}).")
    int dim;

    @Option(names = "--ids-per-request", defaultValue = "4096", description = "rows-*: ids in each request, repeats "
            + "included (default: ${DEFAULT-VALUE}).")
    int idsPerRequest;

    @Option(names = "--ids", defaultValue = "zipf:1.1", description = "rows-*: uniform, or zipf:S over the table's rows "
            + "(default: ${DEFAULT-VALUE}).")
    String ids;

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        if (mode.trim().toLowerCase(Locale.ROOT).startsWith("rows-")) {
            return rows();
        }
        for (String flag : List.of("--table-rows", "--dim", "--ids-per-request", "--ids")) {
            if (given(flag)) {
                throw new IllegalArgumentException(flag + ": only with --mode rows-pull or rows-push");
            }
        }
        return sweep ? sweep() : single();
    }

    /** {@code --mode rows-pull|rows-push}: {@link RowsBench}. */
    private int rows() throws Exception {
        for (String flag : List.of("--sweep", "--value-bytes", "--codec", "--consistency", "--transport")) {
            if (given(flag)) {
                throw new IllegalArgumentException(flag + ": not used with --mode " + mode + " (rows run asp over TCP)");
            }
        }
        RowsBenchSettings s = RowsBenchSettings.conclude(shards, workers, mode, tableRows, dim, idsPerRequest, ids,
                optimizer, device.spec, or(seconds, SINGLE_SECONDS), or(warmupSeconds, SINGLE_WARMUP), window,
                or(loopbackSeconds, SINGLE_LOOPBACK));
        return RowsBench.run(s, runDir.resolve("bench"), out, json);
    }

    // ---- one run ----------------------------------------------------------------------------------

    private int single() throws Exception {
        for (String flag : List.of("--sweep-out", "--sweep-sizes", "--sweep-shards", "--sweep-servers", "--sweep-workers",
                "--sweep-codecs", "--sweep-full")) {
            if (given(flag)) {
                throw new IllegalArgumentException(flag + ": only with --sweep");
            }
        }
        BenchSettings s = settings(valueBytes, shards, workers, codec, or(seconds, SINGLE_SECONDS),
                or(warmupSeconds, SINGLE_WARMUP), or(loopbackSeconds, SINGLE_LOOPBACK));
        checkBandwidthSeconds();
        Path dir = runDir.resolve("bench");
        out.printf(Locale.ROOT, "gpups bench: %s, %d-byte values (%d float32), %d shard(s), %d worker(s), window %d, "
                        + "%s, %s, device %s; %.1f s warmup, %.1f s measured; logs: %s%n",
                s.mode().cliName(), s.valueBytes(), s.elements(), s.shards(), s.workers(), s.window(), s.optimizerName(),
                s.consistency(), s.device(), s.warmupSeconds(), s.seconds(), dir);

        DeviceBandwidth memory = measureBandwidth(s.device());
        CodecThroughput codecThroughput = measureCodec(s, Math.max(1.5, s.seconds() / 4), memory);
        LoadGenerator.Window measured = runPoint(s, dir);
        LoopbackCeiling loopback = measureLoopback(s.valueBytes(), s.loopbackSeconds());

        List<BenchResult> results = List.of(BenchResult.of(s, measured, loopback, memory, codecThroughput));
        out.println();
        BenchResult.printTable(out, results);
        printCeilings(memory, loopback == null ? List.of() : List.of(loopback));
        if (json.wanted()) {
            BenchResult.writeJson(json.file, results, extra(memory, loopback == null ? List.of() : List.of(loopback), null));
            out.println("results written to " + json.file);
        }
        return 0;
    }

    // ---- sweep ------------------------------------------------------------------------------------

    private int sweep() throws Exception {
        for (String flag : List.of("--value-bytes", "--shards", "--servers", "--workers", "--codec")) {
            if (given(flag)) {
                throw new IllegalArgumentException(flag + ": not used with --sweep; give the sweep's values with --sweep-"
                        + switch (flag) {
                            case "--value-bytes" -> "sizes";
                            case "--codec" -> "codecs";
                            case "--servers" -> "shards";
                            default -> flag.substring(2);
                        });
            }
        }
        BenchMode m = BenchMode.parse(mode);
        String codecs = sweepCodecs != null ? sweepCodecs : m == BenchMode.PUSH ? SweepPlan.DEFAULT_CODECS : "none";
        SweepPlan plan = SweepPlan.parse(or(sweepSizes, SweepPlan.DEFAULT_SIZES), or(sweepShards, SweepPlan.DEFAULT_SHARDS),
                or(sweepWorkers, SweepPlan.DEFAULT_WORKERS), codecs, sweepFull);
        if (m != BenchMode.PUSH) {
            plan.codecs().stream().filter(c -> c.kind() != Codec.Kind.NONE).findFirst().ifPresent(c -> {
                throw new IllegalArgumentException("--sweep-codecs " + c + ": codecs are benchmarked with --mode push only, got --mode "
                        + m.cliName());
            });
        }
        checkBandwidthSeconds();
        double sec = or(seconds, SWEEP_SECONDS);
        double warm = or(warmupSeconds, SWEEP_WARMUP);
        double loop = or(loopbackSeconds, SWEEP_LOOPBACK);
        // Every point validated before anything starts.
        List<BenchSettings> points = new ArrayList<>();
        for (SweepPlan.Point p : plan.points()) {
            points.add(settings(p.valueBytes(), p.shards(), p.workers(), p.codec().toString(), sec, warm, loop));
        }
        Path dir = runDir.resolve("bench-sweep");
        Path outDir = sweepOut != null ? sweepOut : dir;
        BenchSettings first = points.get(0);
        MachineInfo machine = MachineInfo.current();
        out.printf(Locale.ROOT, "gpups bench --sweep: %d points, %s, %s, %s, device %s; %.1f s warmup + %.1f s measured "
                        + "each, fresh shards for each; logs: %s, results: %s%nmachine: %s%n",
                points.size(), first.mode().cliName(), first.optimizerName(), first.consistency(), first.device(), warm, sec,
                dir, outDir, machine);

        double loadAtStart = MachineInfo.loadAverage();
        DeviceBandwidth memory = measureBandwidth(first.device());
        printCeilings(memory, List.of());
        Map<Integer, LoopbackCeiling> loopback = new LinkedHashMap<>();
        List<BenchResult> results = new ArrayList<>();
        long start = System.nanoTime();
        BenchResult.printHeader(out);
        for (int i = 0; i < points.size(); i++) {
            BenchSettings s = points.get(i);
            CodecThroughput ct = measureCodec(s, Math.min(1.0, Math.max(0.3, sec / 4)), memory);
            Path pointDir = dir.resolve(String.format(Locale.ROOT, "%02d-%s-%s-%ds-%dw-%s", i + 1, s.mode().cliName(),
                    SweepCharts.bytes(s.valueBytes()), s.shards(), s.workers(), s.codec().toString().replace(':', '_')));
            LoadGenerator.Window w = runPoint(s, pointDir);
            // Measured after the point's shards stopped, once per size: nothing else is running then.
            if (!loopback.containsKey(s.valueBytes())) {
                loopback.put(s.valueBytes(), measureLoopback(s.valueBytes(), loop));
            }
            BenchResult r = BenchResult.of(s, w, loopback.get(s.valueBytes()), memory, ct);
            results.add(r);
            BenchResult.printLine(out, r);
        }
        List<LoopbackCeiling> ceilings = loopback.values().stream().filter(c -> c != null).toList();
        out.printf(Locale.ROOT, "%d points in %.0f s; 1-minute load average %.2f at the start, %.2f now%n", points.size(),
                (System.nanoTime() - start) / 1e9, loadAtStart, MachineInfo.loadAverage());
        printCeilings(null, ceilings);

        ObjectNode headline = headline(results, memory);
        ObjectNode extra = extra(memory, ceilings, machine);
        ((ObjectNode) extra.get("machine")).put("load_average_1m_at_start", loadAtStart)
                .put("load_average_1m_at_end", MachineInfo.loadAverage());
        extra.set("headline", headline);
        Path jsonFile = outDir.resolve("results.json");
        Path csvFile = outDir.resolve("results.csv");
        BenchResult.writeJson(jsonFile, results, extra);
        BenchResult.writeCsv(csvFile, results);
        String subtitle = String.format(Locale.ROOT, "%s; %s, %s, device %s, %.1f s per point", machine.cpuModel() + ", "
                + machine.logicalCpus() + " CPUs", first.optimizerName(), first.consistency(), first.device(), sec);
        List<Path> charts = SweepCharts.write(outDir, results, ceilings, memory, subtitle);
        if (json.wanted()) {
            BenchResult.writeJson(json.file, results, extra);
        }
        out.println("headline: " + headline);
        out.println("written: " + jsonFile + ", " + csvFile + ", " + charts);
        return 0;
    }

    /**
     * The three numbers: the fraction of loopback TCP reached by 16 MiB pushes (base shard and worker count,
     * no codec), the fraction of memory bandwidth reached by the optimizer apply (end to end in that point, and the
     * kernel alone), and 4 KiB push ops/s; null where the sweep had no such point.
     */
    private static ObjectNode headline(List<BenchResult> results, DeviceBandwidth memory) {
        ObjectNode h = new ObjectMapper().createObjectNode();
        BenchSettings base = results.get(0).settings();
        BenchResult big = find(results, HEADLINE_BYTES, base);
        BenchResult small = find(results, 4096, base);
        String where = String.format(Locale.ROOT, "%s, %d shard(s), %d worker(s), %s, no codec", base.mode().cliName(),
                base.shards(), base.workers(), base.optimizerName());
        h.put("point", where);
        number(h, "fraction_of_loopback_16MiB", big == null ? Double.NaN : big.fractionOfLoopback());
        number(h, "fraction_of_memory_bandwidth_16MiB", big == null ? Double.NaN : big.fractionOfMemoryBandwidth());
        number(h, "adam_kernel_fraction_of_memory_bandwidth", memory == null ? Double.NaN : memory.adamFractionOfTriad());
        number(h, "ops_per_second_4KiB", small == null ? Double.NaN : small.opsPerSecond());
        return h;
    }

    private static BenchResult find(List<BenchResult> results, int valueBytes, BenchSettings base) {
        return results.stream().filter(r -> r.settings().valueBytes() == valueBytes
                && r.settings().shards() == base.shards() && r.settings().workers() == base.workers()
                && r.settings().codec().kind() == Codec.Kind.NONE).findFirst().orElse(null);
    }

    private static void number(ObjectNode o, String field, double v) {
        if (Double.isFinite(v)) {
            o.put(field, v);
        } else {
            o.putNull(field);
        }
    }

    // ---- shared -----------------------------------------------------------------------------------

    private BenchSettings settings(long bytes, int shardCount, int workerCount, String codecName, double sec, double warm,
                                   double loop) {
        return BenchSettings.conclude(shardCount, workerCount, mode, bytes, optimizer, sec, warm, window, consistency,
                device.spec, loop, codecName, transport);
    }

    /** Starts the shards of one point, runs the load, stops them. */
    private LoadGenerator.Window runPoint(BenchSettings s, Path dir) throws Exception {
        try (ChildProcesses children = new ChildProcesses(dir)) {
            long start = System.nanoTime();
            List<InetSocketAddress> addresses = LocalShards.start(children, s.shards(), s.workers(),
                    s.consistency().toString(), shard -> s.device(), shard -> shardMetricsPort == 0 ? List.of()
                            : List.of("--metrics-port", "" + (shardMetricsPort + shard), "--metrics-bind", "127.0.0.1"));
            if (!sweep) {
                out.printf(Locale.ROOT, "shards listening on %s (%.1f s)%n", addresses, (System.nanoTime() - start) / 1e9);
            }
            try (LoadGenerator load = LoadGenerator.connect(addresses, s)) {
                return load.run();
            } catch (IllegalStateException | io.gpups.worker.client.PsException e) {
                throw new CliException(e.getMessage() + " (shard logs in " + dir + ")");
            }
        }
    }

    private DeviceBandwidth measureBandwidth(String deviceName) {
        if (bandwidthSeconds == 0) {
            return null;
        }
        try (Device dev = Devices.installed().open(deviceName, out::println)) {
            return DeviceBandwidth.measure(dev, DeviceBandwidth.DEFAULT_ELEMENTS, bandwidthSeconds);
        }
    }

    private CodecThroughput measureCodec(BenchSettings s, double sec, DeviceBandwidth memory) {
        if (s.codec().kind() == Codec.Kind.NONE) {
            return null;
        }
        try (Device dev = Devices.installed().open(s.device(), out::println)) {
            return CodecThroughput.measure(dev, s.codec(), Math.min(s.elements(), 1 << 22), sec,
                    memory == null ? Double.NaN : memory.triadBytesPerSecond());
        }
    }

    private static LoopbackCeiling measureLoopback(int bytes, double sec) throws Exception {
        return sec > 0 ? LoopbackCeiling.measure(bytes, Math.min(0.75, sec / 2), sec) : null;
    }

    private void printCeilings(DeviceBandwidth memory, List<LoopbackCeiling> loopback) {
        if (memory != null) {
            out.printf(Locale.ROOT, "memory bandwidth of device %s: triad a += s*b %.2f GB/s (%d B/elem, %d-element arrays); "
                            + "Adam apply %.2f GB/s (%d B/elem) = %.3f of the triad%n",
                    memory.device(), memory.triadBytesPerSecond() / 1e9, DeviceBandwidth.TRIAD_BYTES_PER_ELEMENT,
                    memory.elements(), memory.adamBytesPerSecond() / 1e9, DeviceBandwidth.ADAM_BYTES_PER_ELEMENT,
                    memory.adamFractionOfTriad());
        }
        for (LoopbackCeiling c : loopback) {
            out.printf(Locale.ROOT, "loopback TCP, %d-byte messages: Netty %.1f MB/s, blocking sockets %.1f MB/s; ceiling %s%n",
                    c.messageBytes(), c.nettyBytesPerSecond() / 1e6, c.socketBytesPerSecond() / 1e6, c.source());
        }
    }

    private static ObjectNode extra(DeviceBandwidth memory, List<LoopbackCeiling> loopback, MachineInfo machine) {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode extra = mapper.createObjectNode();
        extra.set("machine", (machine != null ? machine : MachineInfo.current()).toJson(mapper));
        extra.set("ceilings", BenchResult.ceilingsJson(memory, loopback));
        return extra;
    }

    private void checkBandwidthSeconds() {
        if (!(bandwidthSeconds >= 0) || Double.isInfinite(bandwidthSeconds)) {
            throw new IllegalArgumentException("--bandwidth-seconds " + bandwidthSeconds + ": must be a finite number >= 0");
        }
    }

    private boolean given(String option) {
        return spec.commandLine().getParseResult().hasMatchedOption(option);
    }

    private static double or(Double v, double fallback) {
        return v != null ? v : fallback;
    }

    private static String or(String v, String fallback) {
        return v != null ? v : fallback;
    }
}
