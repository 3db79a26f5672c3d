package io.gpups.core.protocol;

import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TableMessagesTest {

    private static final TableSpec ITEMS = new TableSpec("items", 16, new Initializer(Initializer.Kind.NORMAL, 0.01f, 3),
            new OptimizerSpec.Adagrad(0.05f, 1e-8f, 0.1f, 0f), 1000, Eviction.LRU);

    private static ByteBuf write(Message m) {
        ByteBuf buf = Unpooled.buffer();
        m.writeTo(buf);
        assertEquals(m.encodedLength(), buf.readableBytes());
        return buf;
    }

    private static void assertRefused(ErrorCode code, String message, Runnable read) {
        ProtocolException e = assertThrows(ProtocolException.class, read::run);
        assertEquals(code, e.code(), e.getMessage());
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }

    @Test
    void registerTableRoundTripsAndEveryCutIsRefused() {
        ByteBuf full = write(new TableMessages.RegisterTable(ITEMS));
        assertEquals(ITEMS, TableMessages.RegisterTable.read(full.duplicate()).spec());
        for (int n = 0; n < full.readableBytes(); n++) {
            ByteBuf cut = full.slice(0, n);
            assertThrows(ProtocolException.class, () -> TableMessages.RegisterTable.read(cut), "cut at " + n);
        }
    }

    @Test
    void registerTableNamesABadField() {
        ByteBuf buf = write(new TableMessages.RegisterTable(ITEMS));
        int dimAt = 2 + "items".length();
        buf.setIntLE(dimAt, 0);
        assertRefused(ErrorCode.BAD_ARGUMENT, "REGISTER_TABLE 'items': table 'items': dim must be 1..4096, got 0",
                () -> TableMessages.RegisterTable.read(buf.duplicate()));
        buf.setIntLE(dimAt, 16);
        buf.setByte(dimAt + 4 + 8, 9);
        assertRefused(ErrorCode.BAD_ARGUMENT, "unknown eviction id 9",
                () -> TableMessages.RegisterTable.read(buf.duplicate()));
        buf.setByte(dimAt + 4 + 8, 1);
        buf.setByte(dimAt + 4 + 8 + 1 + 1 + 4 + 8, OptimizerSpec.OptimizerKind.LION.id);
        assertRefused(ErrorCode.BAD_ARGUMENT, "optimizer lion is not one a row can have",
                () -> TableMessages.RegisterTable.read(buf.duplicate()));
    }

    @Test
    void rowsHeaderChecksTheIdsAndRowsThatFollow() {
        ByteBuf pull = write(new TableMessages.RowsHeader(2, RowDtype.BF16, 3, 7));
        pull.writeZero(24);
        TableMessages.RowsHeader h = TableMessages.RowsHeader.read(pull, Opcode.PULL_ROWS);
        assertEquals(new TableMessages.RowsHeader(2, RowDtype.BF16, 3, 7), h);
        assertEquals(24, pull.readableBytes());

        ByteBuf shortPull = write(new TableMessages.RowsHeader(2, RowDtype.FP32, 3, 7));
        shortPull.writeZero(16);
        assertRefused(ErrorCode.SIZE_MISMATCH, "PULL_ROWS announces 3 ids (24 bytes) but 16 bytes follow the header",
                () -> TableMessages.RowsHeader.read(shortPull, Opcode.PULL_ROWS));

        ByteBuf int8Pull = write(new TableMessages.RowsHeader(2, RowDtype.INT8, 0, 7));
        assertRefused(ErrorCode.BAD_ARGUMENT, "PULL_ROWS dtype int8 is for pushes only",
                () -> TableMessages.RowsHeader.read(int8Pull, Opcode.PULL_ROWS));

        ByteBuf huge = write(new TableMessages.RowsHeader(2, RowDtype.FP32, TableMessages.MAX_IDS + 1, 7));
        assertRefused(ErrorCode.SIZE_MISMATCH, "count 4194305 is more than 4194304 ids in one request",
                () -> TableMessages.RowsHeader.read(huge, Opcode.PUSH_ROWS));

        ByteBuf push = write(new TableMessages.RowsHeader(0, RowDtype.INT8, 2, 1));
        push.writeZero(16 + 2 * (4 + 8));
        TableMessages.RowsHeader p = TableMessages.RowsHeader.read(push, Opcode.PUSH_ROWS);
        p.checkRows(push, 8);
        assertRefused(ErrorCode.SIZE_MISMATCH, "PUSH_ROWS of 2 rows of dim 9 as int8 needs 42 bytes after the header, got 40",
                () -> p.checkRows(push, 9));
    }

    @Test
    void rowsReplyHeaderChecksItsLength() {
        ByteBuf reply = write(new TableMessages.RowsReplyHeader(2, RowDtype.FP16));
        reply.writeZero(2 * 2 * 4);
        assertEquals(new TableMessages.RowsReplyHeader(2, RowDtype.FP16),
                TableMessages.RowsReplyHeader.read(reply.duplicate(), 4));
        assertRefused(ErrorCode.BAD_FRAME, "announces 2 rows of dim 5 as fp16 but carries 16 bytes",
                () -> TableMessages.RowsReplyHeader.read(reply.duplicate(), 5));
    }
}
