package io.gpups.server.checkpoint;

import io.gpups.core.config.Consistency;
import io.gpups.core.tensor.TensorSpec;

import java.util.List;

/**
 * A host copy of everything one shard holds, taken on its agent thread at one point between two requests,
 * so it is consistent; written to files afterwards by another thread.
 *
 * @param label     names the checkpoint (the directory is {@code ckpt-<label>-<shards>shards})
 * @param createdMs wall-clock time of the snapshot
 */
public record ShardSnapshot(String label, int shard, int shards, int workers, Consistency consistency,
                            long createdMs, List<TensorSnapshot> tensors) {

    /** A registered tensor and the chunks of it this shard holds, in ascending chunk order. */
    public record TensorSnapshot(TensorSpec spec, int chunkElements, int chunkCount, List<ChunkSnapshot> chunks) {
        /** True when this shard holds every chunk of the tensor. */
        public boolean whole() {
            return chunks.size() == chunkCount;
        }
    }

    /**
     * One chunk: elements {@code [offset, offset + length)} of its tensor, its version (updates applied) and
     * its parameters and optimizer slots (in the device's slot order, see {@link Manifest#slotNames}).
     */
    public record ChunkSnapshot(int index, long offset, int length, long version, float[] param, float[][] slots) {
    }

    /** The smallest chunk version, or 0 when the shard holds no chunk. */
    public long minVersion() {
        return minVersion(tensors);
    }

    public static long minVersion(List<TensorSnapshot> tensors) {
        long min = Long.MAX_VALUE;
        for (TensorSnapshot t : tensors) {
            for (ChunkSnapshot c : t.chunks()) {
                min = Math.min(min, c.version());
            }
        }
        return min == Long.MAX_VALUE ? 0 : min;
    }

    public int chunkCount() {
        return tensors.stream().mapToInt(t -> t.chunks().size()).sum();
    }

    /** The checkpoint directory's name. */
    public String directoryName() {
        return directoryName(label, shards);
    }

    public static String directoryName(String label, int shards) {
        return "ckpt-" + label + "-" + shards + "shards";
    }
}
