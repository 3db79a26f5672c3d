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
 * @param restoreIfPresent whether a {@code restore} directory that is missing or holds no checkpoint at all is
 *                  only logged, the chunks then starting from their initializers ({@code --restore-if-present});
 *                  false: the shard refuses to start. Checkpoints that are there but none usable are always an error.
 */
public record CheckpointSettings(Path directory, CheckpointSchedule every, int keep, Path restore, boolean restoreIfPresent) {

    public static final int DEFAULT_KEEP = 3;

    public CheckpointSettings {
        if (every != null && directory == null) {
            throw new IllegalArgumentException("--checkpoint-every needs --checkpoint-dir");
        }
        if (keep < 0) {
            throw new IllegalArgumentException("--checkpoint-keep must be >= 0, got " + keep);
        }
    }

    /** Settings where {@code --restore DIR} must find a checkpoint. */
    public CheckpointSettings(Path directory, CheckpointSchedule every, int keep, Path restore) {
        this(directory, every, keep, restore, false);
    }

    public static CheckpointSettings none() {
        return new CheckpointSettings(null, null, DEFAULT_KEEP, null);
    }

    public boolean writes() {
        return directory != null;
    }
}
