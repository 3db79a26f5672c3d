package io.gpups.server;

import io.gpups.core.net.SharedRing;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.FrameDecoder;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shard's side of a ring, one connection in an {@link EmbeddedChannel}: what it hands on, what it refuses. */
class SharedRingInboundTest {

    private static final long CAPACITY = 1 << 20;

    @TempDir
    Path dir;
    private SharedRing workerSide;
    private SharedRing.Writer writer;
    private SharedRingInbound inbound;
    private EmbeddedChannel channel;

    @BeforeEach
    void attach() throws Exception {
        workerSide = SharedRing.create(dir, CAPACITY);
        writer = new SharedRing.Writer(workerSide);
        inbound = new SharedRingInbound(4 << 20);
        channel = new EmbeddedChannel(new FrameDecoder(4 << 20), inbound);
        inbound.attach(SharedRing.open(dir, workerSide.name(), CAPACITY, workerSide.token()));
    }

    @AfterEach
    void close() {
        channel.finishAndReleaseAll();
    }

    /** A PUSH frame of {@code values} raw fp32 values, all {@code value}. */
    private static ByteBuf push(long id, int values, float value) {
        ByteBuf body = Unpooled.buffer(4 * values);
        for (int i = 0; i < values; i++) {
            body.writeFloatLE(value);
        }
        return Frames.encodeWithBody(ByteBufAllocator.DEFAULT, Opcode.PUSH, id, new Messages.PushHeader(0, 0, 0, values), body);
    }

    /** Writes {@code frame} into the ring and feeds the shard its RING_FRAME; returns where it went. */
    private long sendThroughRing(long id, ByteBuf frame) {
        int length = frame.readableBytes();
        long position = writer.tryWrite(frame);
        frame.release();
        assertTrue(position >= 0, "the ring has room");
        envelope(id, position, length);
        return position;
    }

    private void envelope(long id, long position, int length) {
        channel.writeInbound(Frames.encode(ByteBufAllocator.DEFAULT, Opcode.RING_FRAME, id, new Messages.RingFrame(position, length)));
    }

    /** The next frame the handler passed on. */
    private Frame next() {
        Object read = channel.readInbound();
        return assertInstanceOf(Frame.class, read);
    }

    @Test
    void aPushIsHandedOnInPlaceAndItsBytesComeBackWhenReleased() {
        sendThroughRing(7, push(7, 1000, 1.5f));
        Frame frame = next();
        assertEquals(Opcode.PUSH, frame.opcode());
        assertEquals(7, frame.requestId());
        assertTrue(frame.sharedPayload(), "a raw push is read in place");
        Messages.PushHeader h = Messages.PushHeader.read(frame.payload(), "PUSH");
        assertEquals(1000, h.count());
        assertEquals(1.5f, frame.payload().getFloatLE(frame.payload().readerIndex() + 4 * 999));
        assertEquals(0, workerSide.released(), "held while the frame is");
        frame.release();
        assertEquals(16 + 24 + 4000, workerSide.released());
        assertEquals(1, inbound.framesTaken());
    }

    @Test
    void everythingButAPushIsCopiedOutAtOnce() {
        ByteBuf stats = Frames.encode(ByteBufAllocator.DEFAULT, Opcode.CHECKPOINT, 3, new Messages.Checkpoint("x".repeat(100)));
        int length = stats.readableBytes();
        sendThroughRing(3, stats);
        Frame frame = next();
        assertEquals(Opcode.CHECKPOINT, frame.opcode());
        assertFalse(frame.sharedPayload());
        assertEquals(length, workerSide.released(), "the ring's bytes were given back before the frame was handed on");
        assertEquals("x".repeat(100), Messages.Checkpoint.read(frame.payload()).name());
        frame.release();
    }

    @Test
    void bytesComeBackInRingOrderWhateverOrderFramesAreReleasedIn() {
        sendThroughRing(1, push(1, 100, 1f));
        sendThroughRing(2, push(2, 100, 2f));
        Frame first = next();
        Frame second = next();
        second.release();
        assertEquals(0, workerSide.released(), "the first frame still holds the start of the ring");
        first.release();
        assertEquals(SharedRing.place(440, 440, CAPACITY) + 440, workerSide.released(), "both given back at once");
    }

    @Test
    void aFrameThatReachesIntoHeldFramesBreaksTheConnection() {
        sendThroughRing(1, push(1, 150_000, 1f)); // 600 KB, held below
        Frame held = next();
        int length = 16 + 24 + 4 * 150_000;
        envelope(2, CAPACITY, length); // where the writer would put a second one: over the first
        assertRefused(2, "reaches into frames the shard still holds");
        held.release();
    }

    @Test
    void aFrameOutOfPlaceBreaksTheConnection() {
        ByteBuf frame = push(1, 10, 1f);
        int length = frame.readableBytes();
        writer.tryWrite(frame);
        frame.release();
        envelope(1, 64, length);
        assertRefused(1, "RING_FRAME at ring position 64, expected 0");
    }

    @Test
    void aFrameWhoseIdIsNotItsEnvelopesBreaksTheConnection() {
        ByteBuf frame = push(5, 10, 1f);
        int length = frame.readableBytes();
        long position = writer.tryWrite(frame);
        frame.release();
        envelope(6, position, length);
        assertRefused(6, "has request id 5, its RING_FRAME 6");
    }

    @Test
    void bytesThatAreNoFrameBreakTheConnection() {
        ByteBuf junk = Unpooled.buffer(100).writeZero(100);
        long position = writer.tryWrite(junk);
        envelope(1, position, 100);
        assertRefused(1, "is not one: length field 0 (expected 96)");
    }

    @Test
    void aRingFrameOnAConnectionWithoutARingBreaksIt() {
        EmbeddedChannel bare = new EmbeddedChannel(new FrameDecoder(4 << 20), new SharedRingInbound(4 << 20));
        bare.writeInbound(Frames.encode(ByteBufAllocator.DEFAULT, Opcode.RING_FRAME, 9, new Messages.RingFrame(0, 100)));
        ByteBuf answer = bare.readOutbound();
        assertError(answer, 9, "RING_FRAME before RING_ATTACH");
        assertFalse(bare.isOpen());
        bare.finishAndReleaseAll();
    }

    @Test
    void framesOverTcpPassUntouched() {
        channel.writeInbound(Frames.encode(ByteBufAllocator.DEFAULT, Opcode.HELLO, 4, new Messages.Hello(0, 0)));
        Frame frame = next();
        assertEquals(Opcode.HELLO, frame.opcode());
        assertFalse(frame.sharedPayload());
        assertEquals(0, inbound.framesTaken());
        frame.release();
    }

    private void assertRefused(long id, String fragment) {
        assertNull(channel.readInbound(), "nothing handed on");
        assertError(channel.readOutbound(), id, fragment);
        assertFalse(channel.isOpen(), "the ring's stream is broken: the connection is closed");
    }

    private static void assertError(ByteBuf answer, long id, String fragment) {
        try {
            assertEquals(Opcode.ERROR.code, answer.getUnsignedByte(Frame.OPCODE_OFFSET));
            assertEquals(id, answer.getLongLE(Frame.REQUEST_ID_OFFSET));
            Messages.ErrorReply err = Messages.ErrorReply.read(answer.skipBytes(Frame.HEADER_LENGTH));
            assertEquals(ErrorCode.BAD_FRAME, err.code());
            assertTrue(err.message().contains(fragment), "'" + err.message() + "' lacks '" + fragment + "'");
        } finally {
            answer.release();
        }
    }
}
