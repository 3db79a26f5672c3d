package io.gpups.nativecpu;

import io.gpups.core.device.DeviceOutOfMemoryException;
import io.gpups.core.device.NonFiniteGuard;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.RowTable;
import io.gpups.core.table.TableSpec;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.atomic.LongAdder;

/**
 * A {@link RowTable} in the CPU device's memory: the host loops of {@code gpups_cpu.h} over the shared table math of
 * {@code gpups/tables.cuh}. Every argument is checked here before a native call, so a bad call changes nothing.
 *
 * <p>{@link #findOrInsert} runs on the calling thread (its two passes are in index order, so the slots are the same on
 * every run). Writes, gathers and optimizer steps over many elements are split by whole rows over the device's
 * threads; each row is one thread's, so the bits do not depend on the thread count. Beyond the interface's checks,
 * {@link #writeRows} and {@link #applyRows} refuse a slot given twice (two threads could otherwise race on that row).
 */
final class CpuRowTable implements RowTable {

    /** Bytes per slot of the counters: key, last touch and step (u64 each), touches (u32). */
    private static final long COUNTER_BYTES_PER_SLOT = 8 + 8 + 8 + 4;

    private final CpuDevice device;
    private final TableSpec spec;
    private final RangeSplitter splitter;
    private final long slots;
    private final int dim;
    private final int stateSlots;
    private Pointer table;
    /** The clock of the last findOrInsert or restoreRows; the next must be greater. */
    private long lastClock = -1;

    private CpuRowTable(CpuDevice device, TableSpec spec, RangeSplitter splitter, long slots, Pointer table) {
        this.device = device;
        this.spec = spec;
        this.splitter = splitter;
        this.slots = slots;
        this.dim = spec.dim();
        this.stateSlots = spec.optimizer().slots();
        this.table = table;
    }

    /** A new, empty table for {@code spec}; its rows' work is split by {@code splitter}. */
    static CpuRowTable create(CpuDevice device, TableSpec spec, RangeSplitter splitter) {
        if (spec == null) {
            throw new IllegalArgumentException("table spec is null");
        }
        long slots = (spec.capacity() + BUCKET_SLOTS - 1) / BUCKET_SLOTS * BUCKET_SLOTS;
        float[] hyper = spec.optimizer().hyperParameters();
        Pointer table = CpuKernels.table_create(slots, spec.dim(), spec.optimizer().kind().id, spec.eviction().id,
                hyper, hyper.length);
        if (table == null || table.isNull()) {
            long bytes = slots * COUNTER_BYTES_PER_SLOT + slots * spec.dim() * (long) Float.BYTES * (1 + spec.optimizer().slots());
            throw new DeviceOutOfMemoryException("table '" + spec.name() + "': the cpu device could not allocate "
                    + bytes + " bytes for " + slots + " slots of dim " + spec.dim());
        }
        return new CpuRowTable(device, spec, splitter, slots, table);
    }

    @Override
    public TableSpec spec() {
        return spec;
    }

    @Override
    public long slots() {
        return slots;
    }

    @Override
    public long rows() {
        return CpuKernels.table_rows(open());
    }

    @Override
    public long evictions() {
        return CpuKernels.table_evictions(open());
    }

    @Override
    public long findOrInsert(ByteBuffer ids, int count, long clock, int[] slotsOut, byte[] born) {
        Pointer t = open();
        checkIds(ids, count);
        checkArray("slots", slotsOut == null ? -1 : slotsOut.length, count);
        checkArray("born", born == null ? -1 : born.length, count);
        checkClock(clock);
        if (count == 0) {
            lastClock = clock;
            return 0;
        }
        try (CpuDevice.HostBytes in = CpuDevice.HostBytes.readingBytes(ids, "ids", 8L * count)) {
            long evicted = CpuKernels.table_find_or_insert(t, in.pointer(), count, clock, slotsOut, born);
            lastClock = clock;
            return evicted;
        }
    }

