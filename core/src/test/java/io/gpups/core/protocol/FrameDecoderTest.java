package io.gpups.core.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
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

    @Test
    void aLargeFrameArrivingInPiecesIsDecodedExactly() {
        int payloadBytes = 1 << 20;
        byte[] frame = new byte[Frame.HEADER_LENGTH + payloadBytes];
        ByteBuf header = Unpooled.wrappedBuffer(frame).writerIndex(0);
        header.writeIntLE(frame.length - 4).writeShortLE(Frame.MAGIC).writeByte(Frame.VERSION)
                .writeByte(Opcode.CLOCK.code).writeLongLE(9);
        for (int i = 0; i < payloadBytes; i++) {
            frame[Frame.HEADER_LENGTH + i] = (byte) (i * 31 + 7);
        }
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(2 << 20));
        for (int at = 0; at < frame.length; at += 1000) {
            ch.writeInbound(Unpooled.copiedBuffer(frame, at, Math.min(1000, frame.length - at)));
        }
        Frame decoded = ch.readInbound();
        assertEquals(9, decoded.requestId());
        byte[] payload = new byte[payloadBytes];
        decoded.payload().getBytes(decoded.payload().readerIndex(), payload);
        decoded.release();
        for (int i = 0; i < payloadBytes; i++) {
            assertEquals((byte) (i * 31 + 7), payload[i], "payload byte " + i);
        }
        assertNull(ch.readInbound());
        assertFalse(ch.finish());
    }

    @Test
    void theCumulationGrowsTwiceToTheWholeFrame() {
        FrameDecoder.FrameSizedCumulator cumulator = new FrameDecoder.FrameSizedCumulator(64 << 20);
        int frameBytes = 16 << 20;
        ByteBuf first = Unpooled.buffer(4096).writeIntLE(frameBytes - 4).writeZero(4092);
        ByteBuf cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, Unpooled.EMPTY_BUFFER, first);
        assertEquals(first, cumulation, "the first read becomes the cumulation");
        cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, cumulation, Unpooled.buffer(4096).writeZero(4096));
        assertEquals(FrameDecoder.FrameSizedCumulator.SPARE_MIN_BYTES, cumulation.capacity(),
                "8 KiB received: grown to 1 MiB, not to the announced 16 MiB");
        while (cumulation.writableBytes() >= 65536) {
            cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, cumulation,
                    Unpooled.buffer(65536).writeZero(65536));
        }
        cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, cumulation, Unpooled.buffer(65536).writeZero(65536));
        assertEquals(frameBytes + FrameDecoder.FrameSizedCumulator.READ_SLACK_BYTES, cumulation.capacity(),
                "then to the frame's size (and one read more)");
        ByteBuf grown = cumulation;
        while (cumulation.readableBytes() + 65536 <= frameBytes) {
            cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, cumulation,
                    Unpooled.buffer(65536).writeZero(65536));
        }
        assertTrue(grown == cumulation, "no further growth");
        // While the frame is held, the next frame gets a buffer of its own; once it is released, the next reuses it.
        ByteBuf frame = cumulation.retainedSlice(0, cumulation.readableBytes());
        cumulation.skipBytes(cumulation.readableBytes());
        cumulation.release();
        ByteBuf whileHeld = receiveIntoFrameSizedBuffer(cumulator, frameBytes);
        assertTrue(whileHeld != grown, "a buffer a frame still holds is not reused");
        whileHeld.release();
        frame.release();
        assertEquals(1, grown.refCnt(), "only the cumulator's spare reference is left");
        ByteBuf reused = receiveIntoFrameSizedBuffer(cumulator, frameBytes);
        assertTrue(reused == grown, "the released buffer is reused");
        reused.release();
        cumulator.releaseSpares();
        assertEquals(0, grown.refCnt());
    }

    @Test
    void aFrameGoesIntoAnIdleSpareThatHoldsItWholeAtItsFirstGrowth() {
        FrameDecoder.FrameSizedCumulator cumulator = new FrameDecoder.FrameSizedCumulator(64 << 20);
        int frameBytes = 16 << 20;
        ByteBuf whole = receiveIntoFrameSizedBuffer(cumulator, frameBytes);
        whole.release();
        ByteBuf cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, Unpooled.EMPTY_BUFFER,
                Unpooled.buffer(8, 8).writeIntLE(frameBytes - 4).writeIntLE(0));
        cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, cumulation, Unpooled.buffer(65536).writeZero(65536));
        assertTrue(cumulation == whole, "the second read lands in the idle frame-sized spare, not in a 1 MiB step");
        assertEquals(8 + 65536, cumulation.readableBytes());
        cumulation.release();
        cumulator.releaseSpares();
    }

    /** Feeds a frame's header and 64 KiB reads until the cumulation has grown to the whole frame; returns it. */
    private static ByteBuf receiveIntoFrameSizedBuffer(FrameDecoder.FrameSizedCumulator cumulator, int frameBytes) {
        ByteBuf cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, Unpooled.EMPTY_BUFFER,
                Unpooled.buffer(8, 8).writeIntLE(frameBytes - 4).writeIntLE(0));
        while (cumulation.capacity() < frameBytes) {
            cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, cumulation,
                    Unpooled.buffer(65536).writeZero(65536));
        }
        return cumulation;
    }

    @Test
    void anOversizedLengthIsNotAllocatedFor() {
        FrameDecoder.FrameSizedCumulator cumulator = new FrameDecoder.FrameSizedCumulator(1024);
        ByteBuf first = Unpooled.buffer(8, 8).writeIntLE(Integer.MAX_VALUE).writeIntLE(0);
        ByteBuf cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, Unpooled.EMPTY_BUFFER, first);
        cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, cumulation, Unpooled.buffer(8).writeZero(8));
        assertTrue(cumulation.capacity() < 1024, "capacity " + cumulation.capacity());
        assertEquals(16, cumulation.readableBytes());
        cumulation.release();
    }

    @Test
    void pipelinedLargeFramesInReadSizedPiecesAreDecodedExactlyWhileEarlierOnesAreHeld() {
        int payloadBytes = (3 << 20) + 12;
        int frames = 7;
        ByteBuf stream = Unpooled.buffer();
        for (int f = 0; f < frames; f++) {
            stream.writeIntLE(Frame.HEADER_LENGTH - 4 + payloadBytes).writeShortLE(Frame.MAGIC).writeByte(Frame.VERSION)
                    .writeByte(Opcode.CLOCK.code).writeLongLE(f);
            for (int i = 0; i < payloadBytes; i++) {
                stream.writeByte(i * 31 + f);
            }
        }
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(8 << 20));
        java.util.ArrayDeque<Frame> held = new java.util.ArrayDeque<>();
        int decoded = 0;
        int piece = 65536 - 5;
        while (stream.isReadable()) {
            int n = Math.min(piece, stream.readableBytes());
            ByteBuf read = ch.alloc().directBuffer(n);
            read.writeBytes(stream, n);
            ch.writeInbound(read);
            for (Frame frame; (frame = ch.readInbound()) != null; ) {
                assertEquals(decoded, frame.requestId());
                ByteBuf p = frame.payload();
                assertEquals(payloadBytes, p.readableBytes());
                for (int i = 0; i < payloadBytes; i += 4099) {
                    assertEquals((byte) (i * 31 + decoded), p.getByte(p.readerIndex() + i), "frame " + decoded + " byte " + i);
                }
                decoded++;
                held.add(frame);
                if (held.size() > 2) {
                    held.poll().release();
                }
            }
        }
        assertEquals(frames, decoded);
        held.forEach(Frame::release);
        assertFalse(ch.finish());
        stream.release();
    }

    @Test
    void framesReleasedOnAnotherThreadLeaveTheSparesBalanced() throws Exception {
        int payloadBytes = (2 << 20) + 100;
        int frames = 40;
        ByteBuf stream = Unpooled.buffer();
        for (int f = 0; f < frames; f++) {
            stream.writeIntLE(Frame.HEADER_LENGTH - 4 + payloadBytes).writeShortLE(Frame.MAGIC).writeByte(Frame.VERSION)
                    .writeByte(Opcode.CLOCK.code).writeLongLE(f).writeZero(payloadBytes - 8).writeLongLE(f);
        }
        FrameDecoder decoder = new FrameDecoder(8 << 20);
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        java.util.concurrent.ExecutorService agent = java.util.concurrent.Executors.newSingleThreadExecutor();
        java.util.List<java.util.concurrent.Future<Long>> seen = new java.util.ArrayList<>();
        java.util.Random random = new java.util.Random(3);
        while (stream.isReadable()) {
            int n = Math.min(1 + random.nextInt(200_000), stream.readableBytes());
            ByteBuf read = ch.alloc().directBuffer(n);
            read.writeBytes(stream, n);
            ch.writeInbound(read);
            for (Frame frame; (frame = ch.readInbound()) != null; ) {
                Frame f = frame;
                seen.add(agent.submit(() -> {
                    try {
                        Thread.sleep(1);
                        return f.payload().getLongLE(f.payload().writerIndex() - 8);
                    } finally {
                        f.release();
                    }
                }));
            }
        }
        for (int f = 0; f < frames; f++) {
            assertEquals(f, seen.get(f).get());
        }
        agent.shutdown();
        assertFalse(ch.finish());
        stream.release();
    }

    @Test
    void anIdleSpareIsEvictedByIdentityNotByEqualContents() {
        // A 10 MiB budget: the 2 and 4 MiB spares fit, the 8 MiB one needs an idle one dropped.
        FrameDecoder.FrameSizedCumulator cumulator = new FrameDecoder.FrameSizedCumulator(64 << 20, 10 << 20);
        ByteBuf[] spares = new ByteBuf[3];
        for (int i = 0; i < spares.length; i++) {
            // Each frame twice the size of the one before: no spare fits the next. Reads of 1/16 of the frame
            // each: the second one grows the buffer straight to the frame's size.
            int frameBytes = (2 << 20) << i;
            int read = frameBytes / 16;
            ByteBuf first = Unpooled.buffer(read, read).writeIntLE(frameBytes - 4).writeZero(read - 4);
            ByteBuf cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, Unpooled.EMPTY_BUFFER, first);
            spares[i] = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, cumulation, Unpooled.buffer(read).writeZero(read));
            assertTrue(spares[i].capacity() > frameBytes, "frame " + i + " in a buffer of its own size");
            spares[i].skipBytes(spares[i].readableBytes());
            if (i > 0) {
                spares[i].release();
            }
        }
        // spares[0] is still in use (its contents equal spares[1]'s: both empty), so spares[1] is the one evicted.
        assertEquals(2, spares[0].refCnt());
        assertEquals(0, spares[1].refCnt());
        assertEquals(1, spares[2].refCnt());
        spares[0].release();
        cumulator.releaseSpares();
        for (ByteBuf spare : spares) {
            assertEquals(0, spare.refCnt());
        }
    }

    @Test
    void anAnnouncedLengthAloneDoesNotGetItsMemory() {
        FrameDecoder.FrameSizedCumulator cumulator = new FrameDecoder.FrameSizedCumulator(64 << 20);
        ByteBuf cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, Unpooled.EMPTY_BUFFER,
                Unpooled.buffer(8, 8).writeIntLE((60 << 20) - 4).writeIntLE(0));
        cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, cumulation, Unpooled.buffer(8).writeZero(8));
        assertEquals(FrameDecoder.FrameSizedCumulator.SPARE_MIN_BYTES, cumulation.capacity(),
                "16 bytes of a 60 MiB frame get a 1 MiB buffer");
        cumulation.release();
        cumulator.releaseSpares();
    }

    /**
     * The memory-amplification attack: 24 connections each announce a 60 MiB frame and send 2.2 MiB of it. Without a
     * shared budget each decoder grows to 16 MiB (16-fold what arrived): 400 MiB of direct memory for 53 MiB sent.
     * With a 96 MiB budget the decoders together never hold more than the budget, the connections that do not fit
     * are closed with a FrameMemoryBudgetException, and a well-behaved connection is still served.
     */
    @Test
    void slowSendersOfHugeFramesShareOneBudgetAndThoseBeyondItAreClosed() {
        int maxFrame = 64 << 20;
        long limit = 96L << 20;
        FrameMemoryBudget budget = FrameMemoryBudget.of(limit, maxFrame);
        long directBefore = UnpooledByteBufAllocator.DEFAULT.metric().usedDirectMemory();
        int connections = 24;
        int announced = 60 << 20;
        int sent = (int) (2.2 * (1 << 20));
        int piece = 64 << 10;
        java.util.List<EmbeddedChannel> open = new java.util.ArrayList<>();
        int closed = 0;
        long peakDirect = 0;
        for (int c = 0; c < connections; c++) {
            EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(maxFrame, budget));
            ByteBuf header = Unpooled.buffer(Frame.HEADER_LENGTH).writeIntLE(announced - 4).writeShortLE(Frame.MAGIC)
                    .writeByte(Frame.VERSION).writeByte(Opcode.PUSH.code).writeLongLE(c);
            boolean alive = feed(ch, header);
            for (int at = Frame.HEADER_LENGTH; alive && at < sent; at += piece) {
                alive = feed(ch, Unpooled.directBuffer(piece).writeZero(Math.min(piece, sent - at)));
                peakDirect = Math.max(peakDirect, UnpooledByteBufAllocator.DEFAULT.metric().usedDirectMemory() - directBefore);
                assertTrue(budget.usedBytes() <= limit, "budget holds " + budget);
            }
            if (alive) {
                open.add(ch);
            } else {
                closed++;
            }
        }
        assertTrue(peakDirect <= limit, "decoders held " + peakDirect + " bytes of direct memory, budget " + limit);
        assertTrue(closed > 0, "some connections did not fit and were closed");
        assertTrue(open.size() >= 4, "the budget still received " + open.size() + " of the slow frames");
        assertEquals(closed, budget.refusals());
        // Someone else, meanwhile, is served: small frames take nothing from the budget.
        EmbeddedChannel worker = new EmbeddedChannel(new FrameDecoder(maxFrame, budget));
        assertTrue(worker.writeInbound(Unpooled.wrappedBuffer(CLOCK_FRAME)));
        assertClock42(worker.readInbound());
        assertFalse(worker.finish());
        for (EmbeddedChannel ch : open) {
            ch.finishAndReleaseAll();
        }
        assertEquals(0, budget.usedBytes(), "closed connections give their memory back");
        assertEquals(directBefore, UnpooledByteBufAllocator.DEFAULT.metric().usedDirectMemory());
    }

    /** Writes {@code bytes} to {@code ch}; false, with the channel closed, when the decoder refused them for memory. */
    private static boolean feed(EmbeddedChannel ch, ByteBuf bytes) {
        try {
            ch.writeInbound(bytes);
            return true;
        } catch (FrameMemoryBudgetException e) {
            assertTrue(e.getMessage().contains("budget"), e.getMessage());
            ch.close();
            ch.finishAndReleaseAll();
            return false;
        }
    }

    @Test
    void underPressureABufferGrowsOnlyToTwiceWhatArrived() {
        int maxFrame = 8 << 20;
        FrameMemoryBudget budget = FrameMemoryBudget.of(12L << 20, maxFrame);
        // Another connection already holds 7 of the 12 MiB: more than half.
        assertTrue(budget.tryReserve(7L << 20));
        FrameDecoder.FrameSizedCumulator cumulator =
                new FrameDecoder.FrameSizedCumulator(maxFrame, FrameDecoder.FrameSizedCumulator.SPARE_BUDGET_BYTES, budget);
        ByteBuf cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, Unpooled.EMPTY_BUFFER,
                Unpooled.buffer(8, 8).writeIntLE((8 << 20) - 4).writeIntLE(0));
        while (cumulation.capacity() < (1 << 20) || cumulation.writableBytes() >= 65536) {
            cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, cumulation, Unpooled.buffer(65536).writeZero(65536));
        }
        cumulation = cumulator.cumulate(UnpooledByteBufAllocator.DEFAULT, cumulation, Unpooled.buffer(65536).writeZero(65536));
        int arrived = cumulation.readableBytes();
        assertEquals(2 * arrived, cumulation.capacity(), "grown to twice the " + arrived + " bytes that arrived, not 16-fold");
        cumulation.release();
        cumulator.releaseSpares();
        assertEquals(7L << 20, budget.usedBytes());
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
