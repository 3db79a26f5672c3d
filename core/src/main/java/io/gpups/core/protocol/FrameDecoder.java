package io.gpups.core.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.CorruptedFrameException;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;

import java.nio.ByteOrder;
import java.util.ArrayDeque;

/**
 * Cuts the byte stream into {@link Frame}s. The length field is bounded by {@code maxFrameBytes}
 * (fail-fast: an oversized length fails at once, before its bytes arrive). A frame with a wrong magic or
 * version, or shorter than a header, means the stream is broken: the decoder throws
 * {@link CorruptedFrameException} and the channel's handler closes the connection. An unknown opcode is
 * not a broken stream: it is passed on as a frame with a {@code null} opcode so it gets an ERROR answer.
 */
public final class FrameDecoder extends LengthFieldBasedFrameDecoder {

    private final FrameSizedCumulator cumulator;

    /** A decoder whose buffers are bounded only by the frame size (a client's: it receives what it asked for). */
    public FrameDecoder(int maxFrameBytes) {
        this(maxFrameBytes, FrameMemoryBudget.unlimited());
    }

    /**
     * A decoder whose large buffers come out of {@code budget}, shared by every connection of a server: when a
     * frame being received needs more than is left, the connection is closed ({@link FrameMemoryBudgetException}).
     */
    public FrameDecoder(int maxFrameBytes, FrameMemoryBudget budget) {
        super(ByteOrder.LITTLE_ENDIAN, maxFrameBytes, Frame.LENGTH_OFFSET, 4, 0, 0, true);
        if (maxFrameBytes < Frame.HEADER_LENGTH) {
            throw new IllegalArgumentException("max frame bytes must be >= " + Frame.HEADER_LENGTH + ", got " + maxFrameBytes);
        }
        this.cumulator = new FrameSizedCumulator(maxFrameBytes, FrameSizedCumulator.SPARE_BUDGET_BYTES, budget);
        setCumulator(cumulator);
    }

    @Override
    protected Object decode(ChannelHandlerContext ctx, ByteBuf in) throws Exception {
        if (in.readableBytes() >= 4) {
            long length = in.getUnsignedIntLE(in.readerIndex());
            if (length < Frame.LENGTH_ADJUSTMENT) {
                in.skipBytes(in.readableBytes());
                throw new CorruptedFrameException("frame length " + length + " is shorter than the "
                        + Frame.LENGTH_ADJUSTMENT + "-byte header");
            }
        }
        ByteBuf frame = (ByteBuf) super.decode(ctx, in);
        if (frame == null) {
            return null;
        }
        try {
            int magic = frame.getUnsignedShortLE(Frame.MAGIC_OFFSET);
            if (magic != Frame.MAGIC) {
                throw new CorruptedFrameException(String.format("bad magic 0x%04x, expected 0x%04x", magic, Frame.MAGIC));
            }
            int version = frame.getUnsignedByte(Frame.VERSION_OFFSET);
            if (version != Frame.VERSION) {
                throw new CorruptedFrameException("protocol version " + version + " not supported, expected " + Frame.VERSION);
            }
            int rawOpcode = frame.getUnsignedByte(Frame.OPCODE_OFFSET);
            Opcode opcode = Opcode.ofCode(rawOpcode);
            long requestId = frame.getLongLE(Frame.REQUEST_ID_OFFSET);
            if (opcode == null) {
                return new UnknownOpcodeFrame(rawOpcode, requestId);
            }
            return new Frame(opcode, requestId,
                    frame.retainedSlice(Frame.HEADER_LENGTH, frame.readableBytes() - Frame.HEADER_LENGTH));
        } finally {
            frame.release();
        }
    }

    @Override
    protected ByteBuf extractFrame(ChannelHandlerContext ctx, ByteBuf buffer, int index, int length) {
        // A slice, not a copy: the payload stays in the received buffer.
        return buffer.retainedSlice(index, length);
    }

