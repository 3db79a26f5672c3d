package io.gpups.server;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.DeviceOutOfMemoryException;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.protocol.ProtocolException;
import io.gpups.core.protocol.TableMessages;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.RowIds;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.RowTable;
import io.gpups.core.table.RowValues;
import io.gpups.core.table.TableSpec;
import io.gpups.core.table.UniqueIds;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.IntPredicate;
import java.util.function.LongSupplier;

/**
 * The embedding tables a shard holds (REGISTER_TABLE, PULL_ROWS, PUSH_ROWS): each a {@link RowTable} on the shard's
 * device, its rows found or born by id on every request. Agent thread only.
 *
 * <p>On an asp shard a push is applied on arrival. On a bsp shard a table has a version (the steps applied): a push
 * for step t is summed (on the host, in float) with the other workers' pushes for t and answered OK; once every live
 * worker has pushed for the table's version, that step is applied once with the mean of the pushes, and the steps held
 * behind it follow when they are complete too. A pull at clock c waits (parked, at most
 * {@value #MAX_PARKED_ROW_PULLS} per shard) until the version is at least c. An ssp shard refuses REGISTER_TABLE.
 *
 * <p>Every request is checked whole before the table changes: the table, the dtype, the ids (unique, none the free
 * key) and the payload's length. A row is born with {@link RowIds#initialValues} on its first touch, pull or push.
 * When a table with eviction {@code none} is full, a request that brings new ids is refused with OUT_OF_MEMORY and
 * nothing of it is applied; the rows it found or made before the full bucket stay, at their values.
 */
