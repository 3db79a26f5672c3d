package io.gpups.worker.train;

/**
 * A shard came back from a restart with its parameters at their initial values while this worker had trained
 * past them (the shard was started again without {@code --restore}, or from a directory with no checkpoint):
 * going on would roll that shard back to step 0 while the others keep their state. The worker stops with this
 * unless it runs with {@code --allow-reset}.
 */
public final class ShardResetException extends RuntimeException {

    private final int shard;

    ShardResetException(int shard, String message) {
        super(message);
        this.shard = shard;
    }

    /** The shard that came back empty. */
    public int shard() {
        return shard;
    }

    /**
     * The first shard that came back empty, or null. A shard is empty when every chunk of it asked now
     * ({@code now[s]}) is at version 0, while this worker had seen it at a later version before it was lost
     * ({@code seen[s]}): versions only grow on a shard that keeps its state, so only a restart without restore
     * brings them back to 0. A shard restored from a checkpoint comes back at the checkpoint's versions, which
     * may be behind the others; that is what {@code --restore} asks for, and is not refused here.
     *
     * @param seen the highest version each shard's pull answers carried before the loss (-1: none)
     * @param now  each shard's versions asked after the reconnect (-1: it holds no chunk)
     * @param step the step this worker was at when it lost the shard
     */
    static ShardResetException check(long[] seen, long[] now, long step) {
        for (int s = 0; s < Math.min(seen.length, now.length); s++) {
            if (now[s] == 0 && seen[s] > 0) {
                StringBuilder others = new StringBuilder();
                for (int o = 0; o < now.length; o++) {
                    if (o != s && now[o] >= 0) {
                        others.append(others.length() == 0 ? "; shard " : ", shard ").append(o).append(" is at version ")
                                .append(now[o]);
                    }
                }
                return new ShardResetException(s, "shard " + s + " came back with its chunks at version 0, their initial "
                        + "values, but this worker was at step " + step + " and had seen shard " + s + " at version " + seen[s]
                        + others + ". It was restarted without --restore (or from a directory with no checkpoint): going "
                        + "on would train it again from its initial values while the other shards keep theirs. Restart it "
                        + "with --restore <checkpoint dir>, or run the workers with --allow-reset to go on from there");
            }
        }
        return null;
    }
}
