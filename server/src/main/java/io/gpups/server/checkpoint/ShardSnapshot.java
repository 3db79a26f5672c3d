package io.gpups.server.checkpoint;

import io.gpups.core.config.Consistency;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.TensorSpec;

import java.util.List;

/**
 * A host copy of everything one shard holds, taken on its agent thread at one point between two requests,
 * so it is consistent; written to files afterwards by another thread.
 *
 * @param label     names the checkpoint (the directory is {@code ckpt-<label>-<shards>shards})
 * @param createdMs wall-clock time of the snapshot
 * @param tables    this shard's part of every registered embedding table
 */
public record ShardSnapshot(String label, int shard, int shards, int workers, Consistency consistency,
                            long createdMs, List<TensorSnapshot> tensors, List<TableSnapshot> tables) {

    public ShardSnapshot {
        tensors = List.copyOf(tensors);
        tables = tables == null ? List.of() : List.copyOf(tables);
    }

    /** A snapshot of dense tensors only. */
    public ShardSnapshot(String label, int shard, int shards, int workers, Consistency consistency, long createdMs,
                         List<TensorSnapshot> tensors) {
        this(label, shard, shards, workers, consistency, createdMs, tensors, List.of());
    }

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

    /**
     * This shard's rows of an embedding table, in slot order, with the table's clock (its requests so far). Row i is
     * {@code ids[i]}; its values are elements {@code [i * dim, (i + 1) * dim)} of {@code values} concatenated (pages of
     * whole rows, so no array needs to hold a whole large table), its optimizer state likewise in {@code state.get(k)},
     * one list per slot in the device's order ({@link Manifest#slotNames}), and its counters {@code steps[i]},
     * {@code lastTouch[i]} and {@code touches[i]} ({@link io.gpups.core.table.RowTable#readCounters}).
     */
    public record TableSnapshot(TableSpec spec, long clock, long[] ids, List<float[]> values, List<List<float[]>> state,
                                long[] steps, long[] lastTouch, long[] touches) {
        public TableSnapshot {
            int n = ids.length;
            if (steps.length != n || lastTouch.length != n || touches.length != n) {
                throw new IllegalArgumentException("table '" + spec.name() + "': " + n + " ids but " + steps.length
                        + " steps, " + lastTouch.length + " last touches and " + touches.length + " touch counts");
            }
            long elements = (long) n * spec.dim();
            if (elements(values) != elements) {
                throw new IllegalArgumentException("table '" + spec.name() + "': " + n + " rows of dim " + spec.dim()
                        + " need " + elements + " values, got " + elements(values));
            }
            if (state.size() != spec.optimizer().slots()) {
                throw new IllegalArgumentException("table '" + spec.name() + "': " + spec.optimizer().kind().cliName()
                        + " keeps " + spec.optimizer().slots() + " state slot(s), got " + state.size());
            }
            for (int k = 0; k < state.size(); k++) {
                if (elements(state.get(k)) != elements) {
                    throw new IllegalArgumentException("table '" + spec.name() + "': state slot " + k + " holds "
                            + elements(state.get(k)) + " values, expected " + elements);
                }
            }
        }

        public int rows() {
            return ids.length;
        }

        private static long elements(List<float[]> parts) {
            long n = 0;
            for (float[] p : parts) {
                n += p.length;
            }
            return n;
        }
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
