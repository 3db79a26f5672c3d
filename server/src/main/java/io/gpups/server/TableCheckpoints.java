package io.gpups.server;

import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.ProtocolException;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.RowTable;
import io.gpups.core.table.TableSpec;
import io.gpups.core.table.UniqueIds;
import io.gpups.server.checkpoint.CheckpointRestore;
import io.gpups.server.checkpoint.Manifest;
import io.gpups.server.checkpoint.ShardSnapshot;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * An embedding table's rows to and from a checkpoint, on the agent thread, which owns the table: {@link #snapshot}
 * copies this shard's rows to the host; {@link #restore} fills a newly registered table with the rows of a checkpoint
 * that belong to this shard, whatever shard count wrote it.
 */
final class TableCheckpoints {

    private static final Logger log = LoggerFactory.getLogger(TableCheckpoints.class);
    /** Values copied per page while snapshotting (host memory a page takes, times 1 + state slots). */
    static final int PAGE_VALUES = 1 << 20;
    /** Host bytes of the rows a restore puts into the table with one call. */
    static final long RESTORE_BATCH_BYTES = 64L << 20;

    private final ShardConfig config;

    TableCheckpoints(ShardConfig config) {
        this.config = config;
    }

    /**
     * Copies every row of {@code t} to the host: ids, values, each state slot and the counters, page by page in slot
     * order, with the table's clock. What it costs: the agent serves nothing else meanwhile, and it copies every row
     * of the table (rows x dim x 4 x (1 + state slots) bytes, plus 32 bytes of id and counters a row) into new host
     * arrays, which the writer thread then holds until the file is written. Fine for tables of up to some million
     * rows; larger ones will want a copy-on-write snapshot or pages written as they are copied.
     */
    ShardSnapshot.TableSnapshot snapshot(ShardTables.TableState t) {
        RowTable rows = t.rows;
        TableSpec spec = t.spec;
        int dim = spec.dim();
        int slots = spec.optimizer().slots();
        long stored = rows.rows();
        if (stored > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("table '" + spec.name() + "' holds " + stored + " rows on shard "
                    + config.shard() + ", more than a snapshot's arrays hold");
        }
        int total = (int) stored;
        long[] ids = new long[total];
        long[] steps = new long[total];
        long[] lastTouch = new long[total];
        long[] touches = new long[total];
        List<float[]> values = new ArrayList<>();
        List<List<float[]>> state = new ArrayList<>();
        for (int k = 0; k < slots; k++) {
            state.add(new ArrayList<>());
        }
        int page = Math.max(1, PAGE_VALUES / dim);
        long[] pageIds = new long[page];
        int[] pageSlots = new int[page];
        long[] counters = new long[3 * page];
        ByteBuffer buffer = ByteBuffer.allocateDirect(4 * page * dim).order(ByteOrder.LITTLE_ENDIAN);
        int n = 0;
        long from = 0;
        while (from < rows.slots()) {
            int got = rows.listRows(from, page, pageIds, pageSlots);
            if (n + got > total) {
                throw new IllegalStateException("table '" + spec.name() + "' listed more rows than the " + total
                        + " it says it holds");
            }
            if (got == 0) {
                break;
            }
            System.arraycopy(pageIds, 0, ids, n, got);
            rows.gatherRows(pageSlots, got, RowDtype.FP32, buffer);
            values.add(floats(buffer, got * dim));
            for (int k = 0; k < slots; k++) {
                rows.gatherState(k, pageSlots, got, buffer);
                state.get(k).add(floats(buffer, got * dim));
            }
            rows.readCounters(pageSlots, got, counters);
            for (int i = 0; i < got; i++) {
                steps[n + i] = counters[3 * i];
                lastTouch[n + i] = counters[3 * i + 1];
                touches[n + i] = counters[3 * i + 2];
            }
            n += got;
            if (got < page) {
                break;
            }
            from = pageSlots[got - 1] + 1L;
        }
        if (n != total) {
            throw new IllegalStateException("table '" + spec.name() + "' listed " + n + " rows, it says it holds " + total);
        }
        return new ShardSnapshot.TableSnapshot(spec, t.clock, ids, values, state, steps, lastTouch, touches);
    }

    private static float[] floats(ByteBuffer buffer, int count) {
        float[] out = new float[count];
        buffer.asFloatBuffer().get(out);
        return out;
    }

