package io.gpups.server;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.gpups.core.codec.Codec;
import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Message;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.internal.PlatformDependent;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tens of thousands of random and mutated frames against a running shard: it stays up, answers a
 * well-formed client throughout, its direct memory stays bounded, and Netty's leak detector (paranoid)
 * reports nothing.
 */
class FuzzTest {

    private static final int FRAMES = 30_000;
    private static final TensorSpec W = new TensorSpec("w", new long[] {64},
            new Initializer(Initializer.Kind.CONSTANT, 1f, 0), new OptimizerSpec.Sgd(0.5f, 0f));

    @Test
    void theShardSurvivesGarbageAndKeepsServing() throws Exception {
        ResourceLeakDetector.Level previous = ResourceLeakDetector.getLevel();
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        Logger leakLog = (Logger) LoggerFactory.getLogger(ResourceLeakDetector.class);
        ListAppender<ILoggingEvent> leaks = new ListAppender<>();
        leaks.start();
        leakLog.addAppender(leaks);
        try (Device device = Devices.installed().open("cpu", line -> { })) {
            ShardServer server = ShardServer.start(new ShardConfig("127.0.0.1", 0, 0, 1, 2, Consistency.parse("asp"), 1 << 16),
                    device);
            try (RawClient good = new RawClient(server.port())) {
                assertEquals(Opcode.OK.code, good.call(Opcode.HELLO, new Messages.Hello(0, 0)).opcode());
                RawClient.Answer reg = good.call(Opcode.REGISTER, new Messages.Register(W, 64, new int[] {0}));
                int id = Messages.RegisterReply.read(reg.payload()).tensorId();
                assertArrayEquals(new float[64], good.pull(id, 0, 0), 1f);
                long directBefore = PlatformDependent.usedDirectMemory();

                Random random = new Random(20261125);
                List<byte[]> valid = validFrames(id);
                Counts counts = new Counts();
                Fuzzer fuzzer = null;
                for (int i = 0; i < FRAMES; i++) {
                    if (fuzzer == null || fuzzer.closed()) {
                        if (fuzzer != null) {
                            fuzzer.close();
                            counts.connectionsClosedByShard++;
                        }
                        fuzzer = new Fuzzer(server.port(), counts, random.nextBoolean());
                    }
                    fuzzer.exchange(notAShutdown(mutate(random, valid)));
                    counts.frames++;
                    if (i % 1000 == 0) {
                        // The well-formed client is served throughout. (Its values may change: a fuzz frame that
                        // happens to be a well-formed push is a legitimate update.)
                        assertEquals(64, good.pull(id, 0, 0).length, "pull after " + i + " fuzz frames");
                    }
                }
                fuzzer.close();
                assertEquals(64, good.pull(id, 0, 0).length);
                RawClient.Answer ok = good.read(good.push(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, 64), new float[64]));
                assertEquals(Opcode.OK.code, ok.opcode());

                System.gc();
                long growth = PlatformDependent.usedDirectMemory() - directBefore;
                assertTrue(growth < 32L << 20, "direct memory grew by " + growth + " bytes");
                assertTrue(counts.errorAnswers.get() > FRAMES / 10, "error answers: " + counts.errorAnswers.get());
                assertTrue(counts.connectionsClosedByShard > 100, "connections closed by the shard: " + counts.connectionsClosedByShard);
                System.out.printf("fuzz: %d frames, %d ERROR answers, %d other answers, %d connections closed "
                                + "(%d of them by the test after a swallowed sentinel), direct memory growth %d bytes%n",
                        counts.frames, counts.errorAnswers.get(), counts.otherAnswers.get(), counts.connectionsClosedByShard,
                        counts.abandoned, growth);
            } finally {
                server.close();
            }
        } finally {
            ResourceLeakDetector.setLevel(previous);
            leakLog.detachAppender(leaks);
        }
        assertEquals(List.of(), leaks.list.stream().map(ILoggingEvent::getFormattedMessage).toList(), "leak reports");
    }

    /** Well-formed requests of every kind, as bytes, from which mutations start. */
    private static List<byte[]> validFrames(int id) {
        List<byte[]> frames = new ArrayList<>();
        // Rank 1: rank 0 is the well-formed client's, held by its connection.
        frames.add(bytes(Opcode.HELLO, new Messages.Hello(1, 0)));
        frames.add(bytes(Opcode.REGISTER, new Messages.Register(W, 64, new int[] {0})));
        frames.add(bytes(Opcode.PULL, new Messages.Pull(id, 0, 0)));
        frames.add(bytes(Opcode.CLOCK, new Messages.Clock(3)));
        frames.add(bytes(Opcode.STATS, null));
        ByteBuf push = Frames.encodeWithBody(ByteBufAllocator.DEFAULT, Opcode.PUSH, 9,
                new Messages.PushHeader(id, 0, 0, 64), Unpooled.buffer().writeZero(256));
        frames.add(drain(push));
        ByteBuf topk = Frames.encodeWithBody(ByteBufAllocator.DEFAULT, Opcode.PUSH, 10,
                new Messages.PushHeader(id, 0, 0, Codec.Kind.TOPK, 0, 64),
                Unpooled.buffer().writeIntLE(2).writeIntLE(0).writeIntLE(3).writeIntLE(9).writeFloatLE(0f).writeFloatLE(0f));
        frames.add(drain(topk));
        return frames;
    }

    /**
     * One fuzz frame: a valid frame with random bytes flipped, a truncated or overlong one, a valid header with
     * a garbage body, a wrong opcode, a huge length, or plain random bytes.
     */
    private static byte[] mutate(Random r, List<byte[]> valid) {
        byte[] base = valid.get(r.nextInt(valid.size())).clone();
        switch (r.nextInt(7)) {
            case 0 -> { // flip bytes anywhere past the length field
                for (int k = 0; k < 1 + r.nextInt(4); k++) {
                    base[4 + r.nextInt(base.length - 4)] ^= (byte) (1 + r.nextInt(255));
                }
                return base;
            }
            case 1 -> { // valid header, garbage body of a random length
                byte[] body = new byte[r.nextInt(200)];
                r.nextBytes(body);
                byte[] f = new byte[Frame.HEADER_LENGTH + body.length];
                System.arraycopy(base, 0, f, 0, Frame.HEADER_LENGTH);
                System.arraycopy(body, 0, f, Frame.HEADER_LENGTH, body.length);
                Unpooled.wrappedBuffer(f).setIntLE(0, Frame.LENGTH_ADJUSTMENT + body.length);
                return f;
            }
            case 2 -> { // wrong opcode
                base[Frame.OPCODE_OFFSET] = (byte) r.nextInt(256);
                return base;
            }
            case 3 -> { // payload one byte short or long, length field adjusted
                int delta = r.nextBoolean() ? -1 : 1;
                byte[] f = java.util.Arrays.copyOf(base, Math.max(Frame.HEADER_LENGTH, base.length + delta));
                Unpooled.wrappedBuffer(f).setIntLE(0, f.length - 4);
                return f;
            }
            case 4 -> { // a length over the maximum: the shard closes the connection
                Unpooled.wrappedBuffer(base).setIntLE(0, (1 << 20) + r.nextInt(1 << 20));
                return base;
            }
            case 5 -> { // random bytes
                byte[] f = new byte[1 + r.nextInt(64)];
                r.nextBytes(f);
                return f;
            }
            default -> { // the valid frame itself, now and then
                return base;
            }
        }
    }

    /**
     * A mutation may turn a frame into a well-formed SHUTDOWN (or CHECKPOINT), which a shard rightly obeys;
     * that is a command, not malformed input, so such frames get an opcode that names nothing instead.
     */
    private static byte[] notAShutdown(byte[] frame) {
        if (frame.length > Frame.OPCODE_OFFSET && (frame[Frame.OPCODE_OFFSET] == Opcode.SHUTDOWN.code
                || frame[Frame.OPCODE_OFFSET] == Opcode.CHECKPOINT.code)) {
            frame[Frame.OPCODE_OFFSET] = 0x3f;
        }
        return frame;
    }

    private static byte[] bytes(Opcode op, Message m) {
        return drain(m == null ? Frames.empty(ByteBufAllocator.DEFAULT, op, 1) : Frames.encode(ByteBufAllocator.DEFAULT, op, 1, m));
    }

    private static byte[] drain(ByteBuf b) {
        byte[] out = new byte[b.readableBytes()];
        b.readBytes(out);
        b.release();
        return out;
    }

    private static final class Counts {
        long frames;
        long connectionsClosedByShard;
        long abandoned;
        final AtomicLong errorAnswers = new AtomicLong();
        final AtomicLong otherAnswers = new AtomicLong();
    }

    /**
     * A fuzzing connection; a thread reads and counts every answer so the shard's writes never back up. Each
     * fuzz frame is followed by a well-formed STATS sentinel, and the next frame waits for its answer, so no
     * frame is written into a connection the shard has already closed.
     */
    private static final class Fuzzer implements AutoCloseable {
        private static final long SENTINEL = 0x5E47_1E11L;
        private static final byte[] STATS = sentinel();

        private final Socket socket;
        private final OutputStream out;
        private final Thread reader;
        private final Counts counts;
        private final java.util.concurrent.Semaphore answered = new java.util.concurrent.Semaphore(0);
        private volatile boolean closed;

        private static byte[] sentinel() {
            return drain(Frames.empty(ByteBufAllocator.DEFAULT, Opcode.STATS, SENTINEL));
        }

        Fuzzer(int port, Counts counts, boolean sayHello) throws IOException {
            this.counts = counts;
            socket = new Socket("127.0.0.1", port);
            socket.setTcpNoDelay(true);
            out = socket.getOutputStream();
            DataInputStream in = new DataInputStream(socket.getInputStream());
            reader = new Thread(() -> {
                try {
                    while (true) {
                        int length = Integer.reverseBytes(in.readInt());
                        byte[] rest = new byte[length];
                        in.readFully(rest);
                        if (Unpooled.wrappedBuffer(rest).getLongLE(4) == SENTINEL) {
                            answered.release();
                        } else if ((rest[3] & 0xff) == Opcode.ERROR.code) {
                            counts.errorAnswers.incrementAndGet();
                        } else {
                            counts.otherAnswers.incrementAndGet();
                        }
                    }
                } catch (IOException e) {
                    closed = true;
                    answered.release(1000);
                }
            }, "fuzz-reader");
            reader.setDaemon(true);
            reader.start();
            if (sayHello) {
                send(bytes(Opcode.HELLO, new Messages.Hello(1, 0)));
            }
        }

        /** Sends a fuzz frame and a sentinel; returns when the sentinel is answered or the connection is gone. */
        void exchange(byte[] frame) throws IOException, InterruptedException {
            send(frame);
            send(STATS);
            if (!answered.tryAcquire(200, java.util.concurrent.TimeUnit.MILLISECONDS) && !closed) {
                // The frame's length swallowed the sentinel; the shard waits for bytes that never come.
                counts.abandoned++;
                socket.close();
                closed = true;
            }
        }

        void send(byte[] frame) {
            try {
                out.write(frame);
            } catch (IOException e) {
                closed = true;
            }
        }

        boolean closed() {
            return closed;
        }

        @Override
        public void close() throws IOException {
            socket.close();
            try {
                reader.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