    @Override
    public void writeRows(int[] slotsIn, int count, ByteBuffer values) {
        Pointer t = open();
        checkSlots(slotsIn, count, true);
        long rowBytes = RowDtype.FP32.rowBytes(dim);
        checkBuffer(values, "values", rowBytes * count);
        if (count == 0) {
            return;
        }
        try (CpuDevice.HostBytes in = CpuDevice.HostBytes.readingBytes(values, "values", rowBytes * count);
             IntPointer s = new IntPointer(slotsIn)) {
            checkStored(t, s, slotsIn, count);
            BytePointer base = in.pointer();
            splitter.runRows(count, dim, (o, n) -> CpuKernels.table_write_rows(t, at(s, o), n,
                    CpuDevice.bytesAt(base, rowBytes * o)));
        }
    }

    @Override
    public void gatherRows(int[] slotsIn, int count, RowDtype dtype, ByteBuffer out) {
        Pointer t = open();
        checkSlots(slotsIn, count, false);
        if (dtype == null || !dtype.pullable) {
            throw new IllegalArgumentException("table '" + spec.name() + "': rows cannot be gathered as " + dtype
                    + "; expected a pullable dtype (fp32, bf16, fp16)");
        }
        long rowBytes = dtype.rowBytes(dim);
        checkBuffer(out, "out", rowBytes * count);
        if (count == 0) {
            return;
        }
        try (CpuDevice.HostBytes o = CpuDevice.HostBytes.writingBytes(out, "out", rowBytes * count);
             IntPointer s = new IntPointer(slotsIn)) {
            checkStored(t, s, slotsIn, count);
            BytePointer base = o.pointer();
            splitter.runRows(count, dim, (from, n) -> CpuKernels.table_gather_rows(t, at(s, from), n, dtype.id,
                    CpuDevice.bytesAt(base, rowBytes * from)));
        }
    }

    @Override
    public long applyRows(int[] slotsIn, int count, ByteBuffer gradients, RowDtype dtype, float gradScale,
                          NonFiniteGuard guard) {
        Pointer t = open();
        checkSlots(slotsIn, count, true);
        if (dtype == null) {
            throw new IllegalArgumentException("table '" + spec.name() + "': gradient dtype is null");
        }
        if (guard == null) {
            throw new IllegalArgumentException("table '" + spec.name() + "': non-finite guard is null");
        }
        if (!Float.isFinite(gradScale)) {
            throw new IllegalArgumentException("table '" + spec.name() + "': gradScale must be finite, got " + gradScale);
        }
        long rowBytes = dtype.rowBytes(dim);
        checkBuffer(gradients, "gradients", rowBytes * count);
        if (count == 0) {
            return 0;
        }
        try (CpuDevice.HostBytes in = CpuDevice.HostBytes.readingBytes(gradients, "gradients", rowBytes * count);
             IntPointer s = new IntPointer(slotsIn)) {
            checkStored(t, s, slotsIn, count);
            BytePointer base = in.pointer();
            LongAdder nonFinite = new LongAdder();
            splitter.runRows(count, dim, (o, n) -> nonFinite.add(CpuKernels.table_apply_rows(t, at(s, o), n,
                    CpuDevice.bytesAt(base, rowBytes * o), dtype.id, gradScale, guard.id)));
            return nonFinite.sum();
        }
    }

    @Override
    public void gatherState(int stateSlot, int[] slotsIn, int count, ByteBuffer out) {
        Pointer t = open();
        checkStateSlot(stateSlot);
        checkSlots(slotsIn, count, false);
        long rowBytes = RowDtype.FP32.rowBytes(dim);
        checkBuffer(out, "out", rowBytes * count);
        if (count == 0) {
            return;
        }
        try (CpuDevice.HostBytes o = CpuDevice.HostBytes.writingBytes(out, "out", rowBytes * count);
             IntPointer s = new IntPointer(slotsIn)) {
            checkStored(t, s, slotsIn, count);
            BytePointer base = o.pointer();
            splitter.runRows(count, dim, (from, n) -> CpuKernels.table_gather_state(t, stateSlot, at(s, from), n,
                    CpuDevice.bytesAt(base, rowBytes * from)));
        }
    }

