package io.gpups.server.checkpoint;

import io.gpups.core.table.RowIds;
import io.gpups.core.table.RowTable;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.ChunkLayout;
import io.gpups.core.tensor.TensorSpec;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A complete checkpoint opened for restoring: answers, for any tensor and chunk, the parameters, optimizer
 * state and version, reading whichever old shard's file holds them. So a shard of a job with a different
 * shard count fills the chunks it is given at REGISTER, wherever they were before. Used by one thread (the
 * shard's agent). Likewise for an embedding table, the rows that belong to a shard of the new shard count, read from
 * every old shard's file.
 */
public final class CheckpointRestore {

    /** A restored chunk: version, parameters, and the optimizer slots in device order. */
    public record Chunk(long version, float[] param, float[][] slots) {
    }

    private final Path directory;
    private final Manifest manifest;
    private final Map<String, Manifest.TensorEntry> tensors = new HashMap<>();
    private final Map<String, Manifest.TableEntry> tables = new HashMap<>();
    private final Map<String, SafeTensors.Header> headers = new HashMap<>();

    /** Values read per page of a table's rows (the host memory a page takes, with its state, is a few times this). */
    private static final int TABLE_PAGE_VALUES = 1 << 20;

    public CheckpointRestore(CheckpointCatalog.Found found) {
        if (!found.complete()) {
            throw new IllegalArgumentException("checkpoint " + found.directory() + " is not complete: " + found.problem());
        }
        this.directory = found.directory();
        this.manifest = found.manifest();
        for (Manifest.TensorEntry t : manifest.tensors()) {
            tensors.put(t.name(), t);
        }
        for (Manifest.TableEntry t : manifest.tables()) {
            tables.put(t.name(), t);
        }
    }

    public Path directory() {
        return directory;
    }

    public Manifest manifest() {
        return manifest;
    }

    /** The checkpoint's entry for a tensor, or null when the checkpoint does not hold it. */
    public Manifest.TensorEntry tensor(String name) {
        return tensors.get(name);
    }

    /**
     * Checks that a registration can be filled from the checkpoint: same shape and the same optimizer kind
     * (hyper-parameters may change between runs). Chunks may be cut differently from the checkpoint's (another
     * {@code --chunk-bytes}, or a placement that lays the model out in pieces) when all of the tensor's chunks in the
     * checkpoint are at one version, as under bsp, so that each new chunk has one version. Returns null when it can,
     * else what differs.
     */
    public String incompatibility(TensorSpec spec, int chunkElements) {
        Manifest.TensorEntry t = tensors.get(spec.name());
        if (t == null) {
            return null;
        }
        if (!Arrays.equals(t.shape(), spec.shape())) {
            return "shape " + Arrays.toString(spec.shape()) + " differs from the checkpoint's " + Arrays.toString(t.shape());
        }
        if (t.chunkElements() != chunkElements) {
            long min = t.chunks().stream().mapToLong(Manifest.ChunkEntry::version).min().orElse(0);
            long max = t.chunks().stream().mapToLong(Manifest.ChunkEntry::version).max().orElse(0);
            if (min != max) {
                return "chunk size " + chunkElements + " elements differs from the checkpoint's " + t.chunkElements()
                        + ", whose chunks are at versions " + min + ".." + max + " (restore into the layout it was written in: the"
                        + " same model, --chunk-bytes and shard count)";
            }
        }
        String kind = spec.optimizer().kind().cliName();
        if (!kind.equals(t.optimizer().kind())) {
            return "optimizer " + kind + " differs from the checkpoint's " + t.optimizer().kind()
                    + " (its state cannot be carried over)";
        }
        return null;
    }

    /**
     * Reads chunk {@code chunk} of {@code tensor} as {@code layout} cuts it, from the checkpoint's chunks that cover
     * it (one, when the layouts agree); the tensor must be in the checkpoint and pass {@link #incompatibility}.
     */
    public Chunk read(String tensor, ChunkLayout layout, int chunk) throws IOException {
        Manifest.TensorEntry t = tensors.get(tensor);
        if (t == null || layout.elements() != t.elements()) {
            throw new IllegalArgumentException("checkpoint " + directory.getFileName() + " holds no tensor '" + tensor
                    + "' of " + layout.elements() + " elements");
        }
        if (layout.chunkElements() == t.chunkElements()) {
            return read(tensor, chunk);
        }
        ChunkLayout old = new ChunkLayout(t.elements(), t.chunkElements());
        long from = layout.offset(chunk);
        int length = layout.length(chunk);
        float[] param = new float[length];
        float[][] slots = null;
        long version = -1;
        for (int c = (int) (from / old.chunkElements()); c < old.chunks() && old.offset(c) < from + length; c++) {
            Chunk part = read(tensor, c);
            if (version >= 0 && part.version() != version) {
                throw new IllegalArgumentException("chunk " + chunk + " of '" + tensor + "' spans checkpoint chunks at versions "
                        + version + " and " + part.version());
            }
            version = part.version();
            if (slots == null) {
                slots = new float[part.slots().length][length];
            }
            long start = Math.max(from, old.offset(c));
            int count = (int) (Math.min(from + length, old.offset(c) + old.length(c)) - start);
            System.arraycopy(part.param(), (int) (start - old.offset(c)), param, (int) (start - from), count);
            for (int k = 0; k < slots.length; k++) {
                System.arraycopy(part.slots()[k], (int) (start - old.offset(c)), slots[k], (int) (start - from), count);
            }
        }
        return new Chunk(version, param, slots);
    }

    /** Reads chunk {@code chunk} of {@code tensor}; the tensor must be in the checkpoint. */
    public Chunk read(String tensor, int chunk) throws IOException {
        Manifest.TensorEntry t = tensors.get(tensor);
        if (t == null || chunk < 0 || chunk >= t.chunks().size()) {
            throw new IllegalArgumentException("checkpoint " + directory.getFileName() + " holds no chunk " + chunk + " of '" + tensor + "'");
        }
        Manifest.ChunkEntry c = t.chunks().get(chunk);
        Path file = directory.resolve(c.file());
        List<String> slots = Manifest.slotNames(t.optimizer().toSpec().kind());
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            SafeTensors.Header h = headers.get(c.file());
            if (h == null) {
                h = SafeTensors.readHeader(ch, ch.size());
                headers.put(c.file(), h);
            }
            float[] param = SafeTensors.readF32(ch, h, h.entries().get(c.param()), c.entryOffset(), c.length());
            float[][] state = new float[slots.size()][];
            for (int k = 0; k < state.length; k++) {
                state[k] = SafeTensors.readF32(ch, h, h.entries().get(c.state().get(slots.get(k))), c.entryOffset(), c.length());
            }
            return new Chunk(c.version(), param, state);
        }
    }

    // ---- tables -------------------------------------------------------------------------------------------

    /** The checkpoint's entry for a table, or null when the checkpoint does not hold it. */
    public Manifest.TableEntry table(String name) {
        return tables.get(name);
    }

    /**
     * Checks that a table registered as {@code spec} can be filled from the checkpoint's rows: the same dim,
     * initializer (rows born later must be born as they would have been) and optimizer kind (the rows' state).
     * Capacity and eviction may differ (a job restored into another shard count needs another capacity), and so may
     * the optimizer's hyper-parameters, as for dense tensors. Returns null when it can (or the table is not in the
     * checkpoint), else what differs, naming both.
     */
    public String incompatibility(TableSpec spec) {
        Manifest.TableEntry t = tables.get(spec.name());
        if (t == null) {
            return null;
        }
        if (t.dim() != spec.dim()) {
            return "dim " + spec.dim() + " differs from the checkpoint's " + t.dim();
        }
        Manifest.InitializerEntry init = Manifest.InitializerEntry.of(spec.initializer());
        if (!init.equals(t.initializer())) {
            return "initializer " + init + " differs from the checkpoint's " + t.initializer()
                    + " (rows born from now on would not be the rows the checkpointed job would have made)";
        }
        String kind = spec.optimizer().kind().cliName();
        if (!kind.equals(t.optimizer().kind())) {
            return "optimizer " + kind + " differs from the checkpoint's " + t.optimizer().kind()
                    + " (the rows' state cannot be carried over)";
        }
        return null;
    }

    /**
     * Rows of a table, a batch at a time: {@code count} ids (u64), their values and each state slot (float32,
     * {@code count * dim}) and their counters ({@code counters[3i..3i+2]}: step, last touch, touches), as
     * {@link RowTable#restoreRows} takes them. Buffers are little-endian, from position 0; they are reused by the
     * next batch.
     *
     * @param file the data file the batch's rows came from (the last of them, when they came from several)
     */
    public record RowBatch(int count, ByteBuffer ids, ByteBuffer values, ByteBuffer[] state, long[] counters, String file) {
    }

    /** Takes a batch of rows; may throw an {@link IOException} naming what is wrong with them. */
    public interface RowSink {
        void accept(RowBatch batch) throws IOException;
    }

    /** What {@link #readTable} read: every row of the checkpoint's table, and those handed to the sink. */
    public record TableRead(long rowsRead, long rowsKept, long clock) {
    }

    /**
     * Reads every row of {@code table} from every old shard's file and hands those whose id belongs to shard
     * {@code shard} of {@code shards} ({@link RowIds#shardOf}) to {@code sink}, in batches of at most
     * {@code batchRows}. Each row is checked first, and a bad one fails the read with an {@link IOException} naming
     * the file and the problem: the free-slot key, an id in the file of a shard that does not own it (at the
     * checkpoint's shard count), counters out of range, a last touch after its shard's clock. The table must be in
     * the checkpoint.
     */
    public TableRead readTable(String table, int shard, int shards, int batchRows, RowSink sink) throws IOException {
        Manifest.TableEntry t = tables.get(table);
        if (t == null) {
            throw new IllegalArgumentException("checkpoint " + directory.getFileName() + " holds no table '" + table + "'");
        }
        int dim = t.dim();
        if (batchRows <= 0 || 4L * batchRows * dim > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("batchRows must be 1.." + Integer.MAX_VALUE / (4L * dim)
                    + " for rows of dim " + dim + ", got " + batchRows);
        }
        List<String> slots = Manifest.slotNames(t.optimizer().toSpec().kind());
        ByteBuffer ids = ByteBuffer.allocateDirect(8 * batchRows).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer values = ByteBuffer.allocateDirect(4 * batchRows * dim).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer[] state = new ByteBuffer[slots.size()];
        for (int k = 0; k < state.length; k++) {
            state[k] = ByteBuffer.allocateDirect(4 * batchRows * dim).order(ByteOrder.LITTLE_ENDIAN);
        }
        long[] counters = new long[3 * batchRows];
        int pageRows = Math.max(1, Math.min(batchRows, TABLE_PAGE_VALUES / dim));
        int inBatch = 0;
        long read = 0;
        long kept = 0;
        String lastFile = null;
        for (Manifest.TablePartEntry p : t.parts()) {
            Path file = directory.resolve(p.file());
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                // Not cached: a later checkpoint under the same name may have replaced the file since the catalog
                // checked it (a shard holding only tables labels every unnamed checkpoint alike); its rows then
                // fail the checks below rather than being read at stale offsets.
                SafeTensors.Header h = SafeTensors.readHeader(ch, ch.size());
                SafeTensors.Entry[] stateEntries = new SafeTensors.Entry[slots.size()];
                for (int k = 0; k < stateEntries.length; k++) {
                    stateEntries[k] = entry(h, p.file(), p.state().get(slots.get(k)));
                }
                for (long first = 0; first < p.rows(); first += pageRows) {
                    int n = (int) Math.min(pageRows, p.rows() - first);
                    long[] pageIds = SafeTensors.readI64(ch, h, entry(h, p.file(), p.ids()), first, n);
                    long[] step = SafeTensors.readI64(ch, h, entry(h, p.file(), p.step()), first, n);
                    long[] last = SafeTensors.readI64(ch, h, entry(h, p.file(), p.lastTouch()), first, n);
                    long[] touches = SafeTensors.readI64(ch, h, entry(h, p.file(), p.touches()), first, n);
                    float[] pageValues = null;
                    float[][] pageState = null;
                    for (int i = 0; i < n; i++) {
                        long id = pageIds[i];
                        String problem = rowProblem(id, step[i], last[i], touches[i], p, manifest.shards());
                        if (problem != null) {
                            throw new IOException(p.file() + ": table '" + table + "' row " + (first + i) + ": " + problem);
                        }
                        if (RowIds.shardOf(id, shards) != shard) {
                            continue;
                        }
                        if (pageValues == null) {
                            pageValues = SafeTensors.readF32(ch, h, entry(h, p.file(), p.values()), first * dim, n * dim);
                            pageState = new float[state.length][];
                            for (int k = 0; k < state.length; k++) {
                                pageState[k] = SafeTensors.readF32(ch, h, stateEntries[k], first * dim, n * dim);
                            }
                        }
                        ids.putLong(8 * inBatch, id);
                        for (int j = 0; j < dim; j++) {
                            values.putFloat(4 * (inBatch * dim + j), pageValues[i * dim + j]);
                            for (int k = 0; k < state.length; k++) {
                                state[k].putFloat(4 * (inBatch * dim + j), pageState[k][i * dim + j]);
                            }
                        }
                        counters[3 * inBatch] = step[i];
                        counters[3 * inBatch + 1] = last[i];
                        counters[3 * inBatch + 2] = touches[i];
                        kept++;
                        if (++inBatch == batchRows) {
                            sink.accept(batch(inBatch, dim, ids, values, state, counters, p.file()));
                            inBatch = 0;
                        }
                    }
                    read += n;
                }
            }
            lastFile = p.file();
        }
        if (inBatch > 0) {
            sink.accept(batch(inBatch, dim, ids, values, state, counters, lastFile));
        }
        return new TableRead(read, kept, t.clock());
    }

    /** The first {@code count} rows of the buffers, each buffer limited to them. */
    private static RowBatch batch(int count, int dim, ByteBuffer ids, ByteBuffer values, ByteBuffer[] state,
                                  long[] counters, String file) {
        ByteBuffer[] s = new ByteBuffer[state.length];
        for (int k = 0; k < s.length; k++) {
            s[k] = rowsOf(state[k], 4 * count * dim);
        }
        return new RowBatch(count, rowsOf(ids, 8 * count), rowsOf(values, 4 * count * dim), s, counters, file);
    }

    private static ByteBuffer rowsOf(ByteBuffer b, int bytes) {
        return b.duplicate().position(0).limit(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** What is wrong with a row of old shard {@code p.shard()} of {@code oldShards}, or null. */
    private static String rowProblem(long id, long step, long last, long touches, Manifest.TablePartEntry p, int oldShards) {
        if (id == RowTable.EMPTY_KEY) {
            return "id is 2^64 - 1, the key of a free slot, which no row can have";
        }
        int owner = RowIds.shardOf(id, oldShards);
        if (owner != p.shard()) {
            return "id " + Long.toUnsignedString(id) + " belongs to shard " + owner + " of " + oldShards
                    + ", not to shard " + p.shard() + " whose file holds it";
        }
        if (step < 0 || last < 0 || touches < 0 || touches > 0xFFFFFFFFL) {
            return "counters (step " + step + ", last touch " + last + ", touches " + touches + ") out of range:"
                    + " expected step >= 0, last touch >= 0, touches 0.." + 0xFFFFFFFFL;
        }
        if (last > p.clock()) {
            return "last touch " + last + " is after its shard's clock " + p.clock();
        }
        return null;
    }

    private SafeTensors.Entry entry(SafeTensors.Header h, String file, String name) throws IOException {
        SafeTensors.Entry e = name == null ? null : h.entries().get(name);
        if (e == null) {
            throw new IOException(file + " lacks tensor '" + name + "'");
        }
        return e;
    }
}
