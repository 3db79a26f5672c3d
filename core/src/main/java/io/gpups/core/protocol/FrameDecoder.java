package io.gpups.core.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.CorruptedFrameException;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;

import java.nio.ByteOrder;

/**
 * Cuts the byte stream into {@link Frame}s. The length field is bounded by {@code maxFrameBytes}
 * (fail-fast: an oversized length fails at once, before its bytes arrive). A frame with a wrong magic or
 * version, or shorter than a header, means the stream is broken: the decoder throws
 * {@link CorruptedFrameException} and the channel's handler closes the connection. An unknown opcode is
 * not a broken stream: it is passed on as a frame with a {@code null} opcode so it gets an ERROR answer.
 */
public final class FrameDecoder extends LengthFieldBasedFrameDecoder {

    public FrameDecoder(int maxFrameBytes) {
        super(ByteOrder.LITTLE_ENDIAN, maxFrameBytes, Frame.LENGTH_OFFSET, 4, 0, 0, true);
        if (maxFrameBytes < Frame.HEADER_LENGTH) {
            throw new IllegalArgumentException("max frame bytes must be >= " + Frame.HEADER_LENGTH + ", got " + maxFrameBytes);
        }
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

    /** A well-framed request whose opcode byte names no operation; it gets an UNKNOWN_OPCODE answer. */
    public record UnknownOpcodeFrame(int opcode, long requestId) {
    }
}
