package io.gpups.cli;

import io.gpups.server.checkpoint.CheckpointCatalog;
import io.gpups.server.checkpoint.Manifest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/**
 * {@code gpups inspect DIR}: what a checkpoint (or a directory of them) holds, and whether each is complete.
 * Exit code 0 when at least one complete checkpoint is there, 1 when none.
 */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "List the checkpoints in DIR (a --checkpoint-dir or one ckpt-* directory): complete or not and why, "
                + "tensors, shapes, chunks, versions, optimizers, tables and their rows per shard, files. Exit code 1 when"
                + " none is complete.")
final class InspectCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "DIR", description = "A checkpoint directory or a directory of them.")
    Path dir;

    @Option(names = "--chunks", description = "Also list every chunk: old shard, version, offset, length, safetensors entry.")
    boolean chunks;

    @Option(names = "--no-verify", description = "Skip the SHA-256 of every file (faster for large checkpoints).")
    boolean noVerify;

    @Override
    public Integer call() throws Exception {
        List<CheckpointCatalog.Found> all;
        try {
            all = CheckpointCatalog.scan(dir, !noVerify);
        } catch (java.io.IOException e) {
            throw new CliException(e.getMessage());
        }
        PrintStream out = System.out;
        print(out, dir, all, chunks);
        return all.stream().anyMatch(CheckpointCatalog.Found::complete) ? 0 : 1;
    }

    static void print(PrintStream out, Path dir, List<CheckpointCatalog.Found> all, boolean chunks) {
        out.println(dir + ": " + all.size() + " checkpoint(s), newest first");
        boolean newestComplete = true;
        for (CheckpointCatalog.Found f : all) {
            Manifest m = f.manifest();
            String status = f.complete() ? (newestComplete ? "complete (--restore uses this one)" : "complete")
                    : "NOT USABLE: " + f.problem();
            if (f.complete()) {
                newestComplete = false;
            }
            out.println();
            out.println(f.name() + "  " + status);
            if (m == null) {
                out.println("  " + f.partsFound() + " part(s) readable");
                continue;
            }
            long bytes = m.files().stream().mapToLong(Manifest.FileEntry::bytes).sum();
            int chunkCount = m.tensors().stream().mapToInt(t -> t.chunks().size()).sum();
            out.printf("  written %s; %d shard(s), %s, %d worker(s); %d tensor(s), %d chunk(s)%s, %d bytes%s%n",
                    Instant.ofEpochMilli(f.createdMs()), m.shards(), m.consistency(), m.workers(), m.tensors().size(),
                    chunkCount, m.tables().isEmpty() ? "" : ", " + m.tables().size() + " table(s)", bytes,
                    f.manifestFilePresent() ? "" : "; manifest.json not written yet");
            for (Manifest.TensorEntry t : m.tensors()) {
                long min = t.chunks().stream().mapToLong(Manifest.ChunkEntry::version).min().orElse(0);
                long max = t.chunks().stream().mapToLong(Manifest.ChunkEntry::version).max().orElse(0);
                String hyper = t.optimizer().hyperParameters().entrySet().stream()
                        .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(", "));
                out.printf("  %-24s %s %s  %d element(s), %d chunk(s) of %d  version %s  %s(%s)  state %s  init %s(%s, seed %d)%n",
                        t.name(), t.dtype(), Arrays.toString(t.shape()), t.elements(), t.chunkCount(), t.chunkElements(),
                        min == max ? Long.toString(min) : min + ".." + max, t.optimizer().kind(), hyper,
                        t.optimizer().slots().isEmpty() ? "none" : String.join(",", t.optimizer().slots()),
                        t.initializer().kind(), t.initializer().value(), t.initializer().seed());
                if (chunks) {
                    for (Manifest.ChunkEntry c : t.chunks()) {
                        out.printf("      chunk %d: shard %d, version %d, elements [%d, %d), %s %s @%d%s%n", c.chunk(), c.shard(),
                                c.version(), c.offset(), c.offset() + c.length(), c.file(), c.param(), c.entryOffset(),
                                c.state() == null || c.state().isEmpty() ? "" : " " + stateNames(c.state()));
                    }
                }
            }
            for (Manifest.TableEntry t : m.tables()) {
                String hyper = t.optimizer().hyperParameters().entrySet().stream()
                        .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(", "));
                String perShard = t.parts().stream().map(p -> p.shard() + ": " + p.rows())
                        .collect(Collectors.joining(", "));
                out.printf("  table %-18s dim %d, %d row(s) (shard %s), clock %d, %d rows/shard, eviction %s  %s(%s)"
                                + "  state %s  init %s(%s, seed %d)%n",
                        t.name(), t.dim(), t.rows(), perShard, t.clock(), t.capacity(), t.eviction(), t.optimizer().kind(),
                        hyper, t.optimizer().slots().isEmpty() ? "none" : String.join(",", t.optimizer().slots()),
                        t.initializer().kind(), t.initializer().value(), t.initializer().seed());
            }
            for (Manifest.FileEntry file : m.files()) {
                out.printf("  file %-22s %12d bytes  sha256 %s%n", file.name(), file.bytes(), file.sha256());
            }
        }
    }

    private static String stateNames(Map<String, String> state) {
        return String.join(" ", state.values());
    }
}
