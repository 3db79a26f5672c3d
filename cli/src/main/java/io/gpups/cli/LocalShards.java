package io.gpups.cli;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.IntFunction;

/** Starts N shard processes on 127.0.0.1 and waits until each listens. */
final class LocalShards {

    private LocalShards() {
    }

    static List<InetSocketAddress> start(ChildProcesses children, int shards, int workers, String consistency,
                                         String device, List<String> extraArgs) throws Exception {
        return start(children, shards, workers, consistency, s -> device, extraArgs);
    }

    /** As above, shard {@code s} getting {@code --device deviceOfShard(s)} (see {@link GpuPlacement}). */
    static List<InetSocketAddress> start(ChildProcesses children, int shards, int workers, String consistency,
                                         IntFunction<String> deviceOfShard, List<String> extraArgs) throws Exception {
        return start(children, shards, workers, consistency, deviceOfShard, s -> extraArgs);
    }

    /** As above, shard {@code s} also getting {@code extraArgsOfShard(s)} (its own metrics port, say). */
    static List<InetSocketAddress> start(ChildProcesses children, int shards, int workers, String consistency,
                                         IntFunction<String> deviceOfShard, IntFunction<List<String>> extraArgsOfShard)
            throws Exception {
        List<CompletableFuture<Integer>> ports = new ArrayList<>();
        List<ChildProcesses.Child> started = new ArrayList<>();
        for (int s = 0; s < shards; s++) {
            CompletableFuture<Integer> port = new CompletableFuture<>();
            List<String> args = shardArgs(s, 0, shards, workers, consistency, deviceOfShard.apply(s), extraArgsOfShard.apply(s));
            ChildProcesses.Child child = startShard(children, "server-" + s, args, port);
            child.exit().thenAccept(code -> port.completeExceptionally(new CliException(
                    "shard " + child.name() + " exited with code " + code + " before listening; its log "
                            + child.log() + " ends with:\n" + ChildProcesses.tail(child, 15))));
            ports.add(port);
            started.add(child);
        }
        List<InetSocketAddress> addresses = new ArrayList<>();
        for (int s = 0; s < shards; s++) {
            try {
                addresses.add(new InetSocketAddress("127.0.0.1", ports.get(s).get(120, TimeUnit.SECONDS)));
            } catch (ExecutionException e) {
                throw e.getCause() instanceof CliException c ? c : new CliException(e.getCause().toString());
            } catch (TimeoutException e) {
                throw new CliException("shard " + s + " did not listen within 120 s; see " + started.get(s).log());
            }
        }
        return addresses;
    }

    /** The command line of shard {@code s}. */
    static List<String> shardArgs(int s, int port, int shards, int workers, String consistency, String device,
                                  List<String> extraArgs) {
        List<String> args = new ArrayList<>(List.of("server", "--bind", "127.0.0.1", "--port", "" + port,
                "--shard", "" + s, "--shards", "" + shards, "--workers", "" + workers,
                "--consistency", consistency, "--device", device));
        args.addAll(extraArgs);
        return args;
    }

    /** Starts one shard process ({@code args} from {@link #shardArgs}); {@code port} completes with the port it listens on. */
    static ChildProcesses.Child startShard(ChildProcesses children, String name, List<String> args,
                                           CompletableFuture<Integer> port) throws java.io.IOException {
        return children.start(name, jvmOptions(shardCount(args), Runtime.getRuntime().availableProcessors()), args, line -> {
            if (line.startsWith(ServerCommand.READY)) {
                port.complete(Integer.parseInt(line.substring(ServerCommand.READY.length()).trim()));
            }
        });
    }

    /**
     * The JVM options of a shard process that shares this machine with {@code shards - 1} others: each one's CPU
     * device splits its large ops over its share of the cores ({@code cores / shards}, at least 1), unless
     * {@code -Dgpups.cpu.threads} was given to this command (it reaches the shards as given). Every shard splitting
     * over every core made co-located shards' threads fight for the same cores.
     */
    static List<String> jvmOptions(int shards, int cores) {
        List<String> options = new ArrayList<>(List.of("-Xms256m", "-Xmx2g"));
        if (System.getProperty(CPU_THREADS_PROPERTY) == null) {
            options.add("-D" + CPU_THREADS_PROPERTY + "=" + Math.max(1, cores / Math.max(1, shards)));
        }
        return options;
    }

    /** The CPU device's thread count property (io.gpups.nativecpu.CpuDevice.THREADS_PROPERTY). */
    static final String CPU_THREADS_PROPERTY = "gpups.cpu.threads";

    static int shardCount(List<String> args) {
        int at = args.indexOf("--shards");
        if (at < 0 || at + 1 >= args.size()) {
            throw new IllegalArgumentException("shard arguments without --shards: " + args);
        }
        return Integer.parseInt(args.get(at + 1));
    }
}
