package io.gpups.cli;

import io.gpups.cli.bench.BenchResult;
import io.gpups.cli.bench.BenchSettings;
import io.gpups.cli.bench.CodecThroughput;
import io.gpups.cli.bench.LoadGenerator;
import io.gpups.cli.bench.LoopbackCeiling;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code gpups bench}: update throughput of real shard processes on this machine. Starts N shards on
 * 127.0.0.1, drives them from M closed-loop worker threads in this process (see {@link LoadGenerator} for
 * steps, clocks and the measured window), stops the shards, then measures what plain loopback TCP carries
 * with the same message size, as a ceiling to compare the goodput with.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Measure push/pull throughput and latency against N local shard processes.")
final class BenchCommand implements Callable<Integer> {

    @Option(names = "--servers", defaultValue = "1", description = "Shard processes (default: ${DEFAULT-VALUE}).")
    int servers;

    @Option(names = "--workers", defaultValue = "1", description = "Closed-loop worker threads, one connection to every shard each (default: ${DEFAULT-VALUE}).")
    int workers;

    @Option(names = "--mode", defaultValue = "push", description = "push, pull or pushpull (default: ${DEFAULT-VALUE}).")
    String mode;

    @Option(names = "--value-bytes", defaultValue = "16777216",
            description = "Size of the one float32 tensor, so of every push and pull; a multiple of 4, at most 1 GiB (default: ${DEFAULT-VALUE}).")
    long valueBytes;

    @Option(names = "--optimizer", defaultValue = "adam",
            description = "sgd, momentum, nesterov, adagrad, adam or adamw, lr 1e-3 (default: ${DEFAULT-VALUE}).")
    String optimizer;

    @Option(names = "--seconds", defaultValue = "10", description = "Measured seconds (default: ${DEFAULT-VALUE}).")
    double seconds;

    @Option(names = "--warmup-seconds", defaultValue = "2", description = "Load before measuring (default: ${DEFAULT-VALUE}).")
    double warmupSeconds;

    @Option(names = "--window", description = "Operations in flight per worker (default: 64 up to 64 KiB values, "
            + "8 up to 1 MiB, 2 above; 1 under bsp with push or pushpull, the only value allowed there).")
    Integer window;

    @Option(names = "--consistency", defaultValue = "asp", description = "asp, bsp or ssp:S (default: ${DEFAULT-VALUE}).")
    String consistency;

    @Option(names = "--device", defaultValue = "auto", description = "The shards' device: auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--loopback-seconds", defaultValue = "2",
            description = "Length of the loopback-TCP ceiling measurement; 0 skips it (default: ${DEFAULT-VALUE}).")
    double loopbackSeconds;

    @Option(names = "--codec", defaultValue = "none",
            description = "Gradient codec for --mode push: none, fp16, bf16, int8, topk:R, randomk:R or sign; also measures "
                    + "its encode and decode throughput on the device (default: ${DEFAULT-VALUE}).")
    String codec;

    @Option(names = "--json", description = "Also write the results as JSON, {\"results\":[...]}, to this file.")
    Path json;

    @Option(names = "--run-dir", description = "Where the shards' logs go (default: runs/bench-<time>).")
    Path runDir;

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        BenchSettings s = BenchSettings.conclude(servers, workers, mode, valueBytes, optimizer, seconds, warmupSeconds,
                window, consistency, device, loopbackSeconds, codec);
        Path dir = RunDirectory.resolve(runDir, "bench");
        out.printf(Locale.ROOT, "gpups bench: %s, %d-byte values (%d float32), %d shard(s), %d worker(s), window %d, "
                        + "%s, %s, device %s; %.1f s warmup, %.1f s measured; logs: %s%n",
                s.mode().cliName(), s.valueBytes(), s.elements(), s.servers(), s.workers(), s.window(), s.optimizerName(),
                s.consistency(), s.device(), s.warmupSeconds(), s.seconds(), dir);

        CodecThroughput codecThroughput = null;
        if (s.codec().kind() != io.gpups.core.codec.Codec.Kind.NONE) {
            try (Device dev = Devices.installed().open(s.device(), line -> out.println(line))) {
                codecThroughput = CodecThroughput.measure(dev, s.codec(), Math.min(s.elements(), 1 << 22), Math.max(1.5, s.seconds() / 4));
            }
        }
        LoadGenerator.Window measured;
        try (ChildProcesses children = new ChildProcesses(dir)) {
            long start = System.nanoTime();
            List<InetSocketAddress> addresses = LocalShards.start(children, s.servers(), s.workers(),
                    s.consistency().toString(), s.device(), List.of());
            out.printf(Locale.ROOT, "shards listening on %s (%.1f s)%n", addresses, (System.nanoTime() - start) / 1e9);
            try (LoadGenerator load = LoadGenerator.connect(addresses, s)) {
                measured = load.run();
            } catch (IllegalStateException | io.gpups.worker.client.PsException e) {
                throw new CliException(e.getMessage() + " (shard logs in " + dir + ")");
            }
        }

        double loopback = Double.NaN;
        if (s.loopbackSeconds() > 0) {
            loopback = LoopbackCeiling.measure(s.valueBytes(), Math.min(0.5, s.loopbackSeconds() / 4), s.loopbackSeconds());
        }
        List<BenchResult> results = List.of(BenchResult.of(s, measured, loopback, codecThroughput));
        out.println();
        BenchResult.printTable(out, results);
        if (json != null) {
            BenchResult.writeJson(json, results);
            out.println("results written to " + json);
        }
        return 0;
    }
}
