package io.gpups.bench;

import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.FrameDecoder;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * The wire path of one PUSH frame, the frame a worker sends per chunk: building it ({@link Frames#encodeWithBody},
 * the gradient attached without a copy) and cutting it out of the byte stream ({@link FrameDecoder} in an
 * {@link EmbeddedChannel}) then reading its header ({@link Messages.PushHeader#read}). The decode is measured
 * with the frame arriving whole and in 64 KiB reads, as an epoll event loop delivers a large frame: then the
 * decoder's cumulation buffer copies it together, which is what the shard's event loop pays per pushed byte.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class FrameCodecBenchmark {

    /** Gradient bytes in the frame: a 4 KiB chunk and a full 4 MiB chunk. */
    @Param({"4096", "4194304"})
    public int payloadBytes;

    /** Bytes per read handed to the decoder: 0 = the whole frame at once, else pieces of this size. */
    @Param({"0", "65536"})
    public int readBytes;

    private final ByteBufAllocator alloc = PooledByteBufAllocator.DEFAULT;
    private ByteBuf gradient;
    private ByteBuf wire;
    private EmbeddedChannel channel;
    private long requestId;

    @Setup(Level.Trial)
    public void setUp() {
        gradient = Unpooled.directBuffer(payloadBytes).writeZero(payloadBytes);
        ByteBuf frame = encode();
        wire = Unpooled.directBuffer(frame.readableBytes()).writeBytes(frame);
        frame.release();
        channel = new EmbeddedChannel(new FrameDecoder(Frame.DEFAULT_MAX_FRAME_BYTES));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        channel.finishAndReleaseAll();
        gradient.release();
        wire.release();
    }

    /** Builds a PUSH frame: 16-byte header and 24-byte push header in one buffer, the gradient attached. */
    @Benchmark
    public int encodePush() {
        ByteBuf frame = encode();
        int n = frame.readableBytes();
        frame.release();
        return n;
    }

    /** Decodes one PUSH frame from the wire bytes and reads its push header. */
    @Benchmark
    public int decodePush() {
        if (readBytes == 0) {
            channel.writeInbound(wire.retainedDuplicate());
        } else {
            for (int at = 0; at < wire.readableBytes(); at += readBytes) {
                channel.writeInbound(wire.retainedSlice(at, Math.min(readBytes, wire.readableBytes() - at)));
            }
        }
        Frame frame = channel.readInbound();
        try {
            return Messages.PushHeader.read(frame.payload(), "PUSH").count();
        } finally {
            frame.release();
        }
    }

    private ByteBuf encode() {
        Messages.PushHeader head = new Messages.PushHeader(0, 0, requestId, payloadBytes / 4);
        return Frames.encodeWithBody(alloc, Opcode.PUSH, requestId++, head, gradient.retainedDuplicate());
    }
}
