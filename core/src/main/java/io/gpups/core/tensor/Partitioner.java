package io.gpups.core.tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Places every chunk of a model's tensors on a shard, deterministically from the tensor list (in
 * registration order), the shard count and the chunk size, so workers and shards agree without talking.
 * Placement balances bytes: each chunk, in order, goes to the shard holding the fewest bytes so far
 * (ties to the lowest shard index).
 */
public final class Partitioner {

    private Partitioner() {
    }

    /** Where each chunk of each tensor lives. */
    public record Placement(int shards, Map<String, TensorPlacement> tensors, long[] bytesPerShard) {
        public TensorPlacement of(String tensor) {
            TensorPlacement p = tensors.get(tensor);
            if (p == null) {
                throw new IllegalArgumentException("tensor '" + tensor + "' is not part of this placement");
            }
            return p;
        }
    }

    /** One tensor: its chunk layout and the shard of each chunk. */
    public record TensorPlacement(TensorSpec spec, ChunkLayout layout, int[] shardOfChunk) {
        /** The chunk indices held by {@code shard}, ascending. */
        public int[] chunksOn(int shard) {
            List<Integer> mine = new ArrayList<>();
            for (int c = 0; c < shardOfChunk.length; c++) {
                if (shardOfChunk[c] == shard) {
                    mine.add(c);
                }
            }
            return mine.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    public static Placement place(List<TensorSpec> tensors, int shards, int chunkBytes) {
        if (shards <= 0) {
            throw new IllegalArgumentException("shards must be > 0, got " + shards);
        }
        if (chunkBytes < 4 || chunkBytes % 4 != 0) {
            throw new IllegalArgumentException("chunk bytes must be a positive multiple of 4, got " + chunkBytes);
        }
        int chunkElements = chunkBytes / 4;
        long[] load = new long[shards];
        Map<String, TensorPlacement> out = new LinkedHashMap<>();
        for (TensorSpec spec : tensors) {
            if (out.containsKey(spec.name())) {
                throw new IllegalArgumentException("tensor '" + spec.name() + "' appears twice in the model");
            }
            ChunkLayout layout = new ChunkLayout(spec.elements(), chunkElements);
            int[] shardOf = new int[layout.chunks()];
            for (int c = 0; c < shardOf.length; c++) {
                int best = 0;
                for (int s = 1; s < shards; s++) {
                    if (load[s] < load[best]) {
                        best = s;
                    }
                }
                shardOf[c] = best;
                load[best] += 4L * layout.length(c);
            }
            out.put(spec.name(), new TensorPlacement(spec, layout, shardOf));
        }
        return new Placement(shards, Map.copyOf(out), load);
    }
}
