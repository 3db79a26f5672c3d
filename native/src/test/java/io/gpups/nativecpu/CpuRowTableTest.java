package io.gpups.nativecpu;

import io.gpups.core.device.DeviceOutOfMemoryException;
import io.gpups.core.device.NonFiniteGuard;
import io.gpups.core.optim.KernelParameters;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.RowIds;
import io.gpups.core.table.RowTable;
import io.gpups.core.table.RowTableReference;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CPU device's embedding table against {@link RowTableReference}, the contract in plain Java: the same slots, the
 * same counters and the same bits of every value and optimizer slot, for every row optimizer and row dtype, and the
 * bucket policy's choices checked on hand-built collisions.
 */
class CpuRowTableTest {

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    private CpuDevice device(int threads) {
        CpuDevice device = new CpuDevice(1, threads);
        open.add(device);
        return device;
    }

    private static TableSpec spec(OptimizerSpec optimizer, int dim, long capacity, Eviction eviction) {
        return new TableSpec("emb", dim, Initializer.zeros(), optimizer, capacity, eviction);
    }

    static Stream<OptimizerSpec> rowOptimizers() {
        return Stream.of(new OptimizerSpec.Sgd(0.05f, 0.01f), new OptimizerSpec.Adagrad(0.1f, 1e-6f, 0.25f, 0.01f),
                new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0.01f),
                new OptimizerSpec.AdamW(0.01f, 0.8f, 0.99f, 1e-6f, 0.1f));
    }

    // ---- the math, bit for bit -------------------------------------------------------------------------------

    @ParameterizedTest
    @MethodSource("rowOptimizers")
    void everyRowOptimizerMatchesTheReferenceBitForBitForEveryGradientDtype(OptimizerSpec optimizer) {
        for (RowDtype dtype : RowDtype.values()) {
            TableSpec spec = spec(optimizer, 24, 200, Eviction.LRU);
            RowTable cpu = device(1).createTable(spec);
            RowTableReference ref = new RowTableReference(spec);
            SplittableRandom random = new SplittableRandom(17 + dtype.id);
            long clock = 1;
            long[] universe = random.longs(120).toArray();
            for (int round = 0; round < 6; round++, clock++) {
                // Each round touches a different subset, so rows reach different steps (per-row bias corrections).
                long[] ids = Arrays.stream(universe).filter(id -> random.nextInt(3) != 0).toArray();
                int[] slots = both(cpu, ref, ids, clock);
                writeBorn(cpu, ref, spec, ids, slots, random);
                float gradScale = 0.5f + round;
                ByteBuffer grads = gradients(dtype, slots.length, spec.dim(), random, false);
                assertEquals(ref.applyRows(slots, slots.length, grads, dtype, gradScale, NonFiniteGuard.SKIP),
                        cpu.applyRows(slots, slots.length, grads, dtype, gradScale, NonFiniteGuard.SKIP));
                assertSameTables(ref, cpu, optimizer + " with " + dtype + " gradients, round " + round);
            }
        }
    }

    @Test
    void adamUsesEachRowsOwnStepForItsBiasCorrections() {
        OptimizerSpec adam = new OptimizerSpec.Adam(0.1f, 0.9f, 0.999f, 1e-8f, 0f);
        TableSpec spec = spec(adam, 1, 16, Eviction.NONE);
        RowTable cpu = device(1).createTable(spec);
        int[] slots = new int[2];
        cpu.findOrInsert(ids(10, 11), 2, 1, slots, new byte[2]);
        cpu.writeRows(slots, 2, floats(0f, 0f));
        int[] first = {slots[0]};
        cpu.applyRows(first, 1, floats(1f), RowDtype.FP32, 1f, NonFiniteGuard.SKIP);
        cpu.applyRows(first, 1, floats(1f), RowDtype.FP32, 1f, NonFiniteGuard.SKIP);
        cpu.applyRows(slots, 2, floats(1f, 1f), RowDtype.FP32, 1f, NonFiniteGuard.SKIP);
        long[] counters = new long[6];
        cpu.readCounters(slots, 2, counters);
        assertEquals(3, counters[0]);
        assertEquals(1, counters[3]);
        // With a constant gradient every bias-corrected Adam step is lr * 1 / (1 + eps): the per-row corrections of
        // steps 1..3 undo the moments' warm-up exactly. A shared step count would misscale row 11's single step.
        float[] values = gatherFloats(cpu, slots, 2);
        assertEquals(-0.3f, values[0], 1e-6f);
        assertEquals(-0.1f, values[1], 1e-6f);
    }

    @Test
    void rowBiasCorrectionsByRepeatedSquaringStayWithinAnUlpOfTheDensePathsPow() {
        for (float beta : new float[] {0.9f, 0.99f, 0.999f, 0.9999f}) {
            for (long t = 1; t <= 100_000; t += t < 100 ? 1 : 97) {
                float dense = KernelParameters.biasCorrection(beta, t);
                float row = RowTableReference.biasCorrection(beta, t);
                assertTrue(Math.abs(dense - row) <= Math.ulp(dense), "beta " + beta + " t " + t + ": " + dense + " vs " + row);
            }
        }
    }

    @Test
    void everyHalfGradientDecodesAsTheReferenceDecodesIt() {
        // sgd with lr 1 from 0: each value becomes -g, so the values show every one of the 65536 halves decoded.
        TableSpec spec = spec(new OptimizerSpec.Sgd(1f, 0f), 256, 256, Eviction.NONE);
        RowTable cpu = device(1).createTable(spec);
        RowTableReference ref = new RowTableReference(spec);
        long[] ids = new long[256];
        Arrays.setAll(ids, i -> i);
        int[] slots = both(cpu, ref, ids, 1);
        writeBoth(cpu, ref, slots, new float[256 * 256]);
        ByteBuffer grads = ByteBuffer.allocateDirect(2 * 65536).order(ByteOrder.LITTLE_ENDIAN);
        for (int h = 0; h < 65536; h++) {
            grads.putShort(2 * h, (short) h);
        }
        long nonFinite = cpu.applyRows(slots, 256, grads, RowDtype.FP16, 1f, NonFiniteGuard.ZERO);
        assertEquals(2 * 1024, nonFinite, "the halves with exponent 31: infinities and NaNs");
        assertEquals(nonFinite, ref.applyRows(slots, 256, grads, RowDtype.FP16, 1f, NonFiniteGuard.ZERO));
        assertSameTables(ref, cpu, "every half");
        assertEquals(-1.0f, gatherFloats(cpu, new int[] {slots[0x3C00 / 256]}, 1)[0x3C00 % 256]);
    }

    @ParameterizedTest
    @EnumSource(value = RowDtype.class, names = {"FP32", "BF16", "FP16"})
    void gatheredRowsAreTheReferencesBytesInEveryPullableDtype(RowDtype dtype) {
        float[] special = {0f, -0f, 1f, -1f, 65504f, 65519.996f, 65520f, -65520f, 70000f, 1e-8f, 2.9802322e-8f,
                5.9604645e-8f, 8.940697e-8f, 6.1035156e-5f, 6.1e-5f, Float.MIN_VALUE, Float.MAX_VALUE,
                Float.intBitsToFloat(0x3F808000), Float.intBitsToFloat(0x3F818000), Float.intBitsToFloat(0x7F7F8000),
                Float.intBitsToFloat(0x7F7FFFFF), Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN,
                Float.intBitsToFloat(0xFFC00001), 1.00048828125f, 1.00146484375f, 3.14159265f};
        int dim = 32;
        int rows = 40;
        float[] values = new float[rows * dim];
        SplittableRandom random = new SplittableRandom(5);
        for (int i = 0; i < values.length; i++) {
            values[i] = i < special.length ? special[i]
                    : Float.intBitsToFloat(random.nextInt());  // every exponent, NaNs among them
        }
        TableSpec spec = spec(new OptimizerSpec.Sgd(0.1f, 0f), dim, 64, Eviction.NONE);
        RowTable cpu = device(1).createTable(spec);
        RowTableReference ref = new RowTableReference(spec);
        long[] ids = random.longs(rows).toArray();
        int[] slots = both(cpu, ref, ids, 1);
        writeBoth(cpu, ref, slots, values);
        assertArrayEquals(gather(ref, slots, dtype), gather(cpu, slots, dtype));
        if (dtype == RowDtype.FP16) {
            ByteBuffer out = ByteBuffer.wrap(gather(cpu, slots, dtype)).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(0x7BFF, out.getShort(2 * 5) & 0xFFFF, "65519.996 rounds down to 65504");
            assertEquals(0x7C00, out.getShort(2 * 6) & 0xFFFF, "65520 ties to even: infinity");
            assertEquals(0x0001, out.getShort(2 * 11) & 0xFFFF, "2^-24 is the least subnormal");
        }
    }

    @ParameterizedTest
    @EnumSource(NonFiniteGuard.class)
    void nonFiniteGradientsNeverReachValuesOrState(NonFiniteGuard guard) {
        OptimizerSpec adam = new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0f);
        int dim = 8;
        TableSpec spec = spec(adam, dim, 32, Eviction.LFU);
        RowTable cpu = device(1).createTable(spec);
        RowTableReference ref = new RowTableReference(spec);
        SplittableRandom random = new SplittableRandom(3);
        long[] ids = random.longs(10).toArray();
        int[] slots = both(cpu, ref, ids, 1);
        writeBorn(cpu, ref, spec, ids, slots, random);
        for (int round = 0; round < 3; round++) {
            ByteBuffer warm = gradients(RowDtype.FP32, slots.length, dim, random, false);
            cpu.applyRows(slots, slots.length, warm, RowDtype.FP32, 1f, guard);
            ref.applyRows(slots, slots.length, warm, RowDtype.FP32, 1f, guard);
        }
        byte[] valuesBefore = gather(cpu, slots, RowDtype.FP32);
        byte[] momentBefore = state(cpu, 0, slots);
        ByteBuffer grads = gradients(RowDtype.FP32, slots.length, dim, random, false);
        int[] bad = {3, 17, 40, 41, 79};
        float[] nonFinite = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.intBitsToFloat(0x7F800001), Float.NaN};
        for (int k = 0; k < bad.length; k++) {
            grads.putFloat(4 * bad[k], nonFinite[k]);
        }
        assertEquals(bad.length, cpu.applyRows(slots, slots.length, grads, RowDtype.FP32, 1f, guard));
        assertEquals(bad.length, ref.applyRows(slots, slots.length, grads, RowDtype.FP32, 1f, guard));
        assertSameTables(ref, cpu, "guard " + guard);
        float[] after = toFloats(gather(cpu, slots, RowDtype.FP32));
        float[] before = toFloats(valuesBefore);
        float[] momentAfter = toFloats(state(cpu, 0, slots));
        float[] moment = toFloats(momentBefore);
        for (int e : bad) {
            assertTrue(Float.isFinite(after[e]) && Float.isFinite(momentAfter[e]), "element " + e + " stays finite");
            if (guard == NonFiniteGuard.SKIP) {
                assertEquals(Float.floatToRawIntBits(before[e]), Float.floatToRawIntBits(after[e]), "element " + e);
                assertEquals(Float.floatToRawIntBits(moment[e]), Float.floatToRawIntBits(momentAfter[e]), "element " + e);
            } else {
                assertEquals(0.9f * moment[e], momentAfter[e], "element " + e + ": the moment decays with gradient 0");
            }
        }
    }

    @Test
    void splittingRowsOverThreadsGivesTheSameBits() {
        OptimizerSpec adam = new OptimizerSpec.AdamW(0.01f, 0.9f, 0.999f, 1e-8f, 0.01f);
        int dim = 64;
        int rows = 7000;  // 448000 elements: three slices of at least RangeSplitter.MIN_SLICE
        TableSpec spec = spec(adam, dim, rows, Eviction.NONE);
        CpuDevice three = device(3);
        RowTable split = three.createTable(spec);
        RowTable single = device(1).createTable(spec);
        assertEquals(3, three.threads());
        SplittableRandom random = new SplittableRandom(11);
        long[] ids = random.longs(rows).toArray();
        int[] slots = both(split, single, ids, 1);
        float[] values = new float[rows * dim];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        writeBoth(split, single, slots, values);
        for (RowDtype dtype : RowDtype.values()) {
            ByteBuffer grads = gradients(dtype, rows, dim, random, true);
            assertEquals(single.applyRows(slots, rows, grads, dtype, 1f, NonFiniteGuard.ZERO),
                    split.applyRows(slots, rows, grads, dtype, 1f, NonFiniteGuard.ZERO));
        }
        assertSameTables(single, split, "3 threads against 1");
        for (RowDtype dtype : List.of(RowDtype.BF16, RowDtype.FP16)) {
            assertArrayEquals(gather(single, slots, dtype), gather(split, slots, dtype));
        }
    }

    // ---- the bucket policy -------------------------------------------------------------------------------------

    @Test
    void bucketOfIsTheSameInJavaAndNative() {
        SplittableRandom random = new SplittableRandom(1);
        long[] buckets = {1, 2, 3, 7, 1000, 1L << 27, (1L << 27) + 1, Long.MAX_VALUE, 0x7FFF_FFFF_FFFF_FFF1L};
        for (long b : buckets) {
            for (int i = 0; i < 2000; i++) {
                long id = i < 10 ? i - 5 : random.nextLong();
                assertEquals(RowIds.bucketOf(id, b), CpuKernels.table_bucket_of(id, b), "id " + id + " of " + b + " buckets");
            }
        }
    }

    @Test
    void lruReplacesTheRowTouchedLongestAgoAndLfuTheRowTouchedFewestTimes() {
        for (Eviction eviction : List.of(Eviction.LRU, Eviction.LFU)) {
            TableSpec spec = spec(new OptimizerSpec.Sgd(0.1f, 0f), 2, 32, eviction);
            RowTable cpu = device(1).createTable(spec);
            RowTableReference ref = new RowTableReference(spec);
            long[] bucket = idsInBucket(0, cpu.slots() / RowTable.BUCKET_SLOTS, 17);
            // ids 0..14 at clock 1 and touched again at 2 and 3; at 4 all but id 4 once more, and id 15 is born.
            long[] first15 = Arrays.copyOf(bucket, 15);
            both(cpu, ref, first15, 1);
            both(cpu, ref, first15, 2);
            both(cpu, ref, first15, 3);
            long[] atFour = new long[15];
            for (int i = 0, n = 0; i < 16; i++) {
                if (i != 4) {
                    atFour[n++] = bucket[i];
                }
            }
            both(cpu, ref, atFour, 4);
            // Now id 4 is the oldest (last touch 3, 3 touches) and id 15 the least used (1 touch, last touch 4).
            long expectedGone = eviction == Eviction.LRU ? bucket[4] : bucket[15];
            int goneSlot = slotOf(ref, expectedGone);
            int[] slot = both(cpu, ref, new long[] {bucket[16]}, 5);
            assertEquals(goneSlot, slot[0], eviction + " replaced the wrong row");
            assertEquals(1, cpu.evictions());
            assertEquals(16, cpu.rows());
            assertTrue(Arrays.stream(listIds(cpu)).noneMatch(id -> id == expectedGone));
            assertSameTables(ref, cpu, eviction.cliName());
        }
    }

    @Test
    void lfuBreaksTiesByTheOlderTouchThenTheLowerSlot() {
        TableSpec spec = spec(new OptimizerSpec.Sgd(0.1f, 0f), 2, 16, Eviction.LFU);
        RowTable cpu = device(1).createTable(spec);
        RowTableReference ref = new RowTableReference(spec);
        long[] bucket = idsInBucket(0, 1, 18);
        // Slots 0..7 born at clock 1, 8..15 at clock 2: all one touch. Slots 0..2 touched again at 3.
        int[] early = both(cpu, ref, Arrays.copyOfRange(bucket, 0, 8), 1);
        both(cpu, ref, Arrays.copyOfRange(bucket, 8, 16), 2);
        both(cpu, ref, Arrays.copyOfRange(bucket, 0, 3), 3);
        // Fewest touches: slots 3..15; the oldest of them: 3..7 (clock 1); the lowest slot: 3.
        assertEquals(early[3], both(cpu, ref, new long[] {bucket[16]}, 4)[0]);
        assertEquals(early[4], both(cpu, ref, new long[] {bucket[17]}, 5)[0]);
        assertSameTables(ref, cpu, "lfu ties");
    }

    @Test
    void rowsTouchedAtTheCallsClockAreNeverEvicted() {
        for (Eviction eviction : List.of(Eviction.LRU, Eviction.LFU)) {
            TableSpec spec = spec(new OptimizerSpec.Sgd(0.1f, 0f), 2, 16, eviction);
            RowTable cpu = device(1).createTable(spec);
            RowTableReference ref = new RowTableReference(spec);
            long[] bucket = idsInBucket(0, 1, 19);
            int[] old = both(cpu, ref, Arrays.copyOf(bucket, 16), 1);
            // Two new ids ahead of 15 stored ones, all at clock 2. The first new id must not take slot 0, the lowest
            // of the rows born together at clock 1, since a later id of the same call looks it up; it takes the one
            // row this call does not touch. The second finds every row touched at 2, the first new one too.
            long[] call = new long[17];
            call[0] = bucket[16];
            call[1] = bucket[17];
            System.arraycopy(bucket, 0, call, 2, 15);
            int[] slots = both(cpu, ref, call, 2);
            assertEquals(old[15], slots[0], eviction + ": the only row not touched at clock 2");
            assertEquals(-1, slots[1], eviction + ": no row is free of this clock's touches");
            for (int i = 2; i < call.length; i++) {
                assertEquals(old[i - 2], slots[i], "a stored id keeps its slot");
            }
            assertEquals(1, cpu.evictions());
            assertSameTables(ref, cpu, eviction.cliName());
            // Every row of the bucket touched at 3: no room at all.
            int[] again = both(cpu, ref, Arrays.copyOf(listIds(cpu), 17), 3);
            assertEquals(-1, again[16]);
        }
    }

    @Test
    void evictionNoneFillsTheTableExactlyToItsSlotsThenRefuses() {
        TableSpec spec = spec(new OptimizerSpec.Sgd(0.1f, 0f), 3, 40, Eviction.NONE);
        RowTable cpu = device(1).createTable(spec);
        RowTableReference ref = new RowTableReference(spec);
        assertEquals(48, cpu.slots(), "40 rows round up to three buckets of 16");
        // Every id has home bucket 1: they fill it, then probe on to bucket 2 and wrap around to bucket 0.
        long[] ids = idsInBucket(1, 3, 50);
        long clock = 1;
        for (int from = 0; from < 48; from += 7, clock++) {
            int[] slots = both(cpu, ref, Arrays.copyOfRange(ids, from, Math.min(48, from + 7)), clock);
            assertTrue(Arrays.stream(slots).allMatch(s -> s >= 0));
        }
        assertEquals(48, cpu.rows());
        assertEquals(List.of(1, 2, 0), List.of(slotOf(cpu, ids[0]) / 16, slotOf(cpu, ids[16]) / 16,
                slotOf(cpu, ids[32]) / 16), "home bucket 1, then 2, then wrapped to 0");
        int[] full = both(cpu, ref, new long[] {ids[48], ids[5], ids[47]}, clock++);
        assertEquals(-1, full[0], "a full table has no room");
        assertEquals(slotOf(cpu, ids[5]), full[1], "stored ids are still found");
        assertEquals(slotOf(cpu, ids[47]), full[2], "stored ids are still found after wrapping");
        assertEquals(0, cpu.evictions());
        assertSameTables(ref, cpu, "eviction none");
    }

    // ---- listing, state, counters, restore ------------------------------------------------------------------

    @Test
    void listedRowsWithTheirStateAndCountersRestoreIntoAnEqualTable() {
        OptimizerSpec adam = new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0f);
        int dim = 5;
        TableSpec spec = spec(adam, dim, 200, Eviction.LRU);
        CpuDevice device = device(1);
        RowTable source = device.createTable(spec);
        SplittableRandom random = new SplittableRandom(23);
        long[] universe = random.longs(70).toArray();
        for (long clock = 1; clock <= 4; clock++) {
            long[] ids = Arrays.stream(universe).filter(id -> random.nextBoolean()).toArray();
            int[] slots = new int[ids.length];
            byte[] born = new byte[ids.length];
            source.findOrInsert(ids(ids), ids.length, clock, slots, born);
            for (int i = 0; i < ids.length; i++) {
                if (born[i] == 1) {
                    source.writeRows(new int[] {slots[i]}, 1, floats(new float[] {1, 2, 3, 4, (float) clock}));
                }
            }
            source.applyRows(slots, slots.length, gradients(RowDtype.FP32, slots.length, dim, random, false),
                    RowDtype.FP32, 1f, NonFiniteGuard.SKIP);
        }
        // List in pages of 7, as a checkpoint writer would.
        List<Long> listedIds = new ArrayList<>();
        List<Integer> listedSlots = new ArrayList<>();
        long[] idPage = new long[7];
        int[] slotPage = new int[7];
        long from = 0;
        int n;
        do {
            n = source.listRows(from, 7, idPage, slotPage);
            for (int i = 0; i < n; i++) {
                listedIds.add(idPage[i]);
                listedSlots.add(slotPage[i]);
            }
            from = n == 0 ? from : slotPage[n - 1] + 1L;
        } while (n == 7);
        assertEquals(source.rows(), listedIds.size());
        int count = listedIds.size();
        int[] slots = listedSlots.stream().mapToInt(Integer::intValue).toArray();
        long[] counters = new long[3 * count];
        source.readCounters(slots, count, counters);
        ByteBuffer values = direct(gather(source, slots, RowDtype.FP32));
        ByteBuffer[] state = {direct(state(source, 0, slots)), direct(state(source, 1, slots))};

        RowTable restored = device.createTable(spec);
        // Heap buffers for the ids, direct for the rest: both kinds are read in place or staged.
        ByteBuffer idBytes = ByteBuffer.allocate(8 * count).order(ByteOrder.LITTLE_ENDIAN);
        listedIds.forEach(idBytes::putLong);
        idBytes.flip();
        assertEquals(0, restored.restoreRows(idBytes, count, values, state, counters, 10));
        assertEquals(count, restored.rows());
        int[] again = new int[count];
        byte[] born = new byte[count];
        long[] ids = listedIds.stream().mapToLong(Long::longValue).toArray();
        restored.findOrInsert(ids(ids), count, 11, again, born);
        source.findOrInsert(ids(ids), count, 11, new int[count], new byte[count]);
        for (byte b : born) {
            assertEquals(0, b, "a restored row is found, not born");
        }
        long[] restoredCounters = new long[3 * count];
        restored.readCounters(again, count, restoredCounters);
        source.readCounters(slots, count, counters);
        assertArrayEquals(counters, restoredCounters);
        assertSameTables(source, restored, "restored");
        // And they go on alike: the restored steps drive the next bias corrections.
        ByteBuffer grads = gradients(RowDtype.FP32, count, dim, random, false);
        source.applyRows(slots, count, grads, RowDtype.FP32, 1f, NonFiniteGuard.SKIP);
        restored.applyRows(again, count, grads, RowDtype.FP32, 1f, NonFiniteGuard.SKIP);
        assertArrayEquals(gather(source, slots, RowDtype.FP32), gather(restored, again, RowDtype.FP32));

        // Into a full table with eviction none, the rows without room are left out and counted.
        TableSpec small = spec(adam, dim, 16, Eviction.NONE);
        RowTable full = device.createTable(small);
        RowTableReference ref = new RowTableReference(small);
        assertTrue(count > 16);
        ByteBuffer[] stateAgain = {direct(state(source, 0, slots)), direct(state(source, 1, slots))};
        ByteBuffer valuesAgain = direct(gather(source, slots, RowDtype.FP32));
        assertEquals(count - 16, full.restoreRows(ids(ids), count, valuesAgain, stateAgain, counters, 1));
        assertEquals(count - 16, ref.restoreRows(ids(ids), count, valuesAgain, stateAgain, counters, 1));
        assertSameTables(ref, full, "restore into a small table");
    }

    // ---- arguments and lifetime ----------------------------------------------------------------------------

    @Test
    void badArgumentsAreRefusedWithTheBadValueNamed() {
        TableSpec spec = spec(new OptimizerSpec.Adagrad(0.1f, 1e-6f, 0f, 0f), 4, 16, Eviction.LRU);
        RowTable t = device(1).createTable(spec);
        int[] slots = new int[3];
        byte[] born = new byte[3];
        assertMessage("id 2 is 18446744073709551615", () -> t.findOrInsert(ids(1, 2, -1), 3, 1, slots, born));
        assertEquals(0, t.rows(), "nothing of a refused call is applied");
        assertMessage("24 bytes, the buffer has 16", () -> t.findOrInsert(ids(1, 2), 3, 1, slots, born));
        assertMessage("born array holds 2 elements, 3 needed", () -> t.findOrInsert(ids(1, 2, 3), 3, 1, slots, new byte[2]));
        assertMessage("count must be >= 0, got -1", () -> t.findOrInsert(ids(1), -1, 1, slots, born));
        t.findOrInsert(ids(1, 2, 3), 3, 5, slots, born);
        assertMessage("clock 5 must be >= 0 and greater than the last call's, 5", () -> t.findOrInsert(ids(4), 1, 5, slots, born));
        assertMessage("slot 1 is 16, expected 0..15", () -> t.gatherRows(new int[] {0, 16}, 2, RowDtype.FP32, ByteBuffer.allocate(32)));
        assertMessage("slot 0 is -1, expected 0..15", () -> t.readCounters(new int[] {-1}, 1, new long[3]));
        int unused = Arrays.stream(new int[] {0, 1, 2, 3}).filter(x -> Arrays.stream(slots).noneMatch(y -> y == x)).findFirst().orElseThrow();
        assertMessage("slot 1 is " + unused + ", which holds no row",
                () -> t.gatherRows(new int[] {slots[0], unused}, 2, RowDtype.FP32, ByteBuffer.allocate(32)));
        assertMessage("slot 0 is " + unused + ", which holds no row",
                () -> t.applyRows(new int[] {unused}, 1, ByteBuffer.allocate(16), RowDtype.FP32, 1f, NonFiniteGuard.SKIP));
        assertMessage("rows cannot be gathered as INT8", () -> t.gatherRows(slots, 3, RowDtype.INT8, ByteBuffer.allocate(100)));
        assertMessage("out needs 24 bytes, the buffer has 23", () -> t.gatherRows(slots, 3, RowDtype.BF16, ByteBuffer.allocate(23)));
        assertMessage("gradients needs 24 bytes, the buffer has 20",
                () -> t.applyRows(slots, 3, ByteBuffer.allocate(20), RowDtype.INT8, 1f, NonFiniteGuard.SKIP));
        int[] twice = {slots[0], slots[1], slots[0]};
        assertMessage("slot " + slots[0] + " is given twice",
                () -> t.applyRows(twice, 3, ByteBuffer.allocate(48), RowDtype.FP32, 1f, NonFiniteGuard.SKIP));
        assertMessage("non-finite guard is null", () -> t.applyRows(slots, 3, ByteBuffer.allocate(48), RowDtype.FP32, 1f, null));
        assertMessage("gradScale must be finite, got NaN",
                () -> t.applyRows(slots, 3, ByteBuffer.allocate(48), RowDtype.FP32, Float.NaN, NonFiniteGuard.SKIP));
        assertMessage("state slot 1 out of range; adagrad keeps 1", () -> t.gatherState(1, slots, 3, ByteBuffer.allocate(48)));
        assertMessage("out is a read-only buffer", () -> t.gatherState(0, slots, 3, ByteBuffer.allocate(48).asReadOnlyBuffer()));
        assertMessage("counters out array holds 8 elements, 9 needed", () -> t.readCounters(slots, 3, new long[8]));
        assertMessage("fromSlot 17 out of range 0..16", () -> t.listRows(17, 1, new long[1], new int[1]));
        assertMessage("adagrad keeps 1 state slot(s), got 2 buffers", () -> t.restoreRows(ids(7), 1, ByteBuffer.allocate(16),
                new ByteBuffer[] {ByteBuffer.allocate(16), ByteBuffer.allocate(16)}, new long[3], 9));
        assertMessage("counters of row 0 (step 1, last touch 2, touches 4294967296) out of range", () -> t.restoreRows(ids(7), 1,
                ByteBuffer.allocate(16), new ByteBuffer[] {ByteBuffer.allocate(16)}, new long[] {1, 2, 1L << 32}, 9));
        assertEquals(3, t.rows());
    }

    @Test
    void adagradRowsAreBornWithTheInitialAccumulator() {
        TableSpec spec = spec(new OptimizerSpec.Adagrad(0.1f, 1e-6f, 0.75f, 0f), 3, 16, Eviction.LFU);
        RowTable t = device(1).createTable(spec);
        int[] slots = new int[2];
        t.findOrInsert(ids(5, 6), 2, 1, slots, new byte[2]);
        assertArrayEquals(new float[] {0.75f, 0.75f, 0.75f, 0.75f, 0.75f, 0.75f}, toFloats(state(t, 0, slots)));
        long[] counters = new long[6];
        t.readCounters(slots, 2, counters);
        assertArrayEquals(new long[] {0, 1, 1, 0, 1, 1}, counters, "step 0, touched at clock 1, once");
    }

    @Test
    void touchesSaturateAtTheLargestU32() {
        TableSpec spec = spec(new OptimizerSpec.Sgd(0.1f, 0f), 1, 16, Eviction.LFU);
        RowTable t = device(1).createTable(spec);
        long max = 0xFFFFFFFFL;
        assertEquals(0, t.restoreRows(ids(8, 9), 2, floats(1f, 2f), new ByteBuffer[0], new long[] {3, 1, max, 4, 1, max - 1}, 1));
        int[] slots = new int[2];
        t.findOrInsert(ids(8, 9), 2, 2, slots, new byte[2]);
        t.findOrInsert(ids(8, 9), 2, 3, slots, new byte[2]);
        long[] counters = new long[6];
        t.readCounters(slots, 2, counters);
        assertArrayEquals(new long[] {3, 3, max, 4, 3, max}, counters);
    }

    @Test
    void aClosedTableRefusesUseAndClosingTwiceIsHarmless() {
        CpuDevice device = device(1);
        RowTable t = device.createTable(spec(new OptimizerSpec.Sgd(0.1f, 0f), 2, 16, Eviction.NONE));
        t.close();
        assertDoesNotThrow(t::close);
        IllegalStateException e = assertThrows(IllegalStateException.class, t::rows);
        assertEquals("table 'emb' is closed", e.getMessage());
        assertThrows(IllegalStateException.class, () -> t.findOrInsert(ids(1), 1, 1, new int[1], new byte[1]));
        RowTable other = device.createTable(spec(new OptimizerSpec.Sgd(0.1f, 0f), 2, 16, Eviction.NONE));
        device.close();
        assertThrows(IllegalStateException.class, other::evictions, "closing the device closes its tables");
    }

    @Test
    void aTableTooLargeForMemoryIsADeviceOutOfMemoryNamingItsBytes() {
        // 2^31 slots of 4096 floats with two Adam slots: 96 TiB, more than any host here can give.
        TableSpec huge = new TableSpec("huge", TableSpec.MAX_DIM, Initializer.zeros(),
                new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0f), TableSpec.MAX_CAPACITY, Eviction.LRU);
        var e = assertThrows(DeviceOutOfMemoryException.class, () -> device(1).createTable(huge));
        long slots = TableSpec.MAX_CAPACITY;
        long bytes = slots * 28 + slots * 4096L * 4 * 3;
        assertTrue(e.getMessage().contains("table 'huge'") && e.getMessage().contains(bytes + " bytes"), e.getMessage());
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    /** findOrInsert on both tables; asserts they agree on slots, births and evictions; returns the slots. */
    private static int[] both(RowTable a, RowTable b, long[] ids, long clock) {
        int[] sa = new int[ids.length];
        int[] sb = new int[ids.length];
        byte[] ba = new byte[ids.length];
        byte[] bb = new byte[ids.length];
        assertEquals(a.findOrInsert(ids(ids), ids.length, clock, sa, ba), b.findOrInsert(ids(ids), ids.length, clock, sb, bb));
        assertArrayEquals(sa, sb, "slots at clock " + clock);
        assertArrayEquals(ba, bb, "births at clock " + clock);
        return sa;
    }

    /** Gives the rows born just now random values, the same in both tables. */
    private static void writeBorn(RowTable a, RowTable b, TableSpec spec, long[] ids, int[] slots, SplittableRandom random) {
        int[] placed = Arrays.stream(slots).filter(s -> s >= 0).toArray();
        float[] values = new float[placed.length * spec.dim()];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        writeBoth(a, b, placed, values);
    }

    private static void writeBoth(RowTable a, RowTable b, int[] slots, float[] values) {
        a.writeRows(slots, slots.length, floats(values));
        b.writeRows(slots, slots.length, floats(values));
    }

    /**
     * Random gradient rows of dtype: gaussian magnitudes over several decades; with {@code sprinkleNonFinite}, a few
     * NaNs and infinities among them.
     */
    private static ByteBuffer gradients(RowDtype dtype, int rows, int dim, SplittableRandom random, boolean sprinkleNonFinite) {
        ByteBuffer out = ByteBuffer.allocateDirect((int) (rows * dtype.rowBytes(dim))).order(ByteOrder.LITTLE_ENDIAN);
        for (int r = 0; r < rows; r++) {
            int base = (int) (r * dtype.rowBytes(dim));
            if (dtype == RowDtype.INT8) {
                out.putFloat(base, (float) (random.nextDouble() * 0.01));
            }
            for (int j = 0; j < dim; j++) {
                float g = (float) (random.nextGaussian() * Math.pow(10, random.nextInt(-3, 2)));
                if (sprinkleNonFinite && random.nextInt(500) == 0) {
                    g = random.nextBoolean() ? Float.NaN : Float.NEGATIVE_INFINITY;
                }
                switch (dtype) {
                    case FP32 -> out.putFloat(base + 4 * j, g);
                    case BF16 -> out.putShort(base + 2 * j, (short) RowTableReference.toBf16(g));
                    case FP16 -> out.putShort(base + 2 * j, (short) RowTableReference.toHalf(g));
                    case INT8 -> out.put(base + 4 + j, (byte) random.nextInt(-127, 128));
                }
            }
        }
        return out;
    }

    /** Both tables hold the same ids in the same slots with the same counters, values and state, bit for bit. */
    private static void assertSameTables(RowTable expected, RowTable actual, String what) {
        assertEquals(expected.rows(), actual.rows(), what + ": rows");
        assertEquals(expected.evictions(), actual.evictions(), what + ": evictions");
        int n = (int) expected.slots();
        long[] ids = new long[n];
        int[] slots = new int[n];
        long[] actualIds = new long[n];
        int[] actualSlots = new int[n];
        int count = expected.listRows(0, n, ids, slots);
        assertEquals(count, actual.listRows(0, n, actualIds, actualSlots), what + ": listed rows");
        assertArrayEquals(ids, actualIds, what + ": ids");
        assertArrayEquals(slots, actualSlots, what + ": slots");
        long[] counters = new long[3 * count];
        long[] actualCounters = new long[3 * count];
        expected.readCounters(slots, count, counters);
        actual.readCounters(slots, count, actualCounters);
        assertArrayEquals(counters, actualCounters, what + ": counters");
        int[] listed = Arrays.copyOf(slots, count);
        assertArrayEquals(gather(expected, listed, RowDtype.FP32), gather(actual, listed, RowDtype.FP32), what + ": values");
        for (int k = 0; k < expected.spec().optimizer().slots(); k++) {
            assertArrayEquals(state(expected, k, listed), state(actual, k, listed), what + ": state slot " + k);
        }
    }

    private static byte[] gather(RowTable t, int[] slots, RowDtype dtype) {
        ByteBuffer out = ByteBuffer.allocateDirect((int) (slots.length * dtype.rowBytes(t.spec().dim())));
        t.gatherRows(slots, slots.length, dtype, out);
        byte[] bytes = new byte[out.remaining()];
        out.get(bytes);
        return bytes;
    }

    private static float[] gatherFloats(RowTable t, int[] slots, int count) {
        return toFloats(gather(t, Arrays.copyOf(slots, count), RowDtype.FP32));
    }

    private static byte[] state(RowTable t, int stateSlot, int[] slots) {
        ByteBuffer out = ByteBuffer.allocate(slots.length * 4 * t.spec().dim());
        t.gatherState(stateSlot, slots, slots.length, out);
        return out.array();
    }

    private static float[] toFloats(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[bytes.length / 4];
        for (int i = 0; i < out.length; i++) {
            out[i] = b.getFloat(4 * i);
        }
        return out;
    }

    private static ByteBuffer direct(byte[] bytes) {
        ByteBuffer b = ByteBuffer.allocateDirect(bytes.length);
        b.put(bytes).flip();
        return b;
    }

    private static ByteBuffer ids(long... ids) {
        ByteBuffer b = ByteBuffer.allocateDirect(8 * ids.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long id : ids) {
            b.putLong(id);
        }
        return b.flip();
    }

    private static ByteBuffer floats(float... values) {
        ByteBuffer b = ByteBuffer.allocateDirect(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.flip();
    }

    /** {@code n} distinct ids whose home bucket among {@code buckets} is {@code bucket}, found by search. */
    private static long[] idsInBucket(long bucket, long buckets, int n) {
        long[] out = new long[n];
        int found = 0;
        for (long id = 1000; found < n; id++) {
            if (RowIds.bucketOf(id, buckets) == bucket) {
                out[found++] = id;
            }
        }
        return out;
    }

    private static long[] listIds(RowTable t) {
        long[] ids = new long[(int) t.slots()];
        int n = t.listRows(0, ids.length, ids, new int[ids.length]);
        return Arrays.copyOf(ids, n);
    }

    /** The slot holding {@code id}, found by listing; -1 where it is not stored. */
    private static int slotOf(RowTable t, long id) {
        long[] ids = new long[(int) t.slots()];
        int[] slots = new int[ids.length];
        int n = t.listRows(0, ids.length, ids, slots);
        for (int i = 0; i < n; i++) {
            if (ids[i] == id) {
                return slots[i];
            }
        }
        return -1;
    }

    private static void assertMessage(String expected, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage() != null && e.getMessage().contains(expected),
                "message '" + e.getMessage() + "' should contain '" + expected + "'");
    }
}