final class ShardTables implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ShardTables.class);
    /** The largest answer payload a frame's length field allows. */
    private static final long MAX_ANSWER_PAYLOAD = Integer.MAX_VALUE - Frame.HEADER_LENGTH;

    /** Most row pulls a bsp shard holds back at once, all tables and connections together. */
    static final int MAX_PARKED_ROW_PULLS = 4096;
    /** How many steps past its table's version a bsp push may be held for. */
    static final long MAX_STEPS_AHEAD = 64;

    /** bsp: the pushes of one step of one table, summed per row, and which ranks pushed. */
    static final class BspStep {
        final boolean[] pushed;
        int pushers;
        /** Pushes that add to the sum (a skipped non-finite push is counted as pushed, but adds nothing). */
        int contributions;
        /** Each row's gradient sum, by id, in first-pushed order. */
        final Map<Long, float[]> sums = new LinkedHashMap<>();

        BspStep(int workers) {
            this.pushed = new boolean[workers];
        }
    }

    /** bsp: a row pull waiting for its table's version to reach its clock, with a copy of its ids. */
    record ParkedRowPull(Channel channel, long requestId, TableMessages.RowsHeader header, byte[] ids) {
        ByteBuf idBuffer() {
            return Unpooled.wrappedBuffer(ids);
        }
    }

    /** A registered table: its spec, its rows on the device, its clock and its counters. */
    static final class TableState {
        final int id;
        final TableSpec spec;
        final RowTable rows;
        final long reservedBytes;
        /** Counts this table's requests: the clock of each request's touches. */
        long clock;
        long rowsPulled;
        long rowsPushed;
        long rowsBorn;
        /** Rows put back from a checkpoint at registration, and those of its rows that found no room here. */
        long rowsRestored;
        long rowsNotRestored;
        long requests;
        long idsInRequests;
        /** Time in the table's lookups and inserts, its gathers (pulls) and its optimizer steps (pushes). */
        long lookupNanos;
        long gatherNanos;
        long applyNanos;
        /** bsp: the steps applied, and the steps being collected (the version's and any held behind it). */
        long version;
        final TreeMap<Long, BspStep> steps = new TreeMap<>();
        long duplicatePushes;

        /** This table's counters as a JSON object (STATS). */
        String toJson() {
            return "{\"name\":\"" + jsonEscape(spec.name()) + "\""
                    + ",\"id\":" + id
                    + ",\"dim\":" + spec.dim()
                    + ",\"eviction\":\"" + spec.eviction().cliName() + "\""
                    + ",\"optimizer\":\"" + spec.optimizer().kind().cliName() + "\""
                    + ",\"rows\":" + rows.rows()
                    + ",\"slots\":" + rows.slots()
                    + ",\"capacity\":" + spec.capacity()
                    + ",\"load_factor\":" + (double) rows.rows() / rows.slots()
                    + ",\"evictions\":" + rows.evictions()
                    + ",\"rows_born\":" + rowsBorn
                    + ",\"rows_restored\":" + rowsRestored
                    + ",\"rows_not_restored\":" + rowsNotRestored
                    + ",\"rows_pulled\":" + rowsPulled
                    + ",\"rows_pushed\":" + rowsPushed
                    + ",\"requests\":" + requests
                    + ",\"ids_in_requests\":" + idsInRequests
                    + ",\"lookup_seconds\":" + lookupNanos / 1e9
                    + ",\"gather_seconds\":" + gatherNanos / 1e9
                    + ",\"apply_seconds\":" + applyNanos / 1e9
                    + ",\"version\":" + version
                    + ",\"duplicate_pushes\":" + duplicatePushes
                    + "}";
        }

        TableState(int id, TableSpec spec, RowTable rows, long reservedBytes) {
            this.id = id;
            this.spec = spec;
            this.rows = rows;
            this.reservedBytes = reservedBytes;
        }
    }

    private final ShardConfig config;
    private final LongSupplier nanoTime;
    private final ShardDevice device;
    private final ShardTensors budget;
    private final NonFinitePushes nonFinite;
    private final boolean applyOnArrival;
    private final boolean bsp;
    /** bsp: whether a rank counts (is live) for completing a step. */
    private final IntPredicate alive;
    private final List<ParkedRowPull> parked = new ArrayList<>();
    private final Map<String, TableState> byName = new HashMap<>();
    private final List<TableState> byId = new ArrayList<>();
    private final UniqueIds unique = new UniqueIds();
    /** Scratch reused by every request: the slots of its ids and which of them were born. */
    private int[] slots = new int[0];
    private byte[] born = new byte[0];

    ShardTables(ShardConfig config, ShardDevice device, ShardTensors budget, NonFinitePushes nonFinite,
                LongSupplier nanoTime, IntPredicate alive) {
        this.config = config;
        this.alive = alive;
        this.nanoTime = nanoTime;
        this.device = device;
        this.budget = budget;
        this.nonFinite = nonFinite;
        this.applyOnArrival = config.consistency().mode() == Consistency.Mode.ASP;
        this.bsp = config.consistency().mode() == Consistency.Mode.BSP;
    }

    /** Device bytes a table of {@code spec} takes on one shard: its slots' keys, counters, values and state. */
    static long tableBytes(TableSpec spec) {
        long slots = (spec.capacity() + RowTable.BUCKET_SLOTS - 1) / RowTable.BUCKET_SLOTS * RowTable.BUCKET_SLOTS;
        return slots * (8 + 8 + 4 + 4 + 4L * spec.dim() * (1 + spec.optimizer().slots()));
    }

    /**
     * The id of the table {@code reg} registers: the one registered before under its name when the specs are equal,
     * else a new one, which {@code restore} fills (from a checkpoint, or not at all) before it is registered. Refused
     * with CONFLICT, FORBIDDEN (an ssp shard) or OUT_OF_MEMORY, or as {@code restore} throws; a refused table is
     * freed.
     */
    int register(TableMessages.RegisterTable reg, Consumer<TableState> restore) {
        TableSpec spec = reg.spec();
        TableState existing = byName.get(spec.name());
        if (existing != null) {
            if (!existing.spec.equals(spec)) {
                throw new ProtocolException(ErrorCode.CONFLICT, "table '" + spec.name() + "' is already registered as "
                        + existing.spec + "; conflicting definition " + spec);
            }
            return existing.id;
        }
        if (!applyOnArrival && !bsp) {
            throw new ProtocolException(ErrorCode.FORBIDDEN, "REGISTER_TABLE '" + spec.name() + "': this shard runs "
                    + config.consistency() + "; embedding tables are served under asp and bsp only");
        }
        long bytes = tableBytes(spec);
        budget.reserve(bytes, "REGISTER_TABLE '" + spec.name() + "'");
        RowTable rows;
        try {
            rows = device.issuedDevice().createTable(spec);
        } catch (DeviceOutOfMemoryException | OutOfMemoryError e) {
            budget.release(bytes);
            throw new ProtocolException(ErrorCode.OUT_OF_MEMORY, "REGISTER_TABLE '" + spec.name()
                    + "': cannot allocate " + bytes + " device bytes: " + e.getMessage());
        } catch (UnsupportedOperationException e) {
            budget.release(bytes);
            throw new ProtocolException(ErrorCode.FORBIDDEN, "REGISTER_TABLE '" + spec.name() + "': " + e.getMessage());
        } catch (RuntimeException e) {
            budget.release(bytes);
            throw e;
        }
        TableState t = new TableState(byId.size(), spec, rows, bytes);
        try {
            restore.accept(t);
        } catch (RuntimeException e) {
            rows.close();
            budget.release(bytes);
            throw e;
        }
        byId.add(t);
        byName.put(spec.name(), t);
        log.info("registered table {} ({} slots, {} device bytes)", spec, rows.slots(), bytes);
        return t.id;
    }

    /** PULL_ROWS: the DATA answer with the rows of the ids, born where new. */
    ByteBuf pull(ByteBufAllocator alloc, long requestId, TableMessages.RowsHeader h, ByteBuf ids) {
        TableState t = table(h.tableId(), Opcode.PULL_ROWS);
        ByteBuffer idBytes = ids.nioBuffer(ids.readerIndex(), 8 * h.count()).order(ByteOrder.LITTLE_ENDIAN);
        findOrInsert(t, idBytes, h.count(), Opcode.PULL_ROWS);
        long rowBytes = h.dtype().rowBytes(t.spec.dim());
        long payload = TableMessages.RowsReplyHeader.LENGTH + h.count() * rowBytes;
        if (payload > MAX_ANSWER_PAYLOAD) {
            throw new ProtocolException(ErrorCode.SIZE_MISMATCH, "PULL_ROWS of " + h.count() + " rows of dim "
                    + t.spec.dim() + " as " + h.dtype().name().toLowerCase() + " is a " + payload
                    + "-byte answer, more than a frame holds (" + MAX_ANSWER_PAYLOAD + ")");
        }
        ByteBuf out = alloc.directBuffer(Frame.HEADER_LENGTH + (int) payload);
        try {
            Frames.writeHeader(out, Opcode.DATA, requestId, (int) payload);
            new TableMessages.RowsReplyHeader(h.count(), h.dtype()).writeTo(out);
            int bytes = (int) (h.count() * rowBytes);
            long start = nanoTime.getAsLong();
            t.rows.gatherRows(slots, h.count(), h.dtype(),
                    out.nioBuffer(out.writerIndex(), bytes).order(ByteOrder.LITTLE_ENDIAN));
            t.gatherNanos += nanoTime.getAsLong() - start;
            out.writerIndex(out.writerIndex() + bytes);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
        t.rowsPulled += h.count();
        return out;
    }

    /** PUSH_ROWS from {@code rank}: one optimizer step on each row, born where new; null, or the error to answer. */
    ProtocolException push(int rank, TableMessages.RowsHeader h, ByteBuf payload) {
        TableState t = table(h.tableId(), Opcode.PUSH_ROWS);
        h.checkRows(payload, t.spec.dim());
        if (bsp) {
            return pushBsp(t, rank, h, payload);
        }
        if (h.count() == 0) {
            return null;   // an empty push (a bsp worker's step with no rows here) applies nothing
        }
        ByteBuffer idBytes = payload.nioBuffer(payload.readerIndex(), 8 * h.count()).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer grads = payload.nioBuffer(payload.readerIndex() + 8 * h.count(),
                payload.readableBytes() - 8 * h.count()).order(ByteOrder.LITTLE_ENDIAN);
        findOrInsert(t, idBytes, h.count(), Opcode.PUSH_ROWS);
        long start = nanoTime.getAsLong();
        long bad = t.rows.applyRows(slots, h.count(), grads, h.dtype(), 1f, nonFinite.guard());
        t.applyNanos += nanoTime.getAsLong() - start;
        t.rowsPushed += h.count();
        if (bad == 0) {
            return null;
        }
        return nonFinite.foundInRows(t.spec.name(), rank, h.clock(), bad, (long) h.count() * t.spec.dim());
    }

    /**
     * The slots of a request's ids (into {@link #slots}), rows born where new with their initial values. Refused before
     * anything changes when the ids are not unique; with OUT_OF_MEMORY when the table has no room for a new id.
     */
    private void findOrInsert(TableState t, ByteBuffer ids, int count, Opcode what) {
        String problem = unique.check(ids, count);
        if (problem != null) {
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, what + " to table '" + t.spec.name() + "': " + problem);
        }
        if (slots.length < count) {
            slots = new int[count];
            born = new byte[count];
        }
        t.requests++;
        t.idsInRequests += count;
        long start = nanoTime.getAsLong();
        t.rows.findOrInsert(ids, count, ++t.clock, slots, born);
        t.lookupNanos += nanoTime.getAsLong() - start;
        int newRows = 0;
        for (int i = 0; i < count; i++) {
            if (slots[i] < 0) {
                initialize(t, ids, count);
                throw new ProtocolException(ErrorCode.OUT_OF_MEMORY, what + " to table '" + t.spec.name() + "': no room"
                        + " for id " + Long.toUnsignedString(ids.getLong(ids.position() + 8 * i)) + " ("
                        + t.rows.rows() + " of " + t.rows.slots() + " slots in use, eviction " + t.spec.eviction().cliName()
                        + (t.spec.eviction() == Eviction.NONE ? ")"
                        : "; every row of its bucket was touched by this request)") + "; nothing was applied");
            }
            newRows += born[i];
        }
        if (newRows > 0) {
            initialize(t, ids, count);
        }
    }

    /** Writes the initial values of the rows {@link #findOrInsert} marked born (those with a slot). */
    private void initialize(TableState t, ByteBuffer ids, int count) {
        int dim = t.spec.dim();
        int n = 0;
        for (int i = 0; i < count; i++) {
            if (born[i] != 0 && slots[i] >= 0) {
                n++;
            }
        }
        if (n == 0) {
            return;
        }
        int[] bornSlots = new int[n];
        float[] row = new float[dim];
        ByteBuffer values = ByteBuffer.allocateDirect(4 * n * dim).order(ByteOrder.LITTLE_ENDIAN);
        int k = 0;
        for (int i = 0; i < count; i++) {
            if (born[i] != 0 && slots[i] >= 0) {
                bornSlots[k++] = slots[i];
                RowIds.initialValues(t.spec.initializer(), ids.getLong(ids.position() + 8 * i), dim, row, 0);
                for (float v : row) {
                    values.putFloat(v);
                }
            }
        }
        values.flip();
        t.rows.writeRows(bornSlots, n, values);
        t.rowsBorn += n;
    }

    // ---- bsp ------------------------------------------------------------------------------------------

    /**
     * PULL_ROWS on a bsp shard whose table is not yet at the pull's clock: parks a copy of the ids (the frame may then
     * be released) and returns true; false when the pull can be answered now (asp, or the version is there). Refused
     * when the shard already holds {@value #MAX_PARKED_ROW_PULLS} parked row pulls.
     */
    boolean parkIfAhead(Channel ch, long requestId, TableMessages.RowsHeader h, ByteBuf ids) {
        if (!bsp) {
            return false;
        }
        TableState t = table(h.tableId(), Opcode.PULL_ROWS);
        if (h.clock() <= t.version) {
            return false;
        }
        ByteBuffer idBytes = ids.nioBuffer(ids.readerIndex(), 8 * h.count()).order(ByteOrder.LITTLE_ENDIAN);
        String problem = unique.check(idBytes, h.count());
        if (problem != null) {
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "PULL_ROWS to table '" + t.spec.name() + "': " + problem);
        }
        if (parked.size() >= MAX_PARKED_ROW_PULLS) {
            throw new ProtocolException(ErrorCode.OUT_OF_MEMORY, "PULL_ROWS of table '" + t.spec.name() + "' at clock "
                    + h.clock() + " would wait (the table has applied " + t.version + " steps), but the shard already"
                    + " holds " + parked.size() + " parked row pulls, its limit (" + MAX_PARKED_ROW_PULLS
                    + "): pull fewer requests ahead of the step at once");
        }
        byte[] copy = new byte[8 * h.count()];
        ids.getBytes(ids.readerIndex(), copy);
        parked.add(new ParkedRowPull(ch, requestId, h, copy));
        return true;
    }

    /** bsp: removes and returns the parked pulls whose table has reached their clock, in the order they came. */
    List<ParkedRowPull> takeReadyPulls() {
        if (parked.isEmpty()) {
            return List.of();
        }
        List<ParkedRowPull> ready = new ArrayList<>();
        Iterator<ParkedRowPull> it = parked.iterator();
        while (it.hasNext()) {
            ParkedRowPull p = it.next();
            TableState t = byId.get(p.header().tableId());
            if (p.header().clock() <= t.version) {
                ready.add(p);
                it.remove();
            }
        }
        return ready;
    }

    /** Forgets the parked row pulls of a closed connection. */
    void connectionClosed(Channel ch) {
        parked.removeIf(p -> p.channel() == ch);
    }

    /** Row pulls parked now. */
    int parkedPulls() {
        return parked.size();
    }

    /**
     * A bsp push of {@code rank} for step {@code h.clock()}: summed into its step (held when that step is ahead of the
     * table's version), and the complete steps applied. A second push of the same rank for the same step changes
     * nothing; a push for a step already applied is STALE_STEP.
     */
    private ProtocolException pushBsp(TableState t, int rank, TableMessages.RowsHeader h, ByteBuf payload) {
        if (rank < 0 || rank >= config.workers()) {
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "bsp PUSH_ROWS needs a worker rank; this connection"
                    + " said HELLO with rank " + rank);
        }
        int count = h.count();
        int dim = t.spec.dim();
        ByteBuffer idBytes = payload.nioBuffer(payload.readerIndex(), 8 * count).order(ByteOrder.LITTLE_ENDIAN);
        String problem = unique.check(idBytes, count);
        if (problem != null) {
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "PUSH_ROWS to table '" + t.spec.name() + "': " + problem);
        }
        long step = h.clock();
        if (step < t.version) {
            throw new ProtocolException(ErrorCode.STALE_STEP, "bsp PUSH_ROWS to table '" + t.spec.name() + "' from rank "
                    + rank + " for step " + step + ", but the table has applied " + t.version + " steps (it is collecting"
                    + " step " + t.version + ")");
        }
        if (step - t.version > MAX_STEPS_AHEAD) {
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "bsp PUSH_ROWS to table '" + t.spec.name() + "' from rank "
                    + rank + " for step " + step + ", but the table is collecting step " + t.version + ": a push may be"
                    + " held at most " + MAX_STEPS_AHEAD + " steps ahead");
        }
        BspStep s = t.steps.get(step);
        if (s != null && s.pushed[rank]) {
            t.duplicatePushes++;
            return null;
        }
        float[] grads = new float[count * dim];
        ByteBuffer rows = payload.nioBuffer(payload.readerIndex() + 8 * count, payload.readableBytes() - 8 * count)
                .order(ByteOrder.LITTLE_ENDIAN);
        RowValues.decode(rows, count, dim, h.dtype(), grads, 0);
        long bad = 0;
        for (float g : grads) {
            if (!Float.isFinite(g)) {
                bad++;
            }
        }
        ProtocolException refused = null;
        boolean contributes = true;
        if (bad != 0) {
            refused = nonFinite.foundInRows(t.spec.name(), rank, step, bad, (long) count * dim);
            switch (nonFinite.policy()) {
                case REJECT -> {
                    return refused;   // not counted for the step: the worker pushes it again
                }
                case SKIP_STEP -> contributes = false;
                case ZERO -> {
                    for (int i = 0; i < grads.length; i++) {
                        if (!Float.isFinite(grads[i])) {
                            grads[i] = 0f;
                        }
                    }
                }
            }
        }
        if (s == null) {
            s = new BspStep(config.workers());
            t.steps.put(step, s);
        }
        if (contributes) {
            for (int i = 0; i < count; i++) {
                float[] sum = s.sums.computeIfAbsent(idBytes.getLong(idBytes.position() + 8 * i), k -> new float[dim]);
                for (int j = 0; j < dim; j++) {
                    sum[j] += grads[i * dim + j];
                }
            }
            s.contributions++;
        }
        s.pushed[rank] = true;
        s.pushers++;
        t.rowsPushed += count;
        completeSteps(t);
        return refused;
    }

    /** bsp, after workers were dropped: steps that waited only for them complete with the pushes that arrived. */
    void completeStepsOfLiveWorkers() {
        if (!bsp) {
            return;
        }
        for (TableState t : byId) {
            completeSteps(t);
        }
    }

    /** Applies the table's step at its version while every live worker has pushed for it. */
    private void completeSteps(TableState t) {
        while (true) {
            BspStep s = t.steps.get(t.version);
            if (s == null || !complete(s)) {
                return;
            }
            t.steps.remove(t.version);
            try {
                applyStep(t, s);
            } catch (RuntimeException e) {
                // Its pushes were answered OK already: the step is lost, but the table must move on or stall for good.
                log.warn("bsp step {} of table '{}' could not be applied, going on without it: {}", t.version,
                        t.spec.name(), e.getMessage());
            }
            t.version++;
        }
    }

    /** Whether every live worker has pushed for {@code s} (and someone has). */
    private boolean complete(BspStep s) {
        if (s.pushers == 0) {
            return false;
        }
        for (int r = 0; r < s.pushed.length; r++) {
            if (!s.pushed[r] && alive.test(r)) {
                return false;
            }
        }
        return true;
    }

    /** One optimizer step on each row of {@code s} with the mean of its pushes' gradients (born where new). */
    private void applyStep(TableState t, BspStep s) {
        int n = s.sums.size();
        if (n == 0 || s.contributions == 0) {
            return;
        }
        int dim = t.spec.dim();
        ByteBuffer ids = ByteBuffer.allocateDirect(8 * n).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer grads = ByteBuffer.allocateDirect(4 * n * dim).order(ByteOrder.LITTLE_ENDIAN);
        for (Map.Entry<Long, float[]> e : s.sums.entrySet()) {
            ids.putLong(e.getKey());
            for (float g : e.getValue()) {
                grads.putFloat(g);
            }
        }
        ids.flip();
        grads.flip();
        findOrInsert(t, ids, n, Opcode.PUSH_ROWS);
        long start = nanoTime.getAsLong();
        long bad = t.rows.applyRows(slots, n, grads, RowDtype.FP32, 1f / s.contributions, nonFinite.guard());
        t.applyNanos += nanoTime.getAsLong() - start;
        if (bad != 0) {
            // Finite gradients whose sum overflowed: the guard handled those elements as --nonfinite says.
            log.warn("bsp step {} of table '{}': {} of {} summed gradient values are not finite (overflow)", t.version,
                    t.spec.name(), bad, (long) n * dim);
        }
    }

    /** {@code s} as the inside of a JSON string. */
    static String jsonEscape(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    private TableState table(int tableId, Opcode what) {
        if (tableId < 0 || tableId >= byId.size()) {
            throw new ProtocolException(ErrorCode.UNKNOWN_TENSOR, what + ": no table with id " + tableId + " on shard "
                    + config.shard() + " (" + byId.size() + " registered)");
        }
        return byId.get(tableId);
    }

    /** Every table's counters, as a JSON array (STATS). */
    String toJson() {
        StringBuilder b = new StringBuilder("[");
        for (TableState t : byId) {
            b.append(b.length() > 1 ? "," : "").append(t.toJson());
        }
        return b.append(']').toString();
    }

    /** The registered tables, by id. */
    List<TableState> all() {
        return Collections.unmodifiableList(byId);
    }

    /** Frees every table's device memory. */
    @Override
    public void close() {
        for (TableState t : byId) {
            t.rows.close();
            budget.release(t.reservedBytes);
        }
        byId.clear();
        byName.clear();
        parked.clear();
    }
}
