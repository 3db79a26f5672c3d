package io.gpups.server;

import io.gpups.core.net.SharedRing;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.FrameDecoder;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.protocol.ProtocolException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.buffer.UnpooledDirectByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;

/**
 * Turns a connection's RING_FRAME requests into the frames they point at in the worker's {@link SharedRing}, so
 * that everything after it in the pipeline sees those frames as if they had come over TCP. One per connection;
 * it sits right after the frame decoder.
 *
 * <p>Each RING_FRAME is checked against the ring before anything is read: the position must be the one
 * {@link SharedRing#place} gives after the previous frame, the frame must fit the ring and the shard's largest
 * frame, must not reach into frames the shard still holds, and its header (read once, here) must be a frame's
 * with the request id of the RING_FRAME. A RING_FRAME that fails any of these breaks the ring's stream as a bad
 * length breaks a TCP stream: it is answered ERROR BAD_FRAME naming what was wrong, and the connection is closed.
 *
 * <p>PUSH and PUSH_PULL frames are handed on in place (their payload a slice of the ring, marked
 * {@linkplain Frame#sharedPayload() shared}); every other frame is copied out of the ring first, since the worker
 * could still change it while it is being checked. A frame's ring bytes are given back once the frame is
 * released, in ring order: {@link SharedRing#release} publishes how far the shard is done.
 */
final class SharedRingInbound extends ChannelInboundHandlerAdapter {

    static final String NAME = "ring";
    private static final Logger log = LoggerFactory.getLogger(SharedRingInbound.class);

    private final int maxFrameBytes;
    /** Set once, on the event loop, by {@link #attach}. */
    private SharedRing ring;
    /** Where the last frame taken from the ring ended (event loop only). */
    private long end;
    /** Frames taken from the ring, oldest first, until released; guarded by itself (releases come from any thread). */
    private final ArrayDeque<Region> held = new ArrayDeque<>();
    /** Ring position before which every frame has been released; guarded by {@link #held}. */
    private long released;
    private long framesTaken;

    SharedRingInbound(int maxFrameBytes) {
        this.maxFrameBytes = maxFrameBytes;
    }

    /** This connection's handler. */
    static SharedRingInbound of(Channel ch) {
        return ch.pipeline().get(SharedRingInbound.class);
    }

    /** Whether a ring is attached already. */
    boolean attached() {
        return ring != null;
    }

    /** From now on RING_FRAME requests are read from {@code ring}; on the connection's event loop. */
    void attach(SharedRing ring) {
        if (this.ring != null) {
            throw new IllegalStateException("a ring is attached already");
        }
        this.ring = ring;
    }

    /** Frames read from the ring so far. */
    long framesTaken() {
        return framesTaken;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof Frame envelope) || envelope.opcode() != Opcode.RING_FRAME) {
            ctx.fireChannelRead(msg);
            return;
        }
        Object frame;
        try {
            frame = take(ctx, envelope);
        } catch (ProtocolException e) {
            log.info("closing {}: {}", ctx.channel().remoteAddress(), e.getMessage());
            ctx.writeAndFlush(Frames.error(ctx.alloc(), envelope.requestId(), e.code(), e.getMessage()))
                    .addListener(ChannelFutureListener.CLOSE);
            return;
        } finally {
            envelope.release();
        }
        ctx.fireChannelRead(frame);
    }

    private Object take(ChannelHandlerContext ctx, Frame envelope) {
        if (ring == null) {
            throw bad("RING_FRAME before RING_ATTACH: this connection has no ring");
        }
        Messages.RingFrame d = Messages.RingFrame.read(envelope.payload());
        int length = d.length();
        long capacity = ring.capacity();
        if (length < Frame.HEADER_LENGTH || length > maxFrameBytes || length > capacity) {
            throw bad("RING_FRAME length " + length + ": a frame is " + Frame.HEADER_LENGTH + ".."
                    + Math.min(maxFrameBytes, capacity) + " bytes here");
        }
        long position = SharedRing.place(end, length, capacity);
        if (d.position() != position) {
            throw bad("RING_FRAME at ring position " + d.position() + ", expected " + position
                    + " (where the frame after the one ending at " + end + " goes)");
        }
        long releasedNow;
        synchronized (held) {
            releasedNow = released;
        }
        if (position + length - releasedNow > capacity) {
            throw bad("RING_FRAME at " + position + " of " + length + " bytes reaches into frames the shard still holds"
                    + " (released up to " + releasedNow + ", capacity " + capacity + ")");
        }
        ByteBuffer bytes = ring.data(position, length);
        long lengthField = bytes.getInt(Frame.LENGTH_OFFSET) & 0xffffffffL;
        int magic = bytes.getShort(Frame.MAGIC_OFFSET) & 0xffff;
        int version = bytes.get(Frame.VERSION_OFFSET) & 0xff;
        int rawOpcode = bytes.get(Frame.OPCODE_OFFSET) & 0xff;
        long requestId = bytes.getLong(Frame.REQUEST_ID_OFFSET);
        if (lengthField != length - 4L || magic != Frame.MAGIC || version != Frame.VERSION) {
            throw bad(String.format("the frame in the ring at %d is not one: length field %d (expected %d), magic 0x%04x,"
                    + " version %d", position, lengthField, length - 4L, magic, version));
        }
        if (requestId != envelope.requestId()) {
            throw bad("the frame in the ring at " + position + " has request id " + requestId + ", its RING_FRAME "
                    + envelope.requestId());
        }
        Opcode opcode = Opcode.ofCode(rawOpcode);
        if (opcode == Opcode.RING_FRAME || opcode == Opcode.RING_ATTACH) {
            throw bad("the frame in the ring at " + position + " is a " + opcode + ", which only TCP carries");
        }
        end = position + length;
        framesTaken++;
        Region region = new Region(bytes, position, end);
        synchronized (held) {
            held.add(region);
        }
        if (opcode == null) {
            region.release();
            return new FrameDecoder.UnknownOpcodeFrame(rawOpcode, requestId);
        }
        ByteBuf payload = region.retainedSlice(Frame.HEADER_LENGTH, length - Frame.HEADER_LENGTH);
        region.release();
        Frame frame = new Frame(opcode, requestId, payload, true);
        return opcode == Opcode.PUSH || opcode == Opcode.PUSH_PULL ? frame : frame.copied(ctx.alloc());
    }

    private void released(Region region) {
        synchronized (held) {
            region.done = true;
            long upTo = -1;
            while (!held.isEmpty() && held.peekFirst().done) {
                upTo = held.pollFirst().end;
            }
            if (upTo >= 0) {
                released = upTo;
                ring.release(upTo);
            }
        }
    }

    private static ProtocolException bad(String message) {
        return new ProtocolException(ErrorCode.BAD_FRAME, message);
    }

    /** One frame's bytes in the ring; released (all its slices too), it gives them back in ring order. */
    private final class Region extends UnpooledDirectByteBuf {
        final long start;
        final long end;
        /** Guarded by {@link #held}. */
        boolean done;

        Region(ByteBuffer bytes, long start, long end) {
            super(UnpooledByteBufAllocator.DEFAULT, bytes.order(ByteOrder.BIG_ENDIAN), bytes.capacity());
            this.start = start;
            this.end = end;
        }

        @Override
        protected void deallocate() {
            super.deallocate();
            released(this);
        }
    }
}
