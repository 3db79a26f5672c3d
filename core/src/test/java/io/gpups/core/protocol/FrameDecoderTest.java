package io.gpups.core.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.TooLongFrameException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FrameDecoderTest {

    /** A CLOCK request, id 7, clock 42, byte by byte. */
    private static final byte[] CLOCK_FRAME = {
            20, 0, 0, 0,                 // length: 12 header bytes + 8 payload bytes
            0x47, 0x50,                  // magic 0x5047, little-endian: 'G' 'P'
            1,                           // version
            0x06,                        // opcode CLOCK
            7, 0, 0, 0, 0, 0, 0, 0,      // request id 7
            42, 0, 0, 0, 0, 0, 0, 0,     // payload: clock 42
    };

    @Test
    void encoderWritesTheDocumentedBytes() {
        ByteBuf out = Frames.encode(Unpooled.buffer().alloc(), Opcode.CLOCK, 7, new Messages.Clock(42));
        byte[] bytes = new byte[out.readableBytes()];
        out.readBytes(bytes);
        out.release();
        assertArrayEquals(CLOCK_FRAME, bytes);
    }

    @Test
    void decodesAFrameSplitAtEveryByte() {
        for (int split = 1; split < CLOCK_FRAME.length; split++) {
            EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(1024));
            assertFalse(ch.writeInbound(Unpooled.wrappedBuffer(CLOCK_FRAME, 0, split)));
            assertTrue(ch.writeInbound(Unpooled.wrappedBuffer(CLOCK_FRAME, split, CLOCK_FRAME.length - split)));
            Frame frame = ch.readInbound();
            assertClock42(frame);
            assertNull(ch.readInbound());
            assertFalse(ch.finish());
        }
    }

    @Test
    void decodesAFrameFedOneByteAtATime() {
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(1024));
        for (byte b : CLOCK_FRAME) {
            ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {b}));
        }
        assertClock42(ch.readInbound());
        assertFalse(ch.finish());
    }

    @Test
    void decodesTwoFramesInOneRead() {
        ByteBuf two = Unpooled.buffer();
        two.writeBytes(CLOCK_FRAME).writeBytes(CLOCK_FRAME);
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(1024));
        assertTrue(ch.writeInbound(two));
        assertClock42(ch.readInbound());
        assertClock42(ch.readInbound());
        assertNull(ch.readInbound());
        assertFalse(ch.finish());
    }

    @Test
    void payloadIsASliceOfTheReceivedBufferNotACopy() {
        ByteBuf in = Unpooled.directBuffer().writeBytes(CLOCK_FRAME);
        long address = in.hasMemoryAddress() ? in.memoryAddress() : -1;
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(1024));
        ch.writeInbound(in);
        Frame frame = ch.readInbound();
        if (address != -1) {
            assertEquals(address + Frame.HEADER_LENGTH, frame.payload().memoryAddress());
        }
        frame.release();
        assertFalse(ch.finish());
    }

    @Test
    void unknownOpcodeIsPassedOnForAnErrorAnswer() {
        byte[] bytes = CLOCK_FRAME.clone();
        bytes[7] = 0x3f;
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(1024));
        ch.writeInbound(Unpooled.wrappedBuffer(bytes));
        FrameDecoder.UnknownOpcodeFrame unknown = ch.readInbound();
        assertEquals(0x3f, unknown.opcode());
        assertEquals(7, unknown.requestId());
        assertFalse(ch.finish());
    }

    @Test
    void badMagicBreaksTheStream() {
        byte[] bytes = CLOCK_FRAME.clone();
        bytes[4] = 0x00;
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(1024));
        DecoderException e = assertThrows(DecoderException.class, () -> ch.writeInbound(Unpooled.wrappedBuffer(bytes)));
        assertTrue(e.getMessage().contains("bad magic 0x5000"), e.getMessage());
        ch.finishAndReleaseAll();
    }

    @Test
    void badVersionBreaksTheStream() {
        byte[] bytes = CLOCK_FRAME.clone();
        bytes[6] = 9;
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(1024));
        DecoderException e = assertThrows(DecoderException.class, () -> ch.writeInbound(Unpooled.wrappedBuffer(bytes)));
        assertTrue(e.getMessage().contains("protocol version 9"), e.getMessage());
        ch.finishAndReleaseAll();
    }

    @Test
    void lengthOverTheMaximumFailsBeforeTheBytesArrive() {
        ByteBuf header = Unpooled.buffer().writeIntLE(1 << 30).writeShortLE(Frame.MAGIC);
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(1024));
        assertThrows(TooLongFrameException.class, () -> ch.writeInbound(header));
        ch.finishAndReleaseAll();
    }

    @Test
    void lengthShorterThanTheHeaderBreaksTheStream() {
        ByteBuf header = Unpooled.buffer().writeIntLE(3).writeIntLE(0);
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(1024));
        DecoderException e = assertThrows(DecoderException.class, () -> ch.writeInbound(header));
        assertTrue(e.getMessage().contains("frame length 3"), e.getMessage());
        ch.finishAndReleaseAll();
    }

    private static void assertClock42(Object msg) {
        Frame frame = assertInstanceOf(Frame.class, msg);
        try {
            assertEquals(Opcode.CLOCK, frame.opcode());
            assertEquals(7, frame.requestId());
            assertEquals(42, Messages.Clock.read(frame.payload()).clock());
        } finally {
            frame.release();
        }
    }
}
