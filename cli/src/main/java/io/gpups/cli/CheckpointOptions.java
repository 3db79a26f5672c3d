package io.gpups.cli;

import io.gpups.server.checkpoint.CheckpointSchedule;
import io.gpups.server.checkpoint.CheckpointSettings;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code gpups server}'s checkpoint options. */
final class CheckpointOptions {

    @Option(names = "--checkpoint-dir", description = "Write checkpoints under this directory: on `gpups checkpoint`, "
            + "every --checkpoint-every, and when the shard stops cleanly (SHUTDOWN, SIGTERM). Shards of one job "
            + "should share it (a shared volume), so each checkpoint directory gets every shard's part.")
    Path directory;

    @Option(names = "--checkpoint-every", description = "Also checkpoint on schedule: N seconds (30s, 10m, 1h, or a bare 30) "
            + "or N steps (500steps: whenever every chunk of the shard reaches a multiple of N updates; under bsp, "
            + "every shard then writes the same step).")
    String every;

    @Option(names = "--checkpoint-keep", defaultValue = "" + CheckpointSettings.DEFAULT_KEEP,
            description = "Complete checkpoints kept in --checkpoint-dir; older ones are deleted. 0 keeps all (default: ${DEFAULT-VALUE}).")
    int keep;

    @Option(names = "--restore", description = "Restore from the newest complete checkpoint in DIR (a --checkpoint-dir, "
            + "or one ckpt-* directory): chunks are filled from it as clients register them, whatever the shard count "
            + "was. A torn or corrupt newest checkpoint is logged and the previous one used. DIR missing or holding no "
            + "checkpoint is an error (the shard does not start), unless --restore-if-present.")
    Path restore;

    @Option(names = "--restore-if-present", description = "With --restore: a DIR that is missing or holds no checkpoint "
            + "yet is only logged, and chunks start from their initializers (workers that had trained past step 0 then "
            + "refuse to go on unless they run with --allow-reset).")
    boolean restoreIfPresent;

    /** The same options as {@code gpups server} arguments (paths made absolute), for child shard processes. */
    java.util.List<String> asArgs() {
        java.util.List<String> args = new java.util.ArrayList<>();
        if (directory != null) {
            args.addAll(java.util.List.of("--checkpoint-dir", directory.toAbsolutePath().toString(), "--checkpoint-keep", "" + keep));
        }
        if (every != null) {
            args.addAll(java.util.List.of("--checkpoint-every", every));
        }
        if (restore != null) {
            args.addAll(java.util.List.of("--restore", restore.toAbsolutePath().toString()));
        }
        if (restoreIfPresent) {
            args.add("--restore-if-present");
        }
        return args;
    }

    CheckpointSettings settings() {
        if (restoreIfPresent && restore == null) {
            throw new IllegalArgumentException("--restore-if-present needs --restore DIR");
        }
        return new CheckpointSettings(directory, every == null ? null : CheckpointSchedule.parse(every), keep, restore,
                restoreIfPresent);
    }
}
