package io.gpups.server;

import io.gpups.core.codec.Codec;
import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.net.SharedRing;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static io.gpups.server.RawClient.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A real shard over loopback TCP, with frames through a worker's ring: applied as over TCP, refused where due. */
class SharedRingServerTest {

    private static final long CAPACITY = 1 << 20;
    private static final int N = 1000;

    @TempDir
    Path dir;
    private Device device;
    private ShardServer server;

    private ShardServer start(Path ringDirectory) throws Exception {
        device = Devices.installed().open("cpu", line -> { });
        server = ShardServer.start(new ShardConfig("127.0.0.1", 0, 0, 1, 1, Consistency.parse("asp"),
                Frame.DEFAULT_MAX_FRAME_BYTES), device, ShardSecurity.none().withRingDirectory(ringDirectory));
        return server;
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        if (device != null) {
            device.close();
        }
    }

    private static RawClient worker(ShardServer server) throws Exception {
        RawClient c = new RawClient(server.port());
        assertEquals(Opcode.OK.code, c.call(Opcode.HELLO, new Messages.Hello(0, 0)).opcode());
        return c;
    }

    private static int register(RawClient c) throws Exception {
        TensorSpec w = new TensorSpec("w", new long[] {N}, Initializer.zeros(), new OptimizerSpec.Sgd(0.5f, 0f));
        RawClient.Answer a = c.call(Opcode.REGISTER, new Messages.Register(w, N, new int[] {0}));
        assertEquals(Opcode.OK.code, a.opcode());
        return Messages.RegisterReply.read(a.payload()).tensorId();
    }

    private static Messages.RingAttach attachOf(SharedRing ring) {
        return new Messages.RingAttach(ring.capacity(), ring.token(), ring.name());
    }

    /** Writes {@code frame} into the ring and sends its RING_FRAME with {@code id}. */
    private static void throughRing(RawClient c, SharedRing.Writer writer, long id, ByteBuf frame) throws Exception {
        int length = frame.readableBytes();
        long position = writer.tryWrite(frame);
        frame.release();
        assertTrue(position >= 0);
        c.send(Frames.encode(ByteBufAllocator.DEFAULT, Opcode.RING_FRAME, id, new Messages.RingFrame(position, length)));
    }

    @Test
    void pushesThroughTheRingAreAppliedAndAnsweredAsOverTcp() throws Exception {
        start(dir);
        try (RawClient c = worker(server)) {
            int tensor = register(c);
            SharedRing ring = SharedRing.create(dir, CAPACITY);
            assertEquals(Opcode.OK.code, c.call(Opcode.RING_ATTACH, attachOf(ring)).opcode());
            SharedRing.Writer writer = new SharedRing.Writer(ring);

            ByteBuf raw = Unpooled.buffer(4 * N);
            ByteBuf half = Unpooled.buffer(2 * N);
            for (int i = 0; i < N; i++) {
                raw.writeFloatLE(i);
                half.writeShortLE(0x4000); // 2.0 in fp16
            }
            throughRing(c, writer, 100, Frames.encodeWithBody(ByteBufAllocator.DEFAULT, Opcode.PUSH, 100,
                    new Messages.PushHeader(tensor, 0, 0, N), raw));
            assertEquals(Opcode.OK.code, c.read(100).opcode());
            throughRing(c, writer, 101, Frames.encodeWithBody(ByteBufAllocator.DEFAULT, Opcode.PUSH, 101,
                    new Messages.PushHeader(tensor, 0, 1, Codec.Kind.FP16, Messages.DTYPE_FP32, N), half));
            assertEquals(Opcode.OK.code, c.read(101).opcode(), "an fp16 push, copied out of the ring");

            float[] w = c.pull(tensor, 0, 0);
            for (int i = 0; i < N; i++) {
                assertEquals(-0.5f * i - 0.5f * 2f, w[i], "element " + i);
            }
            // The pull went through the agent after both pushes, which gave their ring bytes back when done.
            assertEquals(writer.frames(), 2);
            assertEquals(SharedRing.place(16 + 24 + 4 * N, 16 + 24 + 2 * N, CAPACITY) + 16 + 24 + 2 * N, ring.released());
        }
    }

    @Test
    void aRingIsTakenOnlyFromAWorkerThatSaidHelloOnThisHost() throws Exception {
        start(dir);
        SharedRing ring = SharedRing.create(dir, CAPACITY);
        try (RawClient stranger = new RawClient(server.port())) {
            assertError(stranger.call(Opcode.RING_ATTACH, attachOf(ring)), ErrorCode.NOT_HELLO, "say HELLO first");
        }
        try (RawClient observer = new RawClient(server.port())) {
            assertEquals(Opcode.OK.code, observer.call(Opcode.HELLO, new Messages.Hello(-1, 0)).opcode());
            assertError(observer.call(Opcode.RING_ATTACH, attachOf(ring)), ErrorCode.FORBIDDEN, "RING_ATTACH needs a worker rank");
        }
        try (RawClient c = worker(server)) {
            assertError(c.call(Opcode.RING_ATTACH, new Messages.RingAttach(CAPACITY, ring.token(), "../../etc/passwd")),
                    ErrorCode.BAD_ARGUMENT, "ring file name '../../etc/passwd' is not one a worker makes");
            byte[] wrong = ring.token();
            wrong[3] ^= 0x40;
            assertError(c.call(Opcode.RING_ATTACH, new Messages.RingAttach(CAPACITY, wrong, ring.name())),
                    ErrorCode.BAD_ARGUMENT, "is not the ring this connection made");
            assertEquals(Opcode.OK.code, c.call(Opcode.RING_ATTACH, attachOf(ring)).opcode());
            assertError(c.call(Opcode.RING_ATTACH, attachOf(ring)), ErrorCode.CONFLICT, "a ring is attached to this connection already");
            // Refusals leave the connection serving.
            assertEquals(Opcode.OK.code, c.call(Opcode.HEARTBEAT, null).opcode());
        }
    }

    @Test
    void aShardWithoutARingDirectoryTakesNoRing() throws Exception {
        start(null);
        SharedRing ring = SharedRing.create(dir, CAPACITY);
        try (RawClient c = worker(server)) {
            assertError(c.call(Opcode.RING_ATTACH, attachOf(ring)), ErrorCode.FORBIDDEN, "this shard takes no shared-memory rings");
            assertEquals(Opcode.OK.code, c.call(Opcode.HEARTBEAT, null).opcode());
        }
    }

    @Test
    void aBrokenRingClosesItsConnectionAndTheShardServesTheRest() throws Exception {
        start(dir);
        try (RawClient bystander = worker(server); RawClient c = new RawClient(server.port())) {
            assertEquals(Opcode.OK.code, c.call(Opcode.HELLO, new Messages.Hello(-1, 0)).opcode());
            c.send(Frames.encode(ByteBufAllocator.DEFAULT, Opcode.RING_FRAME, 5, new Messages.RingFrame(0, 100)));
            assertError(c.read(5), ErrorCode.BAD_FRAME, "RING_FRAME before RING_ATTACH");
            assertTrue(c.closedByPeer());
            assertEquals(Opcode.OK.code, bystander.call(Opcode.HEARTBEAT, null).opcode());
        }
    }
}
