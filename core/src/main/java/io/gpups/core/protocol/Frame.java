package io.gpups.core.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.util.AbstractReferenceCounted;
import io.netty.util.ReferenceCounted;

/**
 * One decoded frame: its opcode, request id, and payload (a retained slice of the received bytes, never a
 * copy). The receiver owns the frame and must {@link #release()} it.
 *
 * <p>Layout on the wire (little-endian), see docs/PROTOCOL.md:
 * <pre>
 *  0               4       6   7   8                               16
 *  +---------------+-------+---+---+-------------------------------+-----------
 *  | length (u32)  | magic |ver|op | request id (u64)              | payload ...
 *  +---------------+-------+---+---+-------------------------------+-----------
 *  length = 12 + payload bytes (everything after the length field)
 *  magic  = 0x5047 (bytes 'G' 'P'), ver = 1
 * </pre>
 */
public final class Frame extends AbstractReferenceCounted {

    public static final int LENGTH_OFFSET = 0;
    public static final int MAGIC_OFFSET = 4;
    public static final int VERSION_OFFSET = 6;
    public static final int OPCODE_OFFSET = 7;
    public static final int REQUEST_ID_OFFSET = 8;
    /** Bytes before the payload, the length field included. */
    public static final int HEADER_LENGTH = 16;
    /** Bytes the length field counts that are not payload. */
    public static final int LENGTH_ADJUSTMENT = HEADER_LENGTH - 4;

    public static final short MAGIC = 0x5047;
    public static final byte VERSION = 1;
    /** Default largest frame: a 4 MiB chunk plus headers, with room. */
    public static final int DEFAULT_MAX_FRAME_BYTES = (64 << 20);

    private final Opcode opcode;
    private final long requestId;
    private final ByteBuf payload;
    private final boolean shared;

    public Frame(Opcode opcode, long requestId, ByteBuf payload) {
        this(opcode, requestId, payload, false);
    }

    /**
     * A frame whose payload may be {@code shared}: in memory its sender can still write (a worker's shared-memory
     * ring), so whatever is checked must be read once, or copied first.
     */
    public Frame(Opcode opcode, long requestId, ByteBuf payload, boolean shared) {
        this.opcode = opcode;
        this.requestId = requestId;
        this.payload = payload;
        this.shared = shared;
    }

    public Opcode opcode() {
        return opcode;
    }

    public long requestId() {
        return requestId;
    }

    /** The payload, readable from its reader index; owned by this frame. */
    public ByteBuf payload() {
        return payload;
    }

    /** Whether the payload is in memory the sender can still write (see the constructor). */
    public boolean sharedPayload() {
        return shared;
    }

    /** This frame with its payload copied into {@code alloc}'s memory, no longer shared; this one is released. */
    public Frame copied(io.netty.buffer.ByteBufAllocator alloc) {
        ByteBuf copy = alloc.buffer(payload.readableBytes());
        try {
            copy.writeBytes(payload, payload.readerIndex(), payload.readableBytes());
            return new Frame(opcode, requestId, copy);
        } catch (RuntimeException e) {
            copy.release();
            throw e;
        } finally {
            release();
        }
    }

    @Override
    protected void deallocate() {
        payload.release();
    }

    @Override
    public ReferenceCounted touch(Object hint) {
        payload.touch(hint);
        return this;
    }

    @Override
    public String toString() {
        return "Frame{" + opcode + ", id=" + requestId + ", payload=" + payload.readableBytes() + " B}";
    }
}