    /**
     * Fills the new table {@code t} with the rows of {@code restore}'s checkpoint that this shard owns (read from
     * every old shard's file, so the checkpoint may have been written by another shard count), their optimizer state
     * and counters included, and sets the table's clock to the checkpoint's largest, so the next touch is newer than
     * any restored one. A table the checkpoint does not hold starts empty. Rows that find no room here (eviction
     * none and the table full, or a full home bucket) are counted ({@code rows_not_restored} in STATS) and logged.
     * Refused with BAD_ARGUMENT when the spec cannot take the checkpoint's rows, and with INTERNAL when the
     * checkpoint's rows do not read or are inconsistent; either names the checkpoint and the problem.
     */
    void restore(ShardTables.TableState t, CheckpointRestore restore) {
        TableSpec spec = t.spec;
        String name = spec.name();
        Manifest.TableEntry entry = restore.table(name);
        if (entry == null) {
            log.warn("table '{}' is not in checkpoint {}: it starts empty", name, restore.directory().getFileName());
            return;
        }
        String problem = restore.incompatibility(spec);
        if (problem != null) {
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "REGISTER_TABLE '" + name + "' cannot be restored from"
                    + " checkpoint " + restore.directory() + ": " + problem);
        }
        Manifest.OptimizerEntry now = Manifest.OptimizerEntry.of(spec.optimizer());
        if (!entry.optimizer().hyperParameters().equals(now.hyperParameters())) {
            log.info("table '{}': optimizer hyper-parameters changed since checkpoint {}: {} -> {}", name,
                    restore.directory().getFileName(), entry.optimizer().hyperParameters(), now.hyperParameters());
        }
        if (entry.capacity() != spec.capacity() || !entry.eviction().equals(spec.eviction().cliName())) {
            log.info("table '{}': capacity and eviction changed since checkpoint {}: {} rows/shard, {} -> {} rows/shard, {}",
                    name, restore.directory().getFileName(), entry.capacity(), entry.eviction(), spec.capacity(),
                    spec.eviction().cliName());
        }
        int bytesPerRow = 4 * spec.dim() * (1 + spec.optimizer().slots()) + 32;
        int batchRows = (int) Math.max(1, Math.min(t.rows.slots(), RESTORE_BATCH_BYTES / bytesPerRow));
        UniqueIds unique = new UniqueIds();
        long[] placed = new long[3];  // rows without room, rows evicted by later rows, restore calls
        long clock = entry.clock();
        CheckpointRestore.TableRead read;
        try {
            read = restore.readTable(name, config.shard(), config.shards(), batchRows, b -> {
                String repeated = unique.check(b.ids(), b.count());
                if (repeated != null) {
                    int cut = repeated.indexOf("; send");
                    throw new IOException("table '" + name + "' in " + b.file() + " and the files before it: "
                            + (cut < 0 ? repeated : repeated.substring(0, cut)) + " among this shard's rows");
                }
                long evicted = t.rows.evictions();
                try {
                    placed[0] += t.rows.restoreRows(b.ids(), b.count(), b.values(), b.state(), b.counters(),
                            clock + placed[2]++);
                } catch (IllegalArgumentException e) {
                    throw new IOException("table '" + name + "' rows from " + b.file() + ": " + e.getMessage());
                }
                placed[1] += t.rows.evictions() - evicted;
            });
        } catch (IOException | RuntimeException e) {
            throw new ProtocolException(ErrorCode.INTERNAL, "REGISTER_TABLE '" + name + "': cannot restore its rows"
                    + " from checkpoint " + restore.directory() + ": " + e.getMessage());
        }
        long lost = placed[0] + placed[1];
        if (t.rows.rows() != read.rowsKept() - lost) {
            throw new ProtocolException(ErrorCode.INTERNAL, "REGISTER_TABLE '" + name + "': checkpoint "
                    + restore.directory() + " gave this shard " + read.rowsKept() + " rows, " + lost + " without room,"
                    + " but the table holds " + t.rows.rows() + ": an id is in two old shards' files");
        }
        t.clock = Math.max(clock, clock + placed[2] - 1);
        t.rowsRestored = t.rows.rows();
        t.rowsNotRestored = lost;
        if (lost > 0) {
            log.warn("table '{}': {} of the {} rows of checkpoint {} that belong to shard {} of {} found no room (capacity"
                    + " {} rows/shard, eviction {}): they are not restored", name, lost, read.rowsKept(),
                    restore.directory().getFileName(), config.shard(), config.shards(), spec.capacity(),
                    spec.eviction().cliName());
        }
        log.info("restored table '{}' ({} of the checkpoint's {} rows belong to shard {} of {}, {} stored, clock {})"
                        + " from checkpoint {}", name, read.rowsKept(), read.rowsRead(), config.shard(), config.shards(),
                t.rows.rows(), t.clock, restore.directory().getFileName());
    }
}