    /**
     * Lets {@code channel} read the rest of a large frame straight into the buffer that receives it, with no
     * copy out of a read buffer: reads go through a {@link FrameReadAllocator} that asks this decoder for the
     * free tail of that buffer. Only for a channel whose bytes reach this decoder as read (no TLS before it).
     */
    public void readDirectly(Channel channel) {
        channel.config().setRecvByteBufAllocator(new FrameReadAllocator(channel.config().getRecvByteBufAllocator(), this));
    }

    /**
     * The free tail of the buffer receiving the current frame, as an empty buffer for the next read, when at least
     * {@value FrameSizedCumulator#DIRECT_READ_MIN_BYTES} bytes of a large frame are still to come and fit; else
     * null.
     */
    ByteBuf readTarget() {
        return cumulator.readTarget(internalBuffer());
    }

    /** Bytes read straight into a frame's buffer on this connection so far (see {@link #readDirectly}). */
    public long bytesReadDirectly() {
        return cumulator.directBytes;
    }

    @Override
    protected void handlerRemoved0(ChannelHandlerContext ctx) {
        cumulator.releaseSpares();
    }

    /**
     * Netty's merging cumulator, except in how it grows. When the buffer must grow, it grows towards the
     * whole frame whose length field it holds, at most {@value #GROWTH}-fold what has arrived (at least to
     * {@value #SPARE_MIN_BYTES} bytes): a 16 MiB frame is received into 1 MiB, then into its own buffer, at
     * 1/16 of a copy more, where Netty's own growth (doubling up to 4 MiB, then 4 MiB at a time, copying
     * everything received so far each time) cost 24 MiB of copies. The bound keeps a peer from making the
     * shard allocate a whole frame's memory by announcing its length alone. And buffers of
     * {@value #SPARE_MIN_BYTES} bytes or more are kept (per connection, up to {@value #SPARE_BUDGET_BYTES} bytes,
     * or two buffers if they are larger: enough for a worker's pushes in flight) and reused once every frame cut
     * from them has been released, instead of a fresh allocation per frame: a fresh large buffer is zeroed and
     * page-faulted in, which cost more than the copy itself. A length beyond the decoder's maximum is not allocated for; the
     * decoder rejects it.
     *
     * <p>Every large buffer is taken from the server's {@link FrameMemoryBudget} while this cumulator holds it. Once
     * more than half of the budget is in use, buffers grow only to twice what has arrived (a slow sender gets no
     * memory ahead of its bytes); when even the bytes that arrived do not fit, the connection is closed.
     */
    static final class FrameSizedCumulator implements Cumulator {
        static final int SPARE_MIN_BYTES = 1 << 20;
        /** How many times the bytes received so far the buffer may grow to at once. */
        static final int GROWTH = 16;
        /** The least of a frame still to come for which a read goes straight into the frame's buffer. */
        static final int DIRECT_READ_MIN_BYTES = 64 << 10;
        /** How many times the bytes received so far the buffer may grow to at once while the budget is short. */
        static final int GROWTH_UNDER_PRESSURE = 2;
        /** Bytes of spares kept per connection; two are kept whatever their size. */
        static final long SPARE_BUDGET_BYTES = 64L << 20;
        /** Netty's largest read buffer by default (AdaptiveRecvByteBufAllocator): one read past a frame's end. */
        static final int READ_SLACK_BYTES = 64 << 10;

        private final int maxFrameBytes;
        private final long spareBudgetBytes;
        private final FrameMemoryBudget budget;
        /** Large buffers this cumulator holds one reference to; reusable when that is the only one. */
        private final ArrayDeque<ByteBuf> spares = new ArrayDeque<>();
        /** Their capacities, summed. */
        private long spareBytes;
        /** The last read target handed out, the cumulation it is a slice of, and where in it it starts. */
        private ByteBuf target;
        private ByteBuf targetOwner;
        private int targetIndex;
        /** Bytes read straight into a frame's buffer so far. */
        private long directBytes;

        FrameSizedCumulator(int maxFrameBytes) {
            this(maxFrameBytes, SPARE_BUDGET_BYTES);
        }