    @Override
    public void readCounters(int[] slotsIn, int count, long[] out) {
        Pointer t = open();
        checkSlots(slotsIn, count, false);
        checkArray("counters out", out == null ? -1 : out.length, 3L * count);
        if (count == 0) {
            return;
        }
        try (IntPointer s = new IntPointer(slotsIn)) {
            checkStored(t, s, slotsIn, count);
            CpuKernels.table_read_counters(t, s, count, out);
        }
    }

    @Override
    public int listRows(long fromSlot, int max, long[] ids, int[] slotsOut) {
        Pointer t = open();
        if (fromSlot < 0 || fromSlot > slots) {
            throw new IllegalArgumentException("table '" + spec.name() + "': fromSlot " + fromSlot
                    + " out of range 0.." + slots);
        }
        if (max < 0) {
            throw new IllegalArgumentException("table '" + spec.name() + "': max must be >= 0, got " + max);
        }
        checkArray("ids", ids == null ? -1 : ids.length, max);
        checkArray("slots", slotsOut == null ? -1 : slotsOut.length, max);
        return CpuKernels.table_list_rows(t, fromSlot, max, ids, slotsOut);
    }

    @Override
    public long restoreRows(ByteBuffer ids, int count, ByteBuffer values, ByteBuffer[] state, long[] counters,
                            long clock) {
        Pointer t = open();
        checkIds(ids, count);
        long rowBytes = RowDtype.FP32.rowBytes(dim);
        checkBuffer(values, "values", rowBytes * count);
        if (state == null || state.length != stateSlots) {
            throw new IllegalArgumentException("table '" + spec.name() + "': " + spec.optimizer().kind().cliName()
                    + " keeps " + stateSlots + " state slot(s), got " + (state == null ? "null" : state.length + " buffers"));
        }
        for (int k = 0; k < stateSlots; k++) {
            checkBuffer(state[k], "state slot " + k, rowBytes * count);
        }
        checkCounters(counters, count);
        checkClock(clock);
        if (count == 0) {
            lastClock = clock;
            return 0;
        }
        int[] placed = new int[count];
        findOrInsert(ids, count, clock, placed, new byte[count]);
        try (IntPointer s = new IntPointer(placed)) {
            try (CpuDevice.HostBytes in = CpuDevice.HostBytes.readingBytes(values, "values", rowBytes * count)) {
                CpuKernels.table_write_rows(t, s, count, in.pointer());
            }
            for (int k = 0; k < stateSlots; k++) {
                try (CpuDevice.HostBytes in = CpuDevice.HostBytes.readingBytes(state[k], "state " + k, rowBytes * count)) {
                    CpuKernels.table_write_state(t, k, s, count, in.pointer());
                }
            }
            CpuKernels.table_write_counters(t, s, count, counters);
        }
        return Arrays.stream(placed).filter(slot -> slot < 0).count();
    }

    /** Frees the table's memory; closing twice is harmless. */
    @Override
    public void close() {
        if (table != null) {
            CpuKernels.table_free(table);
            table = null;
            device.released(this);
        }
    }

    @Override
    public String toString() {
        return "CpuRowTable[" + spec + ", slots=" + slots + (table == null ? ", closed]" : "]");
    }

    // ---- checks -------------------------------------------------------------------------------------

    private Pointer open() {
        if (table == null) {
            throw new IllegalStateException("table '" + spec.name() + "' is closed");
        }
        return table;
    }

    /** {@code s} from element {@code offset} on. */
    private static IntPointer at(IntPointer s, long offset) {
        return offset == 0 ? s : new IntPointer(s).position(s.position() + offset);
    }

    private void checkCount(int count) {
        if (count < 0) {
            throw new IllegalArgumentException("table '" + spec.name() + "': count must be >= 0, got " + count);
        }
    }

    private void checkArray(String role, long length, long needed) {
        if (length < 0) {
            throw new IllegalArgumentException("table '" + spec.name() + "': " + role + " array is null");
        }
        if (length < needed) {
            throw new IllegalArgumentException("table '" + spec.name() + "': " + role + " array holds " + length
                    + " elements, " + needed + " needed");
        }
    }

