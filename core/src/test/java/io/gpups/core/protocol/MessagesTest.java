package io.gpups.core.protocol;

import io.gpups.core.config.Consistency;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MessagesTest {

    private static final TensorSpec W = new TensorSpec("layer0/weight", new long[] {784, 256},
            Initializer.glorotUniform(784, 256, 1), new OptimizerSpec.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, 0f));

    @Test
    void registerRoundTrips() {
        Messages.Register reg = new Messages.Register(W, 1 << 20, new int[] {0});
        ByteBuf buf = write(reg);
        assertEquals(reg, Messages.Register.read(buf));
        buf.release();
    }

    @Test
    void registerWithNanLearningRateNamesTheValue() {
        ByteBuf buf = write(new Messages.Register(W, 1 << 20, new int[] {0}));
        // lr sits after: name (2 + 13), rank (1), dims (16), init (1 + 4 + 8), optimizer kind and count (2)
        buf.setFloatLE(2 + 13 + 1 + 16 + 13 + 2, Float.NaN);
        ProtocolException e = assertThrows(ProtocolException.class, () -> Messages.Register.read(buf));
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("adam lr must be a finite number > 0, got NaN"), e.getMessage());
        buf.release();
    }

    @Test
    void registerTruncatedAtEveryByteIsABadFrame() {
        ByteBuf full = write(new Messages.Register(W, 1 << 20, new int[] {0, 3}));
        for (int n = 0; n < full.readableBytes(); n++) {
            ByteBuf cut = full.slice(0, n);
            ProtocolException e = assertThrows(ProtocolException.class, () -> Messages.Register.read(cut), "cut at " + n);
            assertTrue(e.code() == ErrorCode.BAD_FRAME || e.code() == ErrorCode.BAD_ARGUMENT, "cut at " + n + ": " + e);
        }
        full.release();
    }

    @Test
    void pushWithWrongValueBytesIsASizeMismatch() {
        ByteBuf buf = write(new Messages.PushHeader(1, 2, 3, 4));
        buf.writeZero(12);
        ProtocolException e = assertThrows(ProtocolException.class, () -> Messages.PushHeader.read(buf, "PUSH"));
        assertEquals(ErrorCode.SIZE_MISMATCH, e.code());
        assertEquals("PUSH none payload for 4 elements must be 16 bytes, got 12", e.getMessage());
        buf.release();
    }

    @Test
    void pushWithUnknownCodecIsRefused() {
        ByteBuf buf = write(new Messages.PushHeader(1, 2, 3, 0));
        buf.setByte(16, 9);
        ProtocolException e = assertThrows(ProtocolException.class, () -> Messages.PushHeader.read(buf, "PUSH"));
        assertEquals(ErrorCode.UNSUPPORTED_CODEC, e.code());
        buf.release();
    }

    @Property(tries = 200)
    void pushHeaderRoundTrips(@ForAll @IntRange(min = 0) int tensor, @ForAll @IntRange(min = 0) int chunk,
                              @ForAll @LongRange(min = 0) long step, @ForAll @IntRange(min = 0, max = 64) int count) {
        ByteBuf buf = write(new Messages.PushHeader(tensor, chunk, step, count));
        assertEquals(Messages.PushHeader.LENGTH, buf.readableBytes());
        buf.writeZero(4 * count);
        assertEquals(new Messages.PushHeader(tensor, chunk, step, count), Messages.PushHeader.read(buf, "PUSH"));
        assertEquals(4 * count, buf.readableBytes());
        buf.release();
    }

    @Property(tries = 100)
    void helloReplyRoundTrips(@ForAll @IntRange(min = 0, max = 100) int shard, @ForAll @IntRange(min = 1, max = 4096) int workers,
                              @ForAll @IntRange(min = 0, max = 1000) int staleness) {
        Messages.HelloReply reply = new Messages.HelloReply(shard, shard + 1, workers, new Consistency(Consistency.Mode.SSP, staleness));
        ByteBuf buf = write(reply);
        assertEquals(reply, Messages.HelloReply.read(buf));
        buf.release();
    }

    @Test
    void errorReplyRoundTrips() {
        Messages.ErrorReply err = new Messages.ErrorReply(ErrorCode.UNKNOWN_TENSOR, "PULL: no tensor with id 9");
        ByteBuf buf = write(err);
        assertEquals(err, Messages.ErrorReply.read(buf));
        buf.release();
    }

    private static ByteBuf write(Message m) {
        ByteBuf buf = Unpooled.buffer();
        m.writeTo(buf);
        assertEquals(m.encodedLength(), buf.readableBytes());
        return buf;
    }
}
