package io.gpups.core.protocol;

import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;
import io.netty.buffer.ByteBuf;

import java.nio.charset.StandardCharsets;

/**
 * The payloads of the embedding-table requests (docs/PROTOCOL.md, "Rows"): REGISTER_TABLE, PULL_ROWS and PUSH_ROWS,
 * little-endian. A reader checks every count and length against the payload and names what is wrong; ids and row
 * values are left in the payload, where the shard reads them in place.
 */
public final class TableMessages {

    /** Most ids in one PULL_ROWS or PUSH_ROWS. */
    public static final int MAX_IDS = 1 << 22;

    private TableMessages() {
    }

    /**
     * REGISTER_TABLE: a table's spec. Answered OK with {@link Messages.RegisterReply} (the table's id on this shard),
     * the same id for the same spec again; a different spec under a registered name is a CONFLICT.
     * <pre>
     *  u16 n, n bytes name (UTF-8) | u32 dim | u64 capacity (rows per shard) | u8 eviction (0 none, 1 lru, 2 lfu)
     *  | u8 initializer kind | f32 initializer value | u64 initializer seed | u8 optimizer kind | u8 h | h x f32 hyper-parameters
     * </pre>
     */
    public record RegisterTable(TableSpec spec) implements Message {

        public int encodedLength() {
            return Frames.stringLength(spec.name(), TableSpec.MAX_NAME_BYTES) + 4 + 8 + 1 + 1 + 4 + 8 + 2
                    + 4 * spec.optimizer().hyperParameters().length;
        }

        public void writeTo(ByteBuf out) {
            Frames.writeString(out, spec.name(), TableSpec.MAX_NAME_BYTES);
            out.writeIntLE(spec.dim());
            out.writeLongLE(spec.capacity());
            out.writeByte(spec.eviction().id);
            out.writeByte(spec.initializer().kind().id);
            out.writeFloatLE(spec.initializer().value());
            out.writeLongLE(spec.initializer().seed());
            float[] h = spec.optimizer().hyperParameters();
            out.writeByte(spec.optimizer().kind().id);
            out.writeByte(h.length);
            for (float v : h) {
                out.writeFloatLE(v);
            }
        }

