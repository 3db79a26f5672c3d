package io.gpups.server;

import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.protocol.TableMessages;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.RowIds;
import io.gpups.core.table.RowTable;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Tables on one shard below the socket: rows born with their initial values, pushes applied on arrival, and every
 * refusal (unknown table, repeated or reserved ids, wrong lengths, a full table, an ssp shard) answered with its
 * code, leaving the rows as they were.
 */
class ShardTablesTest {

    private static final int DIM = 4;
    private static final Initializer INIT = new Initializer(Initializer.Kind.UNIFORM, 0.5f, 17);
    private static final OptimizerSpec.Sgd SGD = new OptimizerSpec.Sgd(0.25f, 0f);

    @AutoClose
    private final EmbeddedShard shard = new EmbeddedShard("asp", 2, 60_000);
    private final EmbeddedChannel w0 = shard.worker(0);

    private static TableSpec table(String name, long capacity, Eviction eviction) {
        return new TableSpec(name, DIM, INIT, SGD, capacity, eviction);
    }

    private int register(EmbeddedChannel ch, TableSpec spec) {
        EmbeddedShard.Answer a = shard.call(ch, Opcode.REGISTER_TABLE, new TableMessages.RegisterTable(spec)).ok();
        return Messages.RegisterReply.read(a.payload()).tensorId();
    }

    private static ByteBuf rows(int table, RowDtype dtype, long clock, long[] ids, float[] grads) {
        ByteBuf b = Unpooled.buffer();
        new TableMessages.RowsHeader(table, dtype, ids.length, clock).writeTo(b);
        for (long id : ids) {
            b.writeLongLE(id);
        }
        if (grads != null) {
            for (float g : grads) {
                b.writeFloatLE(g);
            }
        }
        return b;
    }

    private EmbeddedShard.Answer pull(int table, long... ids) {
        long id = shard.sendRaw(w0, Opcode.PULL_ROWS, rows(table, RowDtype.FP32, 0, ids, null));
        shard.run();
        EmbeddedShard.Answer a = shard.answer(w0);
        assertEquals(id, a.requestId());
        return a;
    }

    private EmbeddedShard.Answer push(int table, long[] ids, float... grads) {
        long id = shard.sendRaw(w0, Opcode.PUSH_ROWS, rows(table, RowDtype.FP32, 1, ids, grads));
        shard.run();
        EmbeddedShard.Answer a = shard.answer(w0);
        assertEquals(id, a.requestId());
        return a;
    }

    private static float[] values(EmbeddedShard.Answer a, int count) {
        assertEquals(Opcode.DATA, a.opcode(), a::toString);
        ByteBuf p = a.payload().duplicate();
        TableMessages.RowsReplyHeader h = TableMessages.RowsReplyHeader.read(p, DIM);
        assertEquals(count, h.count());
        float[] v = new float[count * DIM];
        for (int i = 0; i < v.length; i++) {
            v[i] = p.readFloatLE();
        }
        return v;
    }

    private static float[] initial(long... ids) {
        float[] out = new float[ids.length * DIM];
        for (int i = 0; i < ids.length; i++) {
            RowIds.initialValues(INIT, ids[i], DIM, out, i * DIM);
        }
        return out;
    }

    @Test
    void rowsAreBornWithTheirInitialValuesAndPushesApplyOnArrival() {
        int t = register(w0, table("items", 64, Eviction.NONE));
        long[] ids = {7, -2, 123_456_789_012L};
        assertArrayEquals(initial(ids), values(pull(t, ids), 3));

        float[] grads = {1, 2, 3, 4, -1, -2, -3, -4, 0.5f, 0.5f, 0.5f, 0.5f};
        push(t, new long[] {ids[2], ids[0], 99}, grads).ok();
        float[] expected = initial(ids[0], ids[1], ids[2], 99);
        float[] applied = {-1, -2, -3, -4, 0, 0, 0, 0, 1, 2, 3, 4, 0.5f, 0.5f, 0.5f, 0.5f};
        for (int i = 0; i < expected.length; i++) {
            expected[i] -= 0.25f * applied[i];
        }
        assertArrayEquals(expected, values(pull(t, ids[0], ids[1], ids[2], 99), 4));
    }

    @Test
    void registrationIsIdempotentAndAConflictNamesBothSpecs() {
        int t = register(w0, table("items", 64, Eviction.LRU));
        assertEquals(t, register(shard.worker(1), table("items", 64, Eviction.LRU)));
        assertEquals(t + 1, register(w0, table("users", 64, Eviction.LRU)));
        shard.call(w0, Opcode.REGISTER_TABLE, new TableMessages.RegisterTable(table("items", 65, Eviction.LRU)))
                .refused(ErrorCode.CONFLICT, "table 'items' is already registered as items[dim 4, 64 rows/shard");
    }