        FrameSizedCumulator(int maxFrameBytes, long spareBudgetBytes) {
            this(maxFrameBytes, spareBudgetBytes, FrameMemoryBudget.unlimited());
        }

        FrameSizedCumulator(int maxFrameBytes, long spareBudgetBytes, FrameMemoryBudget budget) {
            this.maxFrameBytes = maxFrameBytes;
            this.spareBudgetBytes = spareBudgetBytes;
            this.budget = budget;
        }

        @Override
        public ByteBuf cumulate(ByteBufAllocator alloc, ByteBuf cumulation, ByteBuf in) {
            if (in == target) {
                // Read straight into the cumulation's tail (readTarget): the bytes are already in place.
                target = null;
                if (cumulation == targetOwner && cumulation.writerIndex() == targetIndex) {
                    directBytes += in.readableBytes();
                    cumulation.writerIndex(targetIndex + in.readableBytes());
                    in.release();
                    return cumulation;
                }
                // Not where expected: copy them like any read's (they stay valid while in is held).
            }
            if (!cumulation.isReadable() && in.isContiguous()) {
                // Nothing pending: the new buffer is the cumulation (as Netty's MERGE_CUMULATOR does).
                cumulation.release();
                return in;
            }
            try {
                // Appending past the writer index leaves frames already cut from the buffer alone; Netty copies
                // when anyone else holds the buffer, this cumulator also appends to its own spares.
                if (cumulation.writableBytes() >= in.readableBytes() && !cumulation.isReadOnly()
                        && (cumulation.refCnt() == 1 || isSpare(cumulation))) {
                    cumulation.writeBytes(in);
                    return cumulation;
                }
                // Grow (or copy, when frames handed out still share this buffer) to the whole pending frame.
                int required = cumulation.readableBytes() + in.readableBytes();
                int capacity = required;
                int frame = frameBytes(cumulation);
                if (frame > required) {
                    int growth = budget.underPressure() ? GROWTH_UNDER_PRESSURE : GROWTH;
                    capacity = (int) Math.min(frame, Math.max((long) required * growth, SPARE_MIN_BYTES));
                }
                ByteBuf grown = buffer(alloc, capacity, required, frame);
                try {
                    grown.writeBytes(cumulation).writeBytes(in);
                } catch (Throwable t) {
                    grown.release();
                    throw t;
                }
                cumulation.release();
                return grown;
            } finally {
                in.release();
            }
        }

        /**
         * An empty buffer of at least {@code capacity} bytes: a free spare (one that holds the whole
         * {@code announced} frame first), or a new one, kept as a spare and taken from the budget. When the budget
         * cannot give {@code capacity}, this connection's idle spares are given back and then a buffer of just
         * {@code required} bytes is tried; when that does not fit either, the frame cannot be received here and the
         * connection goes.
         */
        private ByteBuf buffer(ByteBufAllocator alloc, int capacity, int required, int announced) {
            if (announced >= SPARE_MIN_BYTES) {
                // An idle spare that holds the whole frame costs no memory that is not held already: the rest of
                // the frame is then read straight into it, with no further growth and copy.
                for (ByteBuf spare : spares) {
                    if (spare.refCnt() == 1 && spare.capacity() >= Math.max(announced, required)
                            && spare.capacity() <= 2L * announced) {
                        return spare.clear().retain();
                    }
                }
            }
            if (capacity < SPARE_MIN_BYTES) {
                return alloc.buffer(capacity);
            }
            for (ByteBuf spare : spares) {
                if (spare.refCnt() == 1 && spare.capacity() >= capacity && spare.capacity() <= 2L * capacity) {
                    return spare.clear().retain();
                }
            }
            int size = capacity;
            if (!budget.tryReserve(size)) {
                evictIdleSpares(0, 0);
                if (!budget.tryReserve(size)) {
                    size = Math.max(required, SPARE_MIN_BYTES);
                    if (size >= capacity || !budget.tryReserve(size)) {
                        budget.refused();
                        throw new FrameMemoryBudgetException("cannot receive " + required + " bytes of a frame"
                                + (announced > 0 ? " of " + (announced - READ_SLACK_BYTES) + " bytes" : "")
                                + ": frames being received on this server hold " + budget.usedBytes() + " of their "
                                + budget.limitBytes() + "-byte budget");
                    }
                }
            }
            ByteBuf fresh;
            try {
                // Spares are this cumulator's own: allocated unpooled, so no pool recycles them behind its back.
                fresh = UnpooledByteBufAllocator.DEFAULT.directBuffer(size, size);
            } catch (Throwable t) {
                budget.release(size);
                throw t;
            }
            // Room for it among the spares: idle ones (none of the frames cut from them is held) are dropped.
            evictIdleSpares(spareBudgetBytes - size, 2);
            spares.add(fresh.retain());
            spareBytes += size;
            return fresh;
        }