    private void checkClock(long clock) {
        if (clock < 0 || clock <= lastClock) {
            throw new IllegalArgumentException("table '" + spec.name() + "': clock " + clock
                    + " must be >= 0 and greater than the last call's, " + lastClock);
        }
    }

    /** {@code bytes} bytes from the buffer's position on. */
    private void checkBuffer(ByteBuffer buffer, String role, long bytes) {
        if (buffer == null) {
            throw new IllegalArgumentException("table '" + spec.name() + "': " + role + " buffer is null");
        }
        if (buffer.remaining() < bytes) {
            throw new IllegalArgumentException("table '" + spec.name() + "': " + role + " needs " + bytes
                    + " bytes, the buffer has " + buffer.remaining() + " remaining");
        }
    }

    /** {@code count} u64 ids in the buffer, none of them the free-slot key. */
    private void checkIds(ByteBuffer ids, int count) {
        checkCount(count);
        checkBuffer(ids, count + " ids", 8L * count);
        ByteBuffer le = ids.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int base = ids.position();
        for (int i = 0; i < count; i++) {
            long id = le.getLong(base + 8 * i);
            if (id == EMPTY_KEY) {
                throw new IllegalArgumentException("table '" + spec.name() + "': id " + i + " is " + Long.toUnsignedString(id)
                        + " (0xFFFFFFFFFFFFFFFF), the key of a free slot, which no row can have");
            }
        }
    }

    /** {@code count} slot indices in {@code [0, slots)}; with {@code distinct}, none given twice. */
    private void checkSlots(int[] slotsIn, int count, boolean distinct) {
        checkCount(count);
        checkArray("slots", slotsIn == null ? -1 : slotsIn.length, count);
        for (int i = 0; i < count; i++) {
            if (slotsIn[i] < 0 || slotsIn[i] >= slots) {
                throw new IllegalArgumentException("table '" + spec.name() + "': slot " + i + " is " + slotsIn[i]
                        + ", expected 0.." + (slots - 1));
            }
        }
        if (distinct && count > 1) {
            int[] sorted = Arrays.copyOf(slotsIn, count);
            Arrays.sort(sorted);
            for (int i = 1; i < count; i++) {
                if (sorted[i] == sorted[i - 1]) {
                    throw new IllegalArgumentException("table '" + spec.name() + "': slot " + sorted[i]
                            + " is given twice; the rows of one call must be distinct");
                }
            }
        }
    }

    /** Each of the first {@code count} slots (also at {@code s}, already checked to be in range) holds a row. */
    private void checkStored(Pointer t, IntPointer s, int[] slotsIn, int count) {
        long unused = CpuKernels.table_first_unused(t, s, count);
        if (unused >= 0) {
            throw new IllegalArgumentException("table '" + spec.name() + "': slot " + unused + " is " + slotsIn[(int) unused]
                    + ", which holds no row (not a slot findOrInsert returned)");
        }
    }

    private void checkStateSlot(int stateSlot) {
        if (stateSlot < 0 || stateSlot >= stateSlots) {
            throw new IllegalArgumentException("table '" + spec.name() + "': state slot " + stateSlot + " out of range; "
                    + spec.optimizer().kind().cliName() + " keeps " + stateSlots);
        }
    }

    /** Three counters per row: step >= 0, last touch >= 0, touches 0..2^32 - 1. */
    private void checkCounters(long[] counters, int count) {
        checkArray("counters", counters == null ? -1 : counters.length, 3L * count);
        for (int i = 0; i < count; i++) {
            long step = counters[3 * i];
            long last = counters[3 * i + 1];
            long touches = counters[3 * i + 2];
            if (step < 0 || last < 0 || touches < 0 || touches > 0xFFFFFFFFL) {
                throw new IllegalArgumentException("table '" + spec.name() + "': counters of row " + i + " (step "
                        + step + ", last touch " + last + ", touches " + touches
                        + ") out of range: expected step >= 0, last touch >= 0, touches 0.." + 0xFFFFFFFFL);
            }
        }
    }
}