    @Test
    void aRepeatedOrReservedIdIsRefusedBeforeAnythingChanges() {
        int t = register(w0, table("items", 64, Eviction.NONE));
        push(t, new long[] {5, 6, 5}, new float[3 * DIM]).refused(ErrorCode.BAD_ARGUMENT,
                "PUSH_ROWS to table 'items': id 5 appears twice (first at 0, again at 2)");
        pull(t, 1, RowTable.EMPTY_KEY).refused(ErrorCode.BAD_ARGUMENT, "id 1 is 2^64 - 1");
        assertEquals(0, shard.agent.tables().get(t).rows.rows(), "rows stored after two refused requests");
    }

    @Test
    void unknownTablesAndWrongLengthsAreRefused() {
        int t = register(w0, table("items", 64, Eviction.NONE));
        pull(t + 1, 1).refused(ErrorCode.UNKNOWN_TENSOR, "PULL_ROWS: no table with id 1 on shard 0 (1 registered)");
        push(t, new long[] {1, 2}, new float[DIM]).refused(ErrorCode.SIZE_MISMATCH,
                "PUSH_ROWS of 2 rows of dim 4 as fp32 needs 48 bytes after the header, got 32");
        ByteBuf bad = rows(t, RowDtype.FP32, 0, new long[] {1, 2}, null);
        bad.writerIndex(bad.writerIndex() - 1);
        shard.sendRaw(w0, Opcode.PULL_ROWS, bad);
        shard.run();
        shard.answer(w0).refused(ErrorCode.SIZE_MISMATCH, "PULL_ROWS announces 2 ids (16 bytes) but 15 bytes follow");
        assertEquals(0, shard.agent.tables().get(t).rows.rows());
    }

    @Test
    void aFullTableWithoutEvictionRefusesNewIdsAndAppliesNothing() {
        int t = register(w0, table("small", RowTable.BUCKET_SLOTS, Eviction.NONE));
        long[] first = new long[RowTable.BUCKET_SLOTS];
        for (int i = 0; i < first.length; i++) {
            first[i] = 1000 + i;
        }
        values(pull(t, first), first.length);
        push(t, new long[] {1000, 5}, 1, 1, 1, 1, 1, 1, 1, 1).refused(ErrorCode.OUT_OF_MEMORY,
                "PUSH_ROWS to table 'small': no room for id 5 (16 of 16 slots in use, eviction none); nothing was applied");
        assertArrayEquals(initial(1000), values(pull(t, 1000), 1), "row 1000 after the refused push");
    }

    @Test
    void aRowWithANonFiniteGradientIsRefusedAndLeftAsItWas() {
        int t = register(w0, table("items", 64, Eviction.NONE));
        push(t, new long[] {3}, 1, Float.NaN, 1, 1).refused(ErrorCode.NON_FINITE,
                "PUSH_ROWS to table 'items' from rank 0 for step 1: 1 of 4 gradient values are NaN or infinite");
        float[] expected = initial(3);
        expected[0] -= 0.25f;
        expected[2] -= 0.25f;
        expected[3] -= 0.25f;
        assertArrayEquals(expected, values(pull(t, 3), 1), "only the finite elements moved (--nonfinite reject under asp)");
    }

    @Test
    void sspShardsRefuseTables() {
        try (EmbeddedShard ssp = new EmbeddedShard("ssp:2", 1, 60_000)) {
            EmbeddedChannel ch = ssp.worker(0);
            ssp.call(ch, Opcode.REGISTER_TABLE, new TableMessages.RegisterTable(table("items", 64, Eviction.NONE)))
                    .refused(ErrorCode.FORBIDDEN, "embedding tables are served under asp and bsp only");
        }
    }

    @Test
    void aTableTakesItsBytesFromTheRegistrationLimit() {
        long bytes = ShardTables.tableBytes(table("big", 1 << 16, Eviction.NONE));
        try (EmbeddedShard limited = new EmbeddedShard("asp", 1, 60_000, bytes - 1, d -> d)) {
            EmbeddedChannel ch = limited.worker(0);
            limited.call(ch, Opcode.REGISTER_TABLE, new TableMessages.RegisterTable(table("big", 1 << 16, Eviction.NONE)))
                    .refused(ErrorCode.OUT_OF_MEMORY, "REGISTER_TABLE 'big' needs " + bytes + " bytes");
        }
    }
}