        /**
         * Drops idle spares while at least {@code minKept} are held and they sum to more than {@code keepBytes}, or
         * until none is idle.
         */
        private void evictIdleSpares(long keepBytes, int minKept) {
            while (spares.size() >= Math.max(minKept, 1) && spareBytes > keepBytes) {
                ByteBuf idle = null;
                for (ByteBuf spare : spares) {
                    if (spare.refCnt() == 1) {
                        idle = spare;
                        break;
                    }
                }
                if (idle == null) {
                    return;
                }
                ByteBuf evicted = idle;
                spares.removeIf(spare -> spare == evicted); // by identity: ByteBuf.equals compares contents
                spareBytes -= evicted.capacity();
                budget.release(evicted.capacity());
                evicted.release();
            }
        }

        /** See {@link FrameDecoder#readTarget()}; {@code cumulation} is the decoder's (empty when it has none). */
        ByteBuf readTarget(ByteBuf cumulation) {
            long announced = announcedFrameBytes(cumulation);
            if (announced < 0 || !isSpare(cumulation)) {
                return null;
            }
            long toCome = announced - cumulation.readableBytes();
            if (toCome < DIRECT_READ_MIN_BYTES || cumulation.writableBytes() < DIRECT_READ_MIN_BYTES) {
                return null;
            }
            targetOwner = cumulation;
            targetIndex = cumulation.writerIndex();
            target = cumulation.retainedSlice(targetIndex, cumulation.writableBytes()).clear();
            return target;
        }

        private boolean isSpare(ByteBuf buffer) {
            for (ByteBuf spare : spares) {
                if (spare == buffer) {
                    return true;
                }
            }
            return false;
        }

        /** Drops this cumulator's references; buffers still shared by frames are freed when those are released. */
        void releaseSpares() {
            for (ByteBuf spare : spares) {
                spare.release();
            }
            spares.clear();
            budget.release(spareBytes);
            spareBytes = 0;
        }

        /**
         * The size of the frame starting at {@code cumulation}'s reader index plus {@link #READ_SLACK_BYTES}, or 0
         * if unknown or too long. The slack holds the start of the next frame when one read carries both; without
         * it the whole frame would be copied again to make room.
         */
        private int frameBytes(ByteBuf cumulation) {
            long total = announcedFrameBytes(cumulation);
            return total >= 0 && total <= maxFrameBytes ? (int) Math.min(Integer.MAX_VALUE, total + READ_SLACK_BYTES) : 0;
        }

        /** The whole size of the frame starting at {@code buffer}'s reader index, from its length field; -1 if unread. */
        private static long announcedFrameBytes(ByteBuf buffer) {
            if (buffer.readableBytes() < Frame.LENGTH_OFFSET + 4) {
                return -1;
            }
            return Frame.LENGTH_OFFSET + 4L + buffer.getUnsignedIntLE(buffer.readerIndex() + Frame.LENGTH_OFFSET);
        }
    }

    /** A well-framed request whose opcode byte names no operation; it gets an UNKNOWN_OPCODE answer. */
    public record UnknownOpcodeFrame(int opcode, long requestId) {
    }
}
