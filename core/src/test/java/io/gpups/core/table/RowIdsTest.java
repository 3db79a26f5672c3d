package io.gpups.core.table;

import io.gpups.core.tensor.Initializer;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RowIdsTest {

    @Test
    void mixIsTheSplitmix64Finalizer() {
        // splitmix64 seeded with 0: its first three outputs are the finalizer of 1, 2 and 3 golden gammas
        // (Vigna's reference implementation, xoshiro's seeding).
        long gamma = 0x9E3779B97F4A7C15L;
        assertEquals(0xE220A8397B1DCDAFL, RowIds.mix(gamma));
        assertEquals(0x6E789E6AA1B965F4L, RowIds.mix(2 * gamma));
        assertEquals(0x06C45D188009454FL, RowIds.mix(3 * gamma));
    }

    @Test
    void shardsAreTheUnsignedRemainderOfTheMix() {
        long id = 123456789L;
        assertEquals((int) Long.remainderUnsigned(RowIds.mix(id), 7), RowIds.shardOf(id, 7));
        int[] counts = new int[4];
        for (long i = 0; i < 40_000; i++) {
            counts[RowIds.shardOf(i, 4)]++;
        }
        for (int c : counts) {
            assertTrue(Math.abs(c - 10_000) < 500, "shard counts " + java.util.Arrays.toString(counts));
        }
        assertThrows(IllegalArgumentException.class, () -> RowIds.shardOf(1, 0));
    }

    @Test
    void bucketsAreTheHighHalfOfTheSaltedMixTimesTheBucketCount() {
        for (long id : new long[] {0, 1, -2, Long.MIN_VALUE, 0x7FFF_FFFF_FFFF_FFFFL, 42}) {
            long h = RowIds.mix(id ^ RowIds.BUCKET_SALT);
            java.math.BigInteger product = new java.math.BigInteger(Long.toUnsignedString(h))
                    .multiply(java.math.BigInteger.valueOf(1000));
            assertEquals(product.shiftRight(64).longValueExact(), RowIds.bucketOf(id, 1000), "id " + id);
        }
    }

    @Test
    void initialValuesDependOnlyOnTheInitializerAndTheId() {
        Initializer init = new Initializer(Initializer.Kind.UNIFORM, 0.1f, 7);
        float[] a = new float[8];
        float[] b = new float[12];
        RowIds.initialValues(init, 99, 8, a, 0);
        RowIds.initialValues(init, 99, 8, b, 4);
        assertArrayEquals(a, java.util.Arrays.copyOfRange(b, 4, 12));
        float[] other = new float[8];
        RowIds.initialValues(init, 100, 8, other, 0);
        assertNotEquals(a[0], other[0]);
        RowIds.initialValues(new Initializer(Initializer.Kind.UNIFORM, 0.1f, 8), 99, 8, other, 0);
        assertNotEquals(a[0], other[0]);
        for (float v : a) {
            assertTrue(v >= -0.1f && v < 0.1f, "value " + v);
        }
    }
}
