package io.gpups.server;

import io.gpups.core.codec.Codec;
import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static io.gpups.server.RawClient.assertError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One shard over real sockets: answers, closed-form updates, and bad input that leaves others served. */
class ShardServerTest {

    private static final float LR = 0.5f;
    /** 6 elements in chunks of 4: chunk 0 holds 4, chunk 1 holds 2. */
    private static final TensorSpec W = new TensorSpec("w", new long[] {2, 3},
            new Initializer(Initializer.Kind.CONSTANT, 1f, 0), new OptimizerSpec.Sgd(LR, 0f));

    private Device device;
    private ShardServer server;

    @BeforeEach
    void start() throws Exception {
        device = Devices.installed().open("cpu", line -> { });
        server = ShardServer.start(new ShardConfig("127.0.0.1", 0, 0, 1, 2, Consistency.parse("asp"), 4096), device);
    }

    @AfterEach
    void stop() {
        server.close();
        device.close();
    }

    private RawClient hello(int rank) throws Exception {
        RawClient c = new RawClient(server.port());
        RawClient.Answer a = c.call(Opcode.HELLO, new Messages.Hello(rank, 0));
        assertEquals(Opcode.OK.code, a.opcode());
        Messages.HelloReply reply = Messages.HelloReply.read(a.payload());
        assertEquals(new Messages.HelloReply(0, 1, 2, Consistency.parse("asp")), reply);
        return c;
    }

    private static int register(RawClient c, TensorSpec spec, int... chunks) throws Exception {
        RawClient.Answer a = c.call(Opcode.REGISTER, new Messages.Register(spec, 4, chunks));
        assertEquals(Opcode.OK.code, a.opcode(), () -> a.error().message());
        return Messages.RegisterReply.read(a.payload()).tensorId();
    }

