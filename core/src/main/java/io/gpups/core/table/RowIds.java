package io.gpups.core.table;

import io.gpups.core.tensor.Initializer;

/**
 * The fixed functions of ids that every client, shard and restore must agree on: the 64-bit mix, the shard an id
 * belongs to, and a row's initial values. Python clients implement the same three (docs/PROTOCOL.md, "Rows").
 */
public final class RowIds {

    private RowIds() {
    }

    /** The splitmix64 finalizer (Steele, Lea and Flood 2014): a bijection of 64-bit values that mixes every bit. */
    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /**
     * The bucket of {@code id} among {@code buckets} in a shard's table: {@code mix(id ^ BUCKET_SALT)} scaled to
     * {@code [0, buckets)} by a 64x64-bit multiply (the high half). The salt keeps it independent of {@link #shardOf}.
     */
    public static long bucketOf(long id, long buckets) {
        if (buckets <= 0) {
            throw new IllegalArgumentException("buckets must be > 0, got " + buckets);
        }
        long h = mix(id ^ BUCKET_SALT);
        return Math.multiplyHigh(h, buckets) + ((h >> 63) & buckets);  // unsigned high half; buckets > 0
    }

    /** XORed into an id before its bucket's mix. */
    public static final long BUCKET_SALT = 0xD6E8FEB86659FD93L;

    /** The shard that owns {@code id} among {@code shards}: {@code mix(id)} mod shards, unsigned. */
    public static int shardOf(long id, int shards) {
        if (shards <= 0) {
            throw new IllegalArgumentException("shards must be > 0, got " + shards);
        }
        return (int) Long.remainderUnsigned(mix(id), shards);
    }

    /**
     * The values row {@code id} is born with, into {@code out[offset, offset + dim)}: element j is the initializer's
     * value at index {@code mix(id) + j}. They depend only on the initializer (its seed among
     * them) and the id, never on the shard, the slot or the time the row is born.
     */
    public static void initialValues(Initializer initializer, long id, int dim, float[] out, int offset) {
        long base = mix(id);
        for (int j = 0; j < dim; j++) {
            out[offset + j] = initializer.valueAt(base + j);
        }
    }
}
