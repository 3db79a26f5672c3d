package io.gpups.server.checkpoint;

import java.nio.file.Path;

/**
 * A shard's checkpoint options; every part may be absent.
 *
 * @param directory where checkpoints are written ({@code --checkpoint-dir}); null: never written (CHECKPOINT
 *                  requests are refused, nothing is written at shutdown)
 * @param every     when to write on its own ({@code --checkpoint-every}); null: only on request and at shutdown
 * @param keep      complete checkpoints kept in {@code directory} ({@code --checkpoint-keep}); 0 keeps all
 * @param restore   a checkpoint, or a directory of them, whose newest complete one fills registered chunks
 *                  ({@code --restore}); null: chunks start from their initializers
 */
public record CheckpointSettings(Path directory, CheckpointSchedule every, int keep, Path restore) {

    public static final int DEFAULT_KEEP = 3;

    public CheckpointSettings {
        if (every != null && directory == null) {
            throw new IllegalArgumentException("--checkpoint-every needs --checkpoint-dir");
        }
        if (keep < 0) {
            throw new IllegalArgumentException("--checkpoint-keep must be >= 0, got " + keep);
        }
    }

    public static CheckpointSettings none() {
        return new CheckpointSettings(null, null, DEFAULT_KEEP, null);
    }

    public boolean writes() {
        return directory != null;
    }
}
