package io.gpups.core.tensor;

import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Places every chunk of a model's tensors on a shard, so workers and shards agree without talking. The placement is
 * a pure function of the tensor list (names, sizes, order), the shard count and the chunk size: no hashing of names,
 * no iteration order of a hash map, nothing from the JVM.
 *
 * <h2>Rule</h2>
 * <ol>
 *   <li><b>Chunks.</b> Every tensor is cut into chunks of at most {@code chunkBytes} (a {@link ChunkLayout}).</li>
 *   <li><b>Largest first (LPT).</b> Chunks are taken by size, largest first (ties: registration order of the tensor,
 *       then chunk index), and each goes to the shard holding the fewest bytes so far (ties: the lowest shard).</li>
 *   <li><b>Pieces, when that is not balanced.</b> If a shard then holds more than {@link #MAX_IMBALANCE} times the
 *       mean, the model is laid out again in pieces and placed by step 2: every tensor larger than the piece size,
 *       the larger of total/{@value #PIECES} and {@value #MIN_PIECE_BYTES} bytes, is cut into equal chunks of at
 *       most that size. So, up to {@value #PIECES} shards, every tensor larger than total/shards (and than the
 *       floor) is cut. When the piece size is not below {@code chunkBytes} there is nothing finer to cut, and step 2's placement stands.</li>
 * </ol>
 *
 * <p>Why pieces bound the imbalance: when the chunk that ends on the fullest shard was placed, that shard held the
 * least, at most {@code (total - p) / shards} for a chunk of {@code p} bytes, so the fullest shard ends with at most
 * {@code mean + p (1 - 1/shards)}. With every chunk at most total/64 that is {@code mean (1 + (shards - 1) / 64)}:
 * within 1.15x of the mean up to 10 shards, for models of at least 64 pieces of the floor (4 MiB). Smaller models
 * have pieces larger relative to the whole, and a weaker bound (the default mlp:256,128, 0.9 MB in 19 chunks, is
 * within 1.07x on 2, 3 and 4 shards).
 *
 * <p>The piece size depends on the tensor list only, not on the shard count, so a checkpoint of a job that needed
 * pieces restores into another shard count that needs them too (a shard compares chunk sizes at restore).
 * A model already balanced with whole chunks keeps them: its layout is the one {@code chunkBytes} alone gives.
 */
public final class Partitioner {

    /** Most a shard may hold, as a multiple of the mean, before the model is laid out in pieces. */
    public static final double MAX_IMBALANCE = 1.15;
    /** Pieces are at most this fraction of the whole model... */
    static final int PIECES = 64;
    /** ...but never smaller than this: a small model is not cut into fragments that each cost a frame per step. */
    static final int MIN_PIECE_BYTES = 64 << 10;

    private Partitioner() {
    }

    /**
     * Where each chunk of each tensor lives.
     *
     * @param tensors       every tensor, in registration order (an unmodifiable map that iterates in that order)
     * @param bytesPerShard the float32 bytes each shard holds
     */
    public record Placement(int shards, Map<String, TensorPlacement> tensors, long[] bytesPerShard) {
        public TensorPlacement of(String tensor) {
            TensorPlacement p = tensors.get(tensor);
            if (p == null) {
                throw new IllegalArgumentException("tensor '" + tensor + "' is not part of this placement");
            }
            return p;
        }

        /** The fullest shard's bytes over the mean (1 when perfectly balanced; 1 for an empty model). */
        public double imbalance() {
            long total = 0;
            long max = 0;
            for (long b : bytesPerShard) {
                total += b;
                max = Math.max(max, b);
            }
            return total == 0 ? 1 : (double) max * shards / total;
        }
    }

    /** One tensor: its chunk layout and the shard of each chunk. */
    public record TensorPlacement(TensorSpec spec, ChunkLayout layout, int[] shardOfChunk) {
        /** The chunk indices held by {@code shard}, ascending. */
        public int[] chunksOn(int shard) {
            int count = 0;
            for (int s : shardOfChunk) {
                if (s == shard) {
                    count++;
                }
            }
            int[] mine = new int[count];
            int at = 0;
            for (int c = 0; c < shardOfChunk.length; c++) {
                if (shardOfChunk[c] == shard) {
                    mine[at++] = c;
                }
            }
            return mine;
        }
    }

    public static Placement place(List<TensorSpec> tensors, int shards, int chunkBytes) {
        if (shards <= 0) {
            throw new IllegalArgumentException("shards must be > 0, got " + shards);
        }
        if (chunkBytes < 4 || chunkBytes % 4 != 0) {
            throw new IllegalArgumentException("chunk bytes must be a positive multiple of 4, got " + chunkBytes);
        }
        long totalElements = 0;
        Set<String> seen = new HashSet<>();
        for (TensorSpec spec : tensors) {
            if (!seen.add(spec.name())) {
                throw new IllegalArgumentException("tensor '" + spec.name() + "' appears twice in the model");
            }
            totalElements += spec.elements();
        }
        int chunkElements = chunkBytes / 4;
        Placement whole = largestFirst(tensors, wholeChunks(tensors, chunkElements), shards);
        if (balanced(whole.bytesPerShard(), shards)) {
            return whole;
        }
        long piece = Math.max((totalElements + PIECES - 1) / PIECES, MIN_PIECE_BYTES / 4);
        if (piece >= chunkElements) {
            return whole;  // pieces would be whole chunks: nothing to cut finer
        }
        return largestFirst(tensors, inPieces(tensors, chunkElements, (int) piece), shards);
    }

    /** Fullest shard at most {@link #MAX_IMBALANCE} times the mean, in integers: 20 max shards <= 23 total. */
    private static boolean balanced(long[] bytesPerShard, int shards) {
        long total = 0;
        long max = 0;
        for (long b : bytesPerShard) {
            total += b;
            max = Math.max(max, b);
        }
        return 20 * max * shards <= 23 * total;
    }

    /** Every tensor in chunks of {@code chunkElements}: the layout {@code chunkBytes} alone gives. */
    private static ChunkLayout[] wholeChunks(List<TensorSpec> tensors, int chunkElements) {
        ChunkLayout[] out = new ChunkLayout[tensors.size()];
        for (int t = 0; t < out.length; t++) {
            out[t] = new ChunkLayout(tensors.get(t).elements(), chunkElements);
        }
        return out;
    }

    /**
     * A tensor of at most {@code piece} elements as {@link #wholeChunks} lays it out (one chunk, registered as it
     * always was); a larger one in equal chunks of at most {@code piece} ({@code piece < chunkElements}).
     */
    private static ChunkLayout[] inPieces(List<TensorSpec> tensors, int chunkElements, int piece) {
        ChunkLayout[] out = new ChunkLayout[tensors.size()];
        for (int t = 0; t < out.length; t++) {
            long n = tensors.get(t).elements();
            long pieces = (n + piece - 1) / piece;
            out[t] = new ChunkLayout(n, pieces == 1 ? chunkElements : (int) ((n + pieces - 1) / pieces));
        }
        return out;
    }

    /** LPT: every chunk, largest first, onto the shard holding the fewest bytes so far. */
    private static Placement largestFirst(List<TensorSpec> tensors, ChunkLayout[] layouts, int shards) {
        int[] firstOrdinal = new int[layouts.length + 1];
        for (int t = 0; t < layouts.length; t++) {
            long next = (long) firstOrdinal[t] + layouts[t].chunks();
            if (next > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("the model has more than " + Integer.MAX_VALUE + " chunks");
            }
            firstOrdinal[t + 1] = (int) next;
        }
        // One sort key per chunk: (MAX - length) in the high half, the chunk's ordinal in registration order in the
        // low half, so an ascending sort of longs is largest first, ties in registration order, without boxing.
        long[] keys = new long[firstOrdinal[layouts.length]];
        for (int t = 0; t < layouts.length; t++) {
            for (int c = 0; c < layouts[t].chunks(); c++) {
                int ordinal = firstOrdinal[t] + c;
                keys[ordinal] = ((long) (Integer.MAX_VALUE - layouts[t].length(c)) << 32) | ordinal;
            }
        }
        Arrays.sort(keys);
        int[][] shardOf = new int[layouts.length][];
        for (int t = 0; t < layouts.length; t++) {
            shardOf[t] = new int[layouts[t].chunks()];
        }
        long[] load = new long[shards];
        for (long key : keys) {
            int ordinal = (int) key;
            // firstOrdinal rises strictly (every tensor has a chunk): the tensor is the last start <= ordinal.
            int t = Arrays.binarySearch(firstOrdinal, ordinal);
            if (t < 0) {
                t = -t - 2;
            }
            int c = ordinal - firstOrdinal[t];
            int best = 0;
            for (int s = 1; s < shards; s++) {
                if (load[s] < load[best]) {
                    best = s;
                }
            }
            shardOf[t][c] = best;
            load[best] += 4L * layouts[t].length(c);
        }
        Map<String, TensorPlacement> out = new LinkedHashMap<>();
        for (int t = 0; t < layouts.length; t++) {
            TensorSpec spec = tensors.get(t);
            out.put(spec.name(), new TensorPlacement(spec, layouts[t], shardOf[t]));
        }
        return new Placement(shards, Collections.unmodifiableMap(out), load);
    }
}