        public static RegisterTable read(ByteBuf in) {
            need(in, 2, "REGISTER_TABLE name length");
            int nameLength = in.readUnsignedShortLE();
            if (nameLength == 0 || nameLength > TableSpec.MAX_NAME_BYTES) {
                throw bad("REGISTER_TABLE name length " + nameLength + " out of range 1.." + TableSpec.MAX_NAME_BYTES);
            }
            need(in, nameLength + 4 + 8 + 1 + 1 + 4 + 8 + 2, "REGISTER_TABLE name and fields");
            String name = in.readCharSequence(nameLength, StandardCharsets.UTF_8).toString();
            long dim = in.readUnsignedIntLE();
            long capacity = in.readLongLE();
            int eviction = in.readUnsignedByte();
            int initKind = in.readUnsignedByte();
            float initValue = in.readFloatLE();
            long seed = in.readLongLE();
            int optKind = in.readUnsignedByte();
            int h = in.readUnsignedByte();
            if (in.readableBytes() != 4 * h) {
                throw bad("REGISTER_TABLE '" + name + "': " + h + " hyper-parameters announced, " + in.readableBytes()
                        + " bytes follow, expected " + 4 * h);
            }
            float[] hyper = new float[h];
            for (int i = 0; i < h; i++) {
                hyper[i] = in.readFloatLE();
            }
            try {
                if (dim > TableSpec.MAX_DIM) {
                    throw new IllegalArgumentException("dim must be 1.." + TableSpec.MAX_DIM + ", got " + dim);
                }
                OptimizerSpec optimizer = OptimizerSpec.of(OptimizerSpec.OptimizerKind.ofId(optKind), hyper);
                return new RegisterTable(new TableSpec(name, (int) dim,
                        new Initializer(Initializer.Kind.ofId(initKind), initValue, seed), optimizer, capacity,
                        Eviction.ofId(eviction)));
            } catch (IllegalArgumentException e) {
                throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "REGISTER_TABLE '" + name + "': " + e.getMessage());
            }
        }
    }

    /**
     * The fixed part of PULL_ROWS and PUSH_ROWS; the ids (count x u64) follow it, and in a push the rows
     * ({@code count x RowDtype.rowBytes(dim)} bytes, in the ids' order) follow the ids.
     * <pre>
     *  0          4       5          8         12         16            24
     *  +----------+-------+----------+---------+----------+-------------+-------------------+-------------------
     *  | table id | dtype | reserved | count   | reserved | clock (i64) | count x u64 ids   | (push) count rows
     *  +----------+-------+----------+---------+----------+-------------+-------------------+-------------------
     * </pre>
     * {@code clock} is the sender's step (as in PULL and PUSH); {@code dtype} is how the rows travel ({@link RowDtype}):
     * of the answer's rows for a pull (fp32, bf16, fp16), of the pushed gradients for a push (also int8). Ids in one
     * request are unique, and none is 2^64 - 1 (the tables' free-slot key).
     */
    public record RowsHeader(int tableId, RowDtype dtype, int count, long clock) implements Message {
        public static final int LENGTH = 24;

        public int encodedLength() { return LENGTH; }

        public void writeTo(ByteBuf out) {
            out.writeIntLE(tableId);
            out.writeByte(dtype.id);
            out.writeZero(3);
            out.writeIntLE(count);
            out.writeIntLE(0);
            out.writeLongLE(clock);
        }

        /**
         * Reads the fixed part of {@code what} (PULL_ROWS or PUSH_ROWS); the reader index is left at the ids, and the
         * bytes after it are checked: exactly the ids for a pull; for a push, at least the ids (the rows' length depends
         * on the table's dim: {@link #checkRows}).
         */
        public static RowsHeader read(ByteBuf in, Opcode what) {
            need(in, LENGTH, what.name());
            int tableId = in.readIntLE();
            int dtypeId = in.readUnsignedByte();
            in.skipBytes(3);
            long count = in.readUnsignedIntLE();
            in.skipBytes(4);
            long clock = in.readLongLE();
            RowDtype dtype;
            try {
                dtype = RowDtype.ofId(dtypeId);
            } catch (IllegalArgumentException e) {
                throw new ProtocolException(ErrorCode.BAD_ARGUMENT, what + " " + e.getMessage());
            }
            boolean pull = what == Opcode.PULL_ROWS;
            if (pull && !dtype.pullable) {
                throw new ProtocolException(ErrorCode.BAD_ARGUMENT, what + " dtype " + dtype.name().toLowerCase()
                        + " is for pushes only; rows are pulled as fp32, bf16 or fp16");
            }
            if (count > MAX_IDS) {
                throw new ProtocolException(ErrorCode.SIZE_MISMATCH, what + " count " + count + " is more than "
                        + MAX_IDS + " ids in one request");
            }
            if (clock < 0) {
                throw new ProtocolException(ErrorCode.BAD_ARGUMENT, what + " clock " + clock + " must be >= 0");
            }
            long idBytes = 8 * count;
            if (pull ? in.readableBytes() != idBytes : in.readableBytes() < idBytes) {
                throw new ProtocolException(ErrorCode.SIZE_MISMATCH, what + " announces " + count + " ids (" + idBytes
                        + " bytes) but " + in.readableBytes() + " bytes follow the header");
            }
            return new RowsHeader(tableId, dtype, (int) count, clock);
        }

        /** Checks that a push's payload after its ids holds exactly {@code count} rows of {@code dim} in its dtype. */
        public void checkRows(ByteBuf in, int dim) {
            long expected = 8L * count + (long) count * dtype.rowBytes(dim);
            if (in.readableBytes() != expected) {
                throw new ProtocolException(ErrorCode.SIZE_MISMATCH, "PUSH_ROWS of " + count + " rows of dim " + dim
                        + " as " + dtype.name().toLowerCase() + " needs " + expected + " bytes after the header, got "
                        + in.readableBytes());
            }
        }
    }

    /**
     * DATA answer to PULL_ROWS: the rows of the asked ids, in their order.
     * <pre>
     *  0       4       5          8
     *  +-------+-------+----------+------------------------------------------
     *  | count | dtype | reserved | count rows of dim values in dtype
     *  +-------+-------+----------+------------------------------------------
     * </pre>
     */
    public record RowsReplyHeader(int count, RowDtype dtype) implements Message {
        public static final int LENGTH = 8;

        public int encodedLength() { return LENGTH; }

        public void writeTo(ByteBuf out) {
            out.writeIntLE(count);
            out.writeByte(dtype.id);
            out.writeZero(3);
        }

        /** Reads the fixed part; the reader index is left at the rows, whose length (for {@code dim}) is checked. */
        public static RowsReplyHeader read(ByteBuf in, int dim) {
            need(in, LENGTH, "PULL_ROWS reply");
            long count = in.readUnsignedIntLE();
            int dtypeId = in.readUnsignedByte();
            in.skipBytes(3);
            RowDtype dtype;
            try {
                dtype = RowDtype.ofId(dtypeId);
            } catch (IllegalArgumentException e) {
                throw bad("PULL_ROWS reply " + e.getMessage());
            }
            long bytes = count * dtype.rowBytes(dim);
            if (!dtype.pullable || bytes != in.readableBytes()) {
                throw bad("PULL_ROWS reply announces " + count + " rows of dim " + dim + " as " + dtype.name().toLowerCase()
                        + " but carries " + in.readableBytes() + " bytes");
            }
            return new RowsReplyHeader((int) count, dtype);
        }
    }

    private static void need(ByteBuf in, int length, String what) {
        if (in.readableBytes() < length) {
            throw bad(what + ": payload truncated, " + in.readableBytes() + " bytes left, need " + length);
        }
    }

    private static ProtocolException bad(String message) {
        return new ProtocolException(ErrorCode.BAD_FRAME, message);
    }
}
