package io.gpups.core.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;

import java.nio.charset.StandardCharsets;

/** Builds outgoing frames. Every method writes the 16-byte header followed by the payload. */
public final class Frames {

    private Frames() {
    }

    /** Writes a frame header announcing {@code payloadLength} payload bytes. */
    public static ByteBuf writeHeader(ByteBuf out, Opcode opcode, long requestId, int payloadLength) {
        out.writeIntLE(Frame.LENGTH_ADJUSTMENT + payloadLength);
        out.writeShortLE(Frame.MAGIC);
        out.writeByte(Frame.VERSION);
        out.writeByte(opcode.code);
        out.writeLongLE(requestId);
        return out;
    }

    /** A frame whose payload is written by {@code message}. */
    public static ByteBuf encode(ByteBufAllocator alloc, Opcode opcode, long requestId, Message message) {
        int length = message.encodedLength();
        ByteBuf out = alloc.buffer(Frame.HEADER_LENGTH + length);
        writeHeader(out, opcode, requestId, length);
        message.writeTo(out);
        return out;
    }

    /** A frame with an empty payload. */
    public static ByteBuf empty(ByteBufAllocator alloc, Opcode opcode, long requestId) {
        return writeHeader(alloc.buffer(Frame.HEADER_LENGTH), opcode, requestId, 0);
    }

    /**
     * A frame made of a fixed part written by {@code head} and a bulk part {@code body} that is not copied:
     * the result is a composite that takes ownership of {@code body}.
     */
    public static ByteBuf encodeWithBody(ByteBufAllocator alloc, Opcode opcode, long requestId, Message head, ByteBuf body) {
        int headLength = head.encodedLength();
        ByteBuf header = alloc.buffer(Frame.HEADER_LENGTH + headLength);
        writeHeader(header, opcode, requestId, headLength + body.readableBytes());
        head.writeTo(header);
        CompositeByteBuf frame = alloc.compositeBuffer(2);
        frame.addComponents(true, header, body);
        return frame;
    }

    /** An ERROR answer. */
    public static ByteBuf error(ByteBufAllocator alloc, long requestId, ErrorCode code, String message) {
        return encode(alloc, Opcode.ERROR, requestId, new Messages.ErrorReply(code, message));
    }

    /** Writes a string as u16 length + UTF-8 bytes, truncating to {@code maxBytes}. */
    static void writeString(ByteBuf out, String s, int maxBytes) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        int n = Math.min(bytes.length, maxBytes);
        out.writeShortLE(n);
        out.writeBytes(bytes, 0, n);
    }

    static int stringLength(String s, int maxBytes) {
        return 2 + Math.min(s.getBytes(StandardCharsets.UTF_8).length, maxBytes);
    }
}