    @Test
    void sgdPushesMatchTheClosedForm() throws Exception {
        try (RawClient c = hello(0)) {
            int id = register(c, W, 0, 1);
            assertEquals(id, register(c, W, 0, 1), "registration is idempotent");
            float[][] grads = {{1, 2, 3, 4}, {-1, 0.5f, 0, 8}, {0.25f, 0.25f, 0.25f, 0.25f}};
            for (float[] g : grads) {
                RawClient.Answer ok = c.read(c.push(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, 4), g));
                assertEquals(Opcode.OK.code, ok.opcode());
            }
            // p = 1 - lr * sum(g)
            assertArrayEquals(new float[] {1 - LR * 0.25f, 1 - LR * 2.75f, 1 - LR * 3.25f, 1 - LR * 12.25f}, c.pull(id, 0, 0), 1e-6f);
            assertArrayEquals(new float[] {1, 1}, c.pull(id, 1, 0), "chunk 1 untouched");
        }
    }

    @Test
    void pushPullAnswersWithTheUpdatedParameters() throws Exception {
        try (RawClient c = hello(0)) {
            int id = register(c, W, 0, 1);
            RawClient.Answer a = c.read(c.push(Opcode.PUSH_PULL, new Messages.PushHeader(id, 1, 0, 2), new float[] {2, -2}));
            assertEquals(Opcode.DATA.code, a.opcode());
            Messages.PullReplyHeader h = Messages.PullReplyHeader.read(a.payload());
            assertEquals(1, h.version());
            assertEquals(1 - LR * 2, a.payload().readFloatLE());
            assertEquals(1 + LR * 2, a.payload().readFloatLE());
        }
    }

    @Test
    void conflictingRegistrationNamesBothDefinitions() throws Exception {
        try (RawClient c = hello(0)) {
            register(c, W, 0, 1);
            TensorSpec other = new TensorSpec("w", new long[] {3, 2}, W.initializer(), W.optimizer());
            RawClient.Answer a = c.call(Opcode.REGISTER, new Messages.Register(other, 4, new int[] {0, 1}));
            assertError(a, ErrorCode.CONFLICT, "w[2, 3]");
            assertError(a, ErrorCode.CONFLICT, "w[3, 2]");
        }
    }

    @Test
    void eachMalformedRequestGetsItsErrorWhileAnotherClientIsServed() throws Exception {
        try (RawClient good = hello(0); RawClient bad = new RawClient(server.port())) {
            int id = register(good, W, 0, 1);

            // Anything before HELLO.
            assertError(bad.call(Opcode.PULL, new Messages.Pull(id, 0, 0)), ErrorCode.NOT_HELLO, "PULL before HELLO");
            assertEquals(Opcode.OK.code, bad.call(Opcode.HELLO, new Messages.Hello(1, 0)).opcode());
            assertError(bad.call(Opcode.HELLO, new Messages.Hello(5, 0)), ErrorCode.BAD_ARGUMENT, "HELLO rank 5 out of range");

            // Unknown opcode: a well-formed frame whose opcode byte names nothing.
            ByteBuf f = Unpooled.buffer().writeIntLE(Frame.LENGTH_ADJUSTMENT).writeShortLE(Frame.MAGIC)
                    .writeByte(Frame.VERSION).writeByte(0x42).writeLongLE(77);
            bad.send(f);
            RawClient.Answer unknown = bad.read();
            assertEquals(77, unknown.requestId());
            assertError(unknown, ErrorCode.UNKNOWN_OPCODE, "opcode 0x42");

            // Unknown tensor, wrong chunk, wrong chunk size, truncated payload.
            assertError(bad.call(Opcode.PULL, new Messages.Pull(9, 0, 0)), ErrorCode.UNKNOWN_TENSOR, "no tensor with id 9");
            assertError(bad.call(Opcode.PULL, new Messages.Pull(id, 2, 0)), ErrorCode.BAD_CHUNK, "chunk 2 is not held");
            assertError(bad.read(bad.push(Opcode.PUSH, new Messages.PushHeader(id, 1, 0, 4), new float[4])),
                    ErrorCode.SIZE_MISMATCH, "4 values, the chunk holds 2");
            assertError(bad.read(bad.push(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, 4), new float[3])),
                    ErrorCode.SIZE_MISMATCH, "none payload for 4 elements must be 16 bytes, got 12");
            assertError(bad.call(Opcode.CLOCK, new Messages.Pull(0, 0, 0)), ErrorCode.BAD_FRAME, "CLOCK payload is 24 bytes, expected 8");

            // NaN hyper-parameter and a bad chunk list in REGISTER.
            TensorSpec nan = new TensorSpec("nan", new long[] {4}, Initializer.zeros(), new OptimizerSpec.Sgd(1f, 0f));
            ByteBuf reg = Unpooled.buffer();
            new Messages.Register(nan, 4, new int[] {0}).writeTo(reg);
            reg.setFloatLE(2 + 3 + 1 + 8 + 13 + 2, Float.NaN);
            bad.send(io.gpups.core.protocol.Frames.encodeWithBody(reg.alloc(), Opcode.REGISTER, 500,
                    new Messages.Text(""), reg));
            assertError(bad.read(), ErrorCode.BAD_ARGUMENT, "sgd lr must be a finite number > 0, got NaN");
            assertError(bad.call(Opcode.REGISTER, new Messages.Register(nan, 4, new int[] {1})), ErrorCode.BAD_CHUNK, "chunk 1 out of range");

            // The well-formed client is unaffected.
            assertArrayEquals(new float[] {1, 1}, good.pull(id, 1, 0));

            // A frame with a broken magic closes only the bad connection.
            bad.sendBytes(new byte[] {20, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20});
            assertTrue(bad.closedByPeer());
            assertArrayEquals(new float[] {1, 1}, good.pull(id, 1, 0));
        }
    }

    @Test
    void lengthOverTheMaximumClosesTheConnectionAndOthersKeepWorking() throws Exception {
        try (RawClient good = hello(0); RawClient bad = hello(1)) {
            int id = register(good, W, 0, 1);
            bad.send(Unpooled.buffer().writeIntLE(1 << 20).writeShortLE(Frame.MAGIC).writeByte(1).writeByte(3));
            assertTrue(bad.closedByPeer());
            assertArrayEquals(new float[] {1, 1, 1, 1}, good.pull(id, 0, 0));
        }
    }

    @Test
    void compressedPushesAreDecodedOnTheShard() throws Exception {
        try (RawClient c = hello(0)) {
            int id = register(c, W, 0, 1);
            // fp16: 1, 2, -0.5, 4 are exact halves.
            ByteBuf halves = Unpooled.buffer().writeShortLE(0x3c00).writeShortLE(0x4000).writeShortLE(0xb800).writeShortLE(0x4400);
            assertEquals(Opcode.OK.code, c.read(c.pushRaw(Opcode.PUSH,
                    new Messages.PushHeader(id, 0, 0, Codec.Kind.FP16, 0, 4), halves)).opcode());
            assertArrayEquals(new float[] {1 - LR, 1 - 2 * LR, 1 + 0.5f * LR, 1 - 4 * LR}, c.pull(id, 0, 0));
            // top-k: k = 1, index 1, value 2 on chunk 1 (2 elements), answered with bf16 parameters.
            ByteBuf topk = Unpooled.buffer().writeIntLE(1).writeIntLE(0).writeIntLE(1).writeFloatLE(2f);
            RawClient.Answer a = c.read(c.pushRaw(Opcode.PUSH_PULL,
                    new Messages.PushHeader(id, 1, 0, Codec.Kind.TOPK, Messages.DTYPE_BF16, 2), topk));
            assertEquals(Opcode.DATA.code, a.opcode());
            Messages.PullReplyHeader h = Messages.PullReplyHeader.read(a.payload());
            assertEquals(Messages.DTYPE_BF16, h.dtype());
            assertEquals(Float.floatToIntBits(1f), a.payload().readUnsignedShortLE() << 16);
            assertEquals(Float.floatToIntBits(1 - 2 * LR), a.payload().readUnsignedShortLE() << 16);
        }
    }

    @Test
    void malformedCompressedPayloadsAreErrorsAndTheShardKeepsServing() throws Exception {
        try (RawClient good = hello(0); RawClient bad = hello(1)) {
            int id = register(good, W, 0, 1);
            assertError(bad.read(bad.pushRaw(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, Codec.Kind.TOPK, 0, 4),
                    Unpooled.buffer().writeIntLE(5).writeIntLE(0))), ErrorCode.SIZE_MISMATCH, "topk k 5 out of range 0..4");
            assertError(bad.read(bad.pushRaw(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, Codec.Kind.TOPK, 0, 4),
                    Unpooled.buffer().writeIntLE(1).writeIntLE(0).writeIntLE(4).writeFloatLE(1f))),
                    ErrorCode.BAD_ARGUMENT, "topk index 4 at position 0 is out of range, the chunk holds 4 elements");
            assertError(bad.read(bad.pushRaw(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, Codec.Kind.TOPK, 0, 4),
                    Unpooled.buffer().writeIntLE(2).writeIntLE(0).writeIntLE(2).writeIntLE(2).writeFloatLE(1f).writeFloatLE(1f))),
                    ErrorCode.BAD_ARGUMENT, "strictly ascending");
            assertError(bad.read(bad.pushRaw(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, Codec.Kind.TOPK, 0, 4),
                    Unpooled.buffer().writeIntLE(2).writeIntLE(0).writeIntLE(0))),
                    ErrorCode.SIZE_MISMATCH, "topk payload for 4 elements must be 24 bytes, got 12");
            assertError(bad.read(bad.pushRaw(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, Codec.Kind.INT8, 0, 4),
                    Unpooled.buffer().writeFloatLE(1f).writeZero(3))), ErrorCode.SIZE_MISMATCH, "int8 payload for 4 elements must be 8 bytes, got 7");
            assertError(bad.read(bad.pushRaw(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, Codec.Kind.SIGN, 0, 4),
                    Unpooled.buffer().writeFloatLE(1f))), ErrorCode.SIZE_MISMATCH, "sign payload for 4 elements must be 8 bytes, got 4");
            assertError(bad.read(bad.pushRaw(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, Codec.Kind.RANDOMK, 0, 4),
                    Unpooled.buffer().writeIntLE(0).writeIntLE(0))), ErrorCode.SIZE_MISMATCH, "randomk k 0 out of range 1..4");
            assertError(bad.read(bad.pushRaw(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, Codec.Kind.FP16, 0, 4),
                    Unpooled.buffer().writeZero(6))), ErrorCode.SIZE_MISMATCH, "fp16 payload for 4 elements must be 8 bytes, got 6");
            ByteBuf unknown = Unpooled.buffer();
            new Messages.PushHeader(id, 0, 0, 0).writeTo(unknown);
            unknown.setByte(16, 42);
            bad.send(io.gpups.core.protocol.Frames.encodeWithBody(unknown.alloc(), Opcode.PUSH, 900, new Messages.Text(""), unknown));
            assertError(bad.read(900), ErrorCode.UNSUPPORTED_CODEC, "codec 42 not supported");
            // Nothing was applied, and both clients are still served.
            assertArrayEquals(new float[] {1, 1, 1, 1}, good.pull(id, 0, 0));
            assertArrayEquals(new float[] {1, 1, 1, 1}, bad.pull(id, 0, 0));
        }
    }

    @Test
    void statsReportsCounters() throws Exception {
        try (RawClient c = hello(0)) {
            int id = register(c, W, 0, 1);
            c.read(c.push(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, 4), new float[4]));
            RawClient.Answer a = c.call(Opcode.STATS, null);
            String json = Messages.Text.read(a.payload()).text();
            assertTrue(json.contains("\"pushes\":1"), json);
            assertTrue(json.contains("\"updates\":1"), json);
            assertTrue(json.contains("\"elements_updated\":4"), json);
        }
    }
}
