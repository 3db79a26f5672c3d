package io.gpups.cuda;

import io.gpups.core.device.NonFiniteGuard;
import io.gpups.core.optim.KernelParameters;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.RowIds;
import io.gpups.core.table.RowTable;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;
import io.gpups.nativecpu.CpuDevice;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The table kernels of {@code gpups_kernels.cu} on the host CUDA model ({@link HostCudaModel}), launched in the
 * sequence a CUDA table runs them, against the CPU device's table: the same rows with the same counters and the same
 * bits, compared id by id (which of several new ids of one bucket takes which free slot is the order of their threads'
 * claims). The model compiles without fused multiply-adds, as the CPU device does; on a GPU, nvcc's contractions may
 * move the last bit of Adam's and Adagrad's steps, as in the dense optimizer kernels.
 */
class TableKernelsModelTest {

    private static CpuDevice cpu;

    @BeforeAll
    static void openCpu() {
        cpu = new CpuDevice(1);
    }

    @AfterAll
    static void closeCpu() {
        cpu.close();
    }

    private static TableSpec spec(OptimizerSpec optimizer, int dim, long capacity, Eviction eviction) {
        return new TableSpec("emb", dim, Initializer.zeros(), optimizer, capacity, eviction);
    }

    @ParameterizedTest
    @EnumSource(RowDtype.class)
    void everyRowOptimizerStepsAsTheCpuDeviceDoes(RowDtype dtype) {
        List<OptimizerSpec> optimizers = List.of(new OptimizerSpec.Sgd(0.05f, 0.01f),
                new OptimizerSpec.Adagrad(0.1f, 1e-6f, 0.25f, 0.01f), new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0.01f),
                new OptimizerSpec.AdamW(0.01f, 0.8f, 0.99f, 1e-6f, 0.1f));
        for (OptimizerSpec optimizer : optimizers) {
            for (LaunchConfig.DeviceShape shape : ModelKernels.SHAPES) {
                TableSpec spec = spec(optimizer, 40, 300, Eviction.LRU);
                ModelTable gpu = new ModelTable(spec, shape);
                try (RowTable host = cpu.createTable(spec)) {
                    SplittableRandom random = new SplittableRandom(7 + dtype.id);
                    long[] universe = random.longs(90).toArray();
                    for (long clock = 1; clock <= 4; clock++) {
                        long[] ids = Arrays.stream(universe).filter(id -> random.nextInt(3) != 0).toArray();
                        Placement p = gpu.findOrInsert(ids, clock);
                        Placement q = place(host, ids, clock);
                        assertArrayEquals(q.born, p.born, "births");
                        // The rows born now get their values (a born row's values are undefined until written).
                        int born = 0;
                        for (byte b : p.born) {
                            born += b;
                        }
                        int[] gpuBorn = new int[born];
                        int[] hostBorn = new int[born];
                        for (int i = 0, k = 0; i < ids.length; i++) {
                            if (p.born[i] == 1) {
                                gpuBorn[k] = p.slots[i];
                                hostBorn[k++] = q.slots[i];
                            }
                        }
                        float[] values = new float[born * spec.dim()];
                        for (int i = 0; i < values.length; i++) {
                            values[i] = (float) random.nextGaussian();
                        }
                        gpu.writeRows(gpuBorn, values);
                        host.writeRows(hostBorn, born, floats(values));
                        ByteBuffer grads = gradients(dtype, ids.length, spec.dim(), random);
                        // Non-finite gradients in every dtype: int8 through a NaN scale (its whole first row).
                        grads.putFloat(dtype == RowDtype.INT8 ? 0 : 8, Float.NaN);
                        float gradScale = 0.25f * clock;
                        NonFiniteGuard guard = clock % 2 == 0 ? NonFiniteGuard.ZERO : NonFiniteGuard.SKIP;
                        assertEquals(host.applyRows(q.slots, ids.length, grads, dtype, gradScale, guard),
                                gpu.applyRows(p.slots, grads, dtype, gradScale, guard), "non-finite elements");
                        assertSameRows(host, gpu, optimizer + " " + dtype + " " + shape + " clock " + clock);
                    }
                    assertEquals(host.rows(), gpu.rows());
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = RowDtype.class, names = {"FP32", "BF16", "FP16"})
    void gatheredRowsAreTheCpuDevicesBytes(RowDtype dtype) {
        TableSpec spec = spec(new OptimizerSpec.Sgd(0.1f, 0f), 33, 64, Eviction.NONE);
        ModelTable gpu = new ModelTable(spec, ModelKernels.TWO_BLOCKS);
        try (RowTable host = cpu.createTable(spec)) {
            SplittableRandom random = new SplittableRandom(2);
            long[] ids = random.longs(50).toArray();
            float[] values = new float[ids.length * spec.dim()];
            for (int i = 0; i < values.length; i++) {
                values[i] = Float.intBitsToFloat(random.nextInt());
            }
            Placement p = gpu.findOrInsert(ids, 1);
            Placement q = place(host, ids, 1);
            gpu.writeRows(p.slots, values);
            host.writeRows(q.slots, ids.length, floats(values));
            assertArrayEquals(gather(host, q.slots, dtype), gpu.gather(gpu.values, p.slots, dtype));
        }
    }

    @Test
    void concurrentClaimsFillAnEvictionNoneTableToEverySlotThenRefuse() {
        TableSpec spec = spec(new OptimizerSpec.Sgd(0.1f, 0f), 2, 48, Eviction.NONE);
        for (LaunchConfig.DeviceShape shape : ModelKernels.SHAPES) {
            ModelTable gpu = new ModelTable(spec, shape);
            // 48 ids of one home bucket in one launch: their threads race for bucket 1's slots, then probe on.
            long[] ids = idsInBucket(1, 3, 49);
            Placement p = gpu.findOrInsert(Arrays.copyOf(ids, 48), 1);
            assertEquals(48, Arrays.stream(p.slots).distinct().filter(s -> s >= 0).count(), "every slot taken once");
            assertEquals(48, gpu.rows());
            Placement again = gpu.findOrInsert(new long[] {ids[48], ids[0], ids[47]}, 2);
            assertEquals(-1, again.slots[0], "a full table has no room");
            assertEquals(p.slots[0], again.slots[1]);
            assertEquals(p.slots[47], again.slots[2]);
            assertEquals(0, again.born[1] + again.born[2]);
        }
    }

    @Test
    void theEvictionPassSparesEveryRowTouchedAtTheCallsClock() {
        for (Eviction eviction : List.of(Eviction.LRU, Eviction.LFU)) {
            TableSpec spec = spec(new OptimizerSpec.Adagrad(0.1f, 1e-6f, 0.5f, 0f), 3, 16, eviction);
            ModelTable gpu = new ModelTable(spec, ModelKernels.BIG_GPU);
            try (RowTable host = cpu.createTable(spec)) {
                long[] bucket = idsInBucket(0, 1, 18);
                long[] first = Arrays.copyOf(bucket, 16);
                gpu.findOrInsert(first, 1);
                place(host, first, 1);
                // Two new ids ahead of 15 stored ones (all but bucket[15]): the first takes bucket[15]'s row, the
                // second finds every row touched at clock 2.
                long[] call = new long[17];
                call[0] = bucket[16];
                call[1] = bucket[17];
                System.arraycopy(bucket, 0, call, 2, 15);
                Placement p = gpu.findOrInsert(call, 2);
                Placement q = place(host, call, 2);
                assertArrayEquals(q.born, p.born);
                assertEquals(-1, p.slots[1]);
                assertEquals(1, gpu.evictions());
                assertTrue(gpu.slotOf(bucket[15]) < 0 && gpu.slotOf(bucket[16]) >= 0);
                assertSameRows(host, gpu, eviction.cliName(), false);
            }
        }
    }

    @Test
    void lruAndLfuChooseTheirVictimsAsTheCpuDevice() {
        for (Eviction eviction : List.of(Eviction.LRU, Eviction.LFU)) {
            TableSpec spec = spec(new OptimizerSpec.Sgd(0.1f, 0f), 2, 16, eviction);
            ModelTable gpu = new ModelTable(spec, ModelKernels.TWO_BLOCKS);
            try (RowTable host = cpu.createTable(spec)) {
                long[] bucket = idsInBucket(0, 1, 20);
                SplittableRandom random = new SplittableRandom(eviction.id);
                // Single-id calls, so every slot is the same as on the CPU device; random touches make the scores.
                long clock = 1;
                for (int i = 0; i < 16; i++, clock++) {
                    gpu.findOrInsert(new long[] {bucket[i]}, clock);
                    place(host, new long[] {bucket[i]}, clock);
                }
                for (int k = 0; k < 40; k++, clock++) {
                    long[] one = {bucket[random.nextInt(20)]};
                    Placement p = gpu.findOrInsert(one, clock);
                    Placement q = place(host, one, clock);
                    assertArrayEquals(q.slots, p.slots, eviction + " at clock " + clock);
                    assertArrayEquals(q.born, p.born, eviction + " at clock " + clock);
                }
                assertEquals(host.evictions(), gpu.evictions());
                assertTrue(gpu.evictions() > 0);
                assertSameRows(host, gpu, eviction.cliName(), false);
            }
        }
    }

    // ---- a table on the model, as a CUDA table would drive the kernels -------------------------------------------

    record Placement(int[] slots, byte[] born) {
    }

    private static Placement place(RowTable t, long[] ids, long clock) {
        int[] slots = new int[ids.length];
        byte[] born = new byte[ids.length];
        t.findOrInsert(idBytes(ids), ids.length, clock, slots, born);
        return new Placement(slots, born);
    }

    private static final class ModelTable {
        final TableSpec spec;
        final LaunchConfig.DeviceShape shape;
        final long slots;
        final int dim;
        final ModelMemory keys;
        final ModelMemory lastTouch;
        final ModelMemory touches;
        final ModelMemory steps;
        final ModelMemory values;
        final ModelMemory[] state;
        /** rows added, evictions, non-finite elements: u64 counters. */
        final ModelMemory counters = ModelMemory.bytes(24);

        ModelTable(TableSpec spec, LaunchConfig.DeviceShape shape) {
            this.spec = spec;
            this.shape = shape;
            this.slots = (spec.capacity() + 15) / 16 * 16;
            this.dim = spec.dim();
            keys = ModelMemory.bytes(8 * slots);
            for (int s = 0; s < slots; s++) {
                keys.buffer().putLong(8 * s, RowTable.EMPTY_KEY);
            }
            lastTouch = ModelMemory.bytes(8 * slots);
            touches = ModelMemory.bytes(4 * slots);
            steps = ModelMemory.bytes(8 * slots);
            values = ModelMemory.floats(slots * dim);
            state = new ModelMemory[spec.optimizer().slots()];
            for (int k = 0; k < state.length; k++) {
                state[k] = ModelMemory.floats(slots * dim);
            }
            for (int i = 0; i < 24; i += 4) {
                counters.putInt(i, 0);
            }
        }

        long rows() {
            return counters.buffer().getLong(0);
        }

        long evictions() {
            return counters.buffer().getLong(8);
        }

        Placement findOrInsert(long[] ids, long clock) {
            int n = ids.length;
            ModelMemory idMemory = ModelMemory.bytes(8L * n);
            idMemory.putBytes(0, idBytes(ids));
            ModelMemory slotMemory = ModelMemory.bytes(4L * n);
            ModelMemory bornMemory = ModelMemory.bytes(n);
            long buckets = slots / 16;
            ModelKernels.launch(KernelNames.TABLE_FIND, n, shape, keys.at(0), lastTouch.at(0), touches.at(0),
                    steps.at(0), buckets, spec.eviction().id, idMemory.at(0), (long) n, clock, slotMemory.at(0),
                    bornMemory.at(0), counters.at(0));
            ModelKernels.launch(KernelNames.TABLE_EVICT, 1, 1, 1, keys.at(0), lastTouch.at(0), touches.at(0),
                    steps.at(0), buckets, spec.eviction().id, idMemory.at(0), (long) n, clock, slotMemory.at(0),
                    bornMemory.at(0), counters.at(8));
            if (state.length > 0) {
                float start = spec.optimizer() instanceof OptimizerSpec.Adagrad a ? a.initialAccumulator() : 0f;
                ModelKernels.launch(KernelNames.TABLE_RESET_STATE, (long) n * dim, shape, state[0].at(0),
                        state.length > 1 ? state[1].at(0) : 0L, dim, slotMemory.at(0), bornMemory.at(0), (long) n, start);
            }
            int[] out = new int[n];
            for (int i = 0; i < n; i++) {
                out[i] = slotMemory.intAt(4L * i);
            }
            byte[] born = bornMemory.bytes(0, n);
            return new Placement(out, born);
        }

        ModelMemory slotsMemory(int[] slotsIn) {
            ModelMemory m = ModelMemory.bytes(4L * slotsIn.length);
            for (int i = 0; i < slotsIn.length; i++) {
                m.putInt(4L * i, slotsIn[i]);
            }
            return m;
        }

        void writeRows(int[] slotsIn, float[] rows) {
            ModelMemory src = ModelMemory.floats(rows.length);
            src.putFloats(0, rows);
            ModelKernels.launch(KernelNames.TABLE_WRITE_ROWS, rows.length, shape, values.at(0), dim,
                    slotsMemory(slotsIn).at(0), (long) slotsIn.length, src.at(0));
        }

        byte[] gather(ModelMemory from, int[] slotsIn, RowDtype dtype) {
            int bytes = (int) (slotsIn.length * dtype.rowBytes(dim));
            ModelMemory out = ModelMemory.bytes(bytes);
            ModelKernels.launch(KernelNames.TABLE_GATHER_ROWS, (long) slotsIn.length * dim, shape, from.at(0), dim,
                    slotsMemory(slotsIn).at(0), (long) slotsIn.length, dtype.id, out.at(0));
            return out.bytes(0, bytes);
        }

        long applyRows(int[] slotsIn, ByteBuffer grads, RowDtype dtype, float gradScale, NonFiniteGuard guard) {
            ModelMemory g = ModelMemory.bytes(grads.remaining());
            g.putBytes(0, grads);
            counters.buffer().putLong(16, 0);
            float[] hyper = Arrays.copyOf(spec.optimizer().hyperParameters(), KernelParameters.MAX_FLOATS);
            LaunchConfig config = LaunchConfig.forBlocks(slotsIn.length, 128, shape);
            ModelKernels.launch(KernelNames.TABLE_APPLY_ROWS, config, spec.optimizer().kind().id, values.at(0),
                    state.length > 0 ? state[0].at(0) : 0L, state.length > 1 ? state[1].at(0) : 0L, steps.at(0), dim,
                    slotsMemory(slotsIn).at(0), (long) slotsIn.length, g.at(0), dtype.id, hyper, gradScale, guard.id,
                    counters.at(16));
            return counters.buffer().getLong(16);
        }

        long[] readCounters(int[] slotsIn) {
            ModelMemory out = ModelMemory.bytes(24L * slotsIn.length);
            ModelKernels.launch(KernelNames.TABLE_READ_COUNTERS, slotsIn.length, shape, lastTouch.at(0), touches.at(0),
                    steps.at(0), slotsMemory(slotsIn).at(0), (long) slotsIn.length, out.at(0));
            long[] c = new long[3 * slotsIn.length];
            for (int i = 0; i < c.length; i++) {
                c[i] = out.buffer().getLong(8 * i);
            }
            return c;
        }

        int slotOf(long id) {
            for (int s = 0; s < slots; s++) {
                if (keys.buffer().getLong(8 * s) == id) {
                    return s;
                }
            }
            return -1;
        }

        Map<Long, Integer> stored() {
            Map<Long, Integer> rows = new HashMap<>();
            for (int s = 0; s < slots; s++) {
                long k = keys.buffer().getLong(8 * s);
                if (k != RowTable.EMPTY_KEY) {
                    rows.put(k, s);
                }
            }
            return rows;
        }
    }

    /** The same ids stored, each with the same counters, values and state bits. */
    private static void assertSameRows(RowTable host, ModelTable gpu, String what) {
        assertSameRows(host, gpu, what, true);
    }

    /** The same, leaving out the values where the test never wrote them (a born row's are undefined). */
    private static void assertSameRows(RowTable host, ModelTable gpu, String what, boolean values) {
        int n = (int) host.slots();
        long[] ids = new long[n];
        int[] hostSlots = new int[n];
        int count = host.listRows(0, n, ids, hostSlots);
        Map<Long, Integer> stored = gpu.stored();
        assertEquals(count, stored.size(), what + ": rows stored");
        int[] h = Arrays.copyOf(hostSlots, count);
        int[] g = new int[count];
        for (int i = 0; i < count; i++) {
            Integer s = stored.get(ids[i]);
            assertTrue(s != null, what + ": id " + ids[i] + " is not stored in the model's table");
            g[i] = s;
        }
        long[] counters = new long[3 * count];
        host.readCounters(h, count, counters);
        assertArrayEquals(counters, gpu.readCounters(g), what + ": counters");
        if (values) {
            assertArrayEquals(gather(host, h, RowDtype.FP32), gpu.gather(gpu.values, g, RowDtype.FP32), what + ": values");
        }
        for (int k = 0; k < gpu.state.length; k++) {
            ByteBuffer out = ByteBuffer.allocate(4 * count * gpu.dim);
            host.gatherState(k, h, count, out);
            assertArrayEquals(out.array(), gpu.gather(gpu.state[k], g, RowDtype.FP32), what + ": state slot " + k);
        }
    }

    private static byte[] gather(RowTable t, int[] slots, RowDtype dtype) {
        ByteBuffer out = ByteBuffer.allocate((int) (slots.length * dtype.rowBytes(t.spec().dim())));
        t.gatherRows(slots, slots.length, dtype, out);
        return out.array();
    }

    private static ByteBuffer gradients(RowDtype dtype, int rows, int dim, SplittableRandom random) {
        ByteBuffer out = ByteBuffer.allocate((int) (rows * dtype.rowBytes(dim))).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < out.capacity(); i++) {
            out.put(i, (byte) random.nextInt());
        }
        if (dtype == RowDtype.INT8) {
            for (int r = 0; r < rows; r++) {
                out.putFloat((int) (r * dtype.rowBytes(dim)), (float) random.nextDouble() * 0.01f);
            }
        } else if (dtype == RowDtype.FP32) {
            for (int e = 0; e < rows * dim; e++) {
                out.putFloat(4 * e, (float) random.nextGaussian());
            }
        }
        return out;  // bf16 and fp16: random bits, infinities and NaNs among them
    }

    private static ByteBuffer idBytes(long[] ids) {
        ByteBuffer b = ByteBuffer.allocate(8 * ids.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long id : ids) {
            b.putLong(id);
        }
        return b.flip();
    }

    private static ByteBuffer floats(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.flip();
    }

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
}
