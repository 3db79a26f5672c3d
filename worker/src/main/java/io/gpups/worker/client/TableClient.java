package io.gpups.worker.client;

import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.protocol.TableMessages;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.RowIds;
import io.gpups.core.table.RowTable;
import io.gpups.core.table.RowValues;
import io.gpups.core.table.TableSpec;
import io.netty.buffer.ByteBuf;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A worker's side of the embedding tables (DESIGN.md, "Embedding tables"), over its {@link PsClient}'s connections.
 * A request's ids may repeat and come in any order: they are made unique, sent to the shard that owns each
 * ({@link RowIds#shardOf}, one PULL_ROWS or PUSH_ROWS per shard), and the answers are put back in the caller's order;
 * the gradients of a repeated id are summed before they are sent. Any thread; the futures complete on event loops.
 */
public final class TableClient {

    private final PsClient client;
    /** A registered table: its spec and its id on each shard. */
    private record Registered(TableSpec spec, int[] idOnShard) {
    }

    private final Map<String, Registered> tables = new ConcurrentHashMap<>();

    TableClient(PsClient client) {
        this.client = client;
    }

    /** Registers {@code spec} with every shard (idempotent: every worker registers the same tables). */
    public CompletableFuture<Void> register(TableSpec spec) {
        int shards = client.shardCount();
        int[] ids = new int[shards];
        List<CompletableFuture<?>> sent = new ArrayList<>();
        for (int s = 0; s < shards; s++) {
            ShardConnection c = client.connection(s);
            long id = c.newRequestId();
            int shard = s;
            sent.add(c.send(id, Frames.encode(c.channel().alloc(), Opcode.REGISTER_TABLE, id,
                            new TableMessages.RegisterTable(spec)), f -> Messages.RegisterReply.read(f.payload()).tensorId())
                    .thenAccept(tableId -> ids[shard] = tableId));
        }
        return CompletableFuture.allOf(sent.toArray(CompletableFuture[]::new))
                .thenRun(() -> tables.put(spec.name(), new Registered(spec, ids)));
    }

    /**
     * REGISTER_TABLEs every table this client registered again on {@code c} (a shard that came back; one started with
     * {@code --restore} fills them from its checkpoint), recording the ids it answers.
     */
    CompletableFuture<Void> registerAgain(ShardConnection c) {
        List<CompletableFuture<?>> sent = new ArrayList<>();
        for (Registered t : tables.values()) {
            long id = c.newRequestId();
            sent.add(c.send(id, Frames.encode(c.channel().alloc(), Opcode.REGISTER_TABLE, id,
                            new TableMessages.RegisterTable(t.spec())), f -> Messages.RegisterReply.read(f.payload()).tensorId())
                    .thenAccept(tableId -> t.idOnShard()[c.shard()] = tableId));
        }
        return CompletableFuture.allOf(sent.toArray(CompletableFuture[]::new));
    }

    /** The spec of a registered table. */
    public TableSpec spec(String table) {
        return registered(table).spec();
    }

    /**
     * Pulls the rows of {@code ids[0, count)} into {@code out[i * dim, (i + 1) * dim)} for each i, the rows travelling
     * as {@code dtype}; rows not yet stored are born on the shards with their initial values. Completes with the
     * number of rows the shards sent (the unique ids).
     */
    public CompletableFuture<Integer> pull(String table, long[] ids, int count, RowDtype dtype, long clock, float[] out) {
        Registered t = registered(table);
        int dim = t.spec().dim();
        if (!dtype.pullable) {
            throw new IllegalArgumentException("rows are pulled as fp32, bf16 or fp16, not " + dtype);
        }
        checkRows("out", out, count, dim);
        Split split = Split.of(ids, count, client.shardCount());
        List<CompletableFuture<?>> parts = new ArrayList<>();
        for (int s = 0; s < split.shards(); s++) {
            int n = split.count(s);
            if (n == 0) {
                continue;
            }
            ShardConnection c = client.connection(s);
            long id = c.newRequestId();
            ByteBuf frame = c.channel().alloc().directBuffer(TableMessages.RowsHeader.LENGTH + 8 * n + 64);
            Frames.writeHeader(frame, Opcode.PULL_ROWS, id, TableMessages.RowsHeader.LENGTH + 8 * n);
            new TableMessages.RowsHeader(t.idOnShard()[s], dtype, n, clock).writeTo(frame);
            split.writeIds(s, frame);
            int shard = s;
            parts.add(c.send(id, frame, f -> {
                ByteBuf payload = f.payload();
                TableMessages.RowsReplyHeader h = TableMessages.RowsReplyHeader.read(payload, dim);
                if (h.count() != n) {
                    throw new PsException(null, "table '" + table + "': shard " + shard + " sent " + h.count()
                            + " rows, expected " + n);
                }
                ByteBuffer values = payload.nioBuffer().order(ByteOrder.LITTLE_ENDIAN);
                if (h.dtype() == RowDtype.FP32) {
                    split.scatter(shard, values.asFloatBuffer(), dim, out);   // straight from the answer, no copy between
                } else {
                    float[] rows = new float[n * dim];
                    RowValues.decode(values, n, dim, h.dtype(), rows, 0);
                    split.scatter(shard, rows, dim, out);
                }
                return null;
            }));
        }
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new)).thenApply(v -> split.unique());
    }

    /**
     * Pushes the gradients {@code grads[i * dim, (i + 1) * dim)} of the rows of {@code ids[0, count)} for {@code step},
     * as {@code dtype}: each row takes one optimizer step on its shard, with the sum of its id's gradients (on a bsp
     * shard, once every live worker has pushed for {@code step}, with the mean over the workers). Every shard gets a
     * PUSH_ROWS, one with no rows if none of the ids is its own, so a bsp shard hears from this worker every step.
     * Completes with the number of rows sent (the unique ids).
     */
    public CompletableFuture<Integer> push(String table, long[] ids, int count, float[] grads, RowDtype dtype, long step) {
        Registered t = registered(table);
        int dim = t.spec().dim();
        checkRows("grads", grads, count, dim);
        Split split = Split.of(ids, count, client.shardCount());
        List<CompletableFuture<?>> parts = new ArrayList<>();
        for (int s = 0; s < split.shards(); s++) {
            int n = split.count(s);   // 0 too: a bsp shard waits for every worker's push for the step
            float[] summed = split.gather(s, grads, dim);
            ShardConnection c = client.connection(s);
            long id = c.newRequestId();
            long bodyBytes = TableMessages.RowsHeader.LENGTH + 8L * n + n * dtype.rowBytes(dim);
            if (bodyBytes > Integer.MAX_VALUE - 64) {
                throw new IllegalArgumentException("a push of " + n + " rows of dim " + dim + " to shard " + s
                        + " is " + bodyBytes + " bytes, more than a frame holds");
            }
            ByteBuf frame = c.channel().alloc().directBuffer((int) bodyBytes + 16);
            Frames.writeHeader(frame, Opcode.PUSH_ROWS, id, (int) bodyBytes);
            new TableMessages.RowsHeader(t.idOnShard()[s], dtype, n, step).writeTo(frame);
            split.writeIds(s, frame);
            int rowBytes = (int) (n * dtype.rowBytes(dim));
            ByteBuffer rows = frame.nioBuffer(frame.writerIndex(), rowBytes).order(ByteOrder.LITTLE_ENDIAN);
            RowValues.encode(summed, 0, n, dim, dtype, rows);
            frame.writerIndex(frame.writerIndex() + rowBytes);
            parts.add(c.send(id, frame, f -> null));
        }
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new)).thenApply(v -> split.unique());
    }

    private Registered registered(String table) {
        Registered t = tables.get(table);
        if (t == null) {
            throw new IllegalArgumentException("table '" + table + "' is not registered with this client");
        }
        return t;
    }

    private static void checkRows(String what, float[] values, int count, int dim) {
        if (count < 0) {
            throw new IllegalArgumentException("count must be >= 0, got " + count);
        }
        if (values.length < (long) count * dim) {
            throw new IllegalArgumentException(what + " holds " + values.length + " floats, " + count + " rows of dim "
                    + dim + " need " + (long) count * dim);
        }
    }

    /**
     * A request's ids made unique and split by shard: for each shard its unique ids in first-seen order, and for each
     * position of the request the unique row it maps to.
     */
    static final class Split {
        private final int shards;
        private final long[] ids;
        private final int count;
        /** Per request position: the shard of its id and the index of its id among that shard's unique ids. */
        private final int[] shardOf;
        private final int[] indexOf;
        /** Per shard, its unique ids. */
        private final long[][] unique;
        private final int[] uniqueCount;

        private Split(int shards, long[] ids, int count) {
            this.shards = shards;
            this.ids = ids;
            this.count = count;
            this.shardOf = new int[count];
            this.indexOf = new int[count];
            this.unique = new long[shards][];
            this.uniqueCount = new int[shards];
        }

        static Split of(long[] ids, int count, int shards) {
            if (ids.length < count) {
                throw new IllegalArgumentException("ids holds " + ids.length + " ids, count is " + count);
            }
            Split s = new Split(shards, ids, count);
            for (int i = 0; i < shards; i++) {
                s.unique[i] = new long[Math.max(4, count / shards + 1)];
            }
            // Open addressing over the request's ids: slot -> position of the first occurrence, -1 free.
            int capacity = Integer.highestOneBit(Math.max(8, 2 * count - 1)) << 1;
            int[] first = new int[capacity];
            java.util.Arrays.fill(first, -1);
            int mask = capacity - 1;
            for (int i = 0; i < count; i++) {
                long id = ids[i];
                if (id == RowTable.EMPTY_KEY) {
                    throw new IllegalArgumentException("id at " + i + " is 2^64 - 1, the key of a free slot, which no row can have");
                }
                int at = (int) RowIds.mix(id) & mask;
                while (first[at] >= 0 && ids[first[at]] != id) {
                    at = (at + 1) & mask;
                }
                if (first[at] >= 0) {
                    s.shardOf[i] = s.shardOf[first[at]];
                    s.indexOf[i] = s.indexOf[first[at]];
                    continue;
                }
                first[at] = i;
                int shard = RowIds.shardOf(id, shards);
                if (s.uniqueCount[shard] == s.unique[shard].length) {
                    s.unique[shard] = java.util.Arrays.copyOf(s.unique[shard], 2 * s.unique[shard].length);
                }
                s.shardOf[i] = shard;
                s.indexOf[i] = s.uniqueCount[shard];
                s.unique[shard][s.uniqueCount[shard]++] = id;
            }
            return s;
        }

        int shards() {
            return shards;
        }

        /** Unique ids in all. */
        int unique() {
            int n = 0;
            for (int c : uniqueCount) {
                n += c;
            }
            return n;
        }

        /** Unique ids for {@code shard}. */
        int count(int shard) {
            return uniqueCount[shard];
        }

        long id(int shard, int index) {
            return unique[shard][index];
        }

        void writeIds(int shard, ByteBuf out) {
            for (int i = 0; i < uniqueCount[shard]; i++) {
                out.writeLongLE(unique[shard][i]);
            }
        }

        /** Copies the rows a shard answered (its unique ids' order) to every request position they serve. */
        void scatter(int shard, float[] rows, int dim, float[] out) {
            for (int i = 0; i < count; i++) {
                if (shardOf[i] == shard) {
                    System.arraycopy(rows, indexOf[i] * dim, out, i * dim, dim);
                }
            }
        }

        /** As {@link #scatter(int, float[], int, float[])}, from float32 rows in a buffer (an answer's payload). */
        void scatter(int shard, java.nio.FloatBuffer rows, int dim, float[] out) {
            for (int i = 0; i < count; i++) {
                if (shardOf[i] == shard) {
                    rows.get(indexOf[i] * dim, out, i * dim, dim);
                }
            }
        }

        /** The gradients of a shard's unique ids: each the sum, in request order, of its positions' gradients. */
        float[] gather(int shard, float[] grads, int dim) {
            float[] out = new float[uniqueCount[shard] * dim];
            for (int i = 0; i < count; i++) {
                if (shardOf[i] == shard) {
                    int base = indexOf[i] * dim;
                    for (int j = 0; j < dim; j++) {
                        out[base + j] += grads[i * dim + j];
                    }
                }
            }
            return out;
        }
    }
}
