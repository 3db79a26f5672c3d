package io.gpups.server;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.FrameDecoder;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Message;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.server.checkpoint.CheckpointSettings;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A shard below the socket: a {@link ShardHandler} in front of a {@link ShardAgent} whose thread is never started,
 * connections as {@link EmbeddedChannel}s, and one clock the test moves (the liveness, the agent's checks, the parked
 * pulls). Requests are written into a channel; {@link #run} runs what the handler queued for the agent on the test's
 * thread, exactly as the agent's thread would (batches included); answers are read back from the channels. The shard
 * owns its CPU device and its channels: {@link #close} releases them all.
 */
final class EmbeddedShard implements AutoCloseable {

    static final long MS = 1_000_000L;

    /** The shard's clock, in nanoseconds; it starts far from 0 so nothing depends on a zero origin. */
    final AtomicLong now = new AtomicLong(9_000_000_000L);
    final ShardConfig config;
    final WorkerLiveness liveness;
    final ShardAgent agent;
    final ShardHandler handler;
    private final Device device;
    private final List<EmbeddedChannel> channels = new ArrayList<>();
    private long nextId = 1;

    EmbeddedShard(String consistency, int workers, long workerTimeoutMillis) {
        this(consistency, workers, workerTimeoutMillis, Long.MAX_VALUE, UnaryOperator.identity());
    }

    /**
     * A shard that rejects non-finite gradients and holds at most {@code maxRegisteredBytes}; its agent sees the CPU
     * device through {@code view} (a fault injected into one call, say), and the device itself is closed with it.
     */
    EmbeddedShard(String consistency, int workers, long workerTimeoutMillis, long maxRegisteredBytes,
                  UnaryOperator<Device> view) {
        this(0, 1, consistency, workers, workerTimeoutMillis, maxRegisteredBytes, view, CheckpointSettings.none());
    }

    /** Shard {@code shard} of {@code shards}, under an asp job of one worker, with {@code checkpoints}. */
    EmbeddedShard(int shard, int shards, CheckpointSettings checkpoints) {
        this(shard, shards, "asp", 1, 60_000, Long.MAX_VALUE, UnaryOperator.identity(), checkpoints);
    }

    private EmbeddedShard(int shard, int shards, String consistency, int workers, long workerTimeoutMillis,
                          long maxRegisteredBytes, UnaryOperator<Device> view, CheckpointSettings checkpoints) {
        config = new ShardConfig("127.0.0.1", 0, shard, shards, workers, Consistency.parse(consistency), 1 << 20,
                workerTimeoutMillis).validate();
        liveness = new WorkerLiveness(workers, workerTimeoutMillis, now::get);
        device = Devices.installed().open("cpu", line -> { });
        try {
            agent = new ShardAgent(config, view.apply(device), maxRegisteredBytes, liveness, NonFinitePolicy.REJECT,
                    checkpoints, now::get);
        } catch (RuntimeException | Error e) {
            device.close();
            throw e;
        }
        handler = new ShardHandler(config, agent, liveness, ShardSecurity.none(), () -> { });
    }

    /** A new connection. */
    EmbeddedChannel connect() {
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(1 << 20), handler);
        channels.add(ch);
        return ch;
    }

    /** A new connection that said HELLO with {@code rank}. */
    EmbeddedChannel worker(int rank) {
        EmbeddedChannel ch = connect();
        call(ch, Opcode.HELLO, new Messages.Hello(rank, 0)).ok();
        return ch;
    }

    /** Writes a request into {@code ch} (not run yet); returns its request id. */
    long send(EmbeddedChannel ch, Opcode op, Message m) {
        long id = nextId++;
        ch.writeInbound(m == null ? Frames.empty(ByteBufAllocator.DEFAULT, op, id)
                : Frames.encode(ByteBufAllocator.DEFAULT, op, id, m));
        return id;
    }

    /** Writes a PUSH or PUSH_PULL of {@code values} as float32 (not run yet); returns its request id. */
    long push(EmbeddedChannel ch, Opcode op, Messages.PushHeader h, float... values) {
        ByteBuf body = Unpooled.buffer(4 * values.length);
        for (float v : values) {
            body.writeFloatLE(v);
        }
        long id = nextId++;
        ch.writeInbound(Frames.encodeWithBody(ByteBufAllocator.DEFAULT, op, id, h, body));
        return id;
    }

    /** Writes a raw frame: {@code payload} after a header for {@code op}. */
    long sendRaw(EmbeddedChannel ch, Opcode op, ByteBuf payload) {
        long id = nextId++;
        ByteBuf frame = ByteBufAllocator.DEFAULT.buffer(Frame.HEADER_LENGTH + payload.readableBytes());
        Frames.writeHeader(frame, op, id, payload.readableBytes());
        frame.writeBytes(payload);
        payload.release();
        ch.writeInbound(frame);
        return id;
    }

    /** Runs what waits for the agent, and its checks between tasks. */
    void run() {
        agent.runQueued();
    }

    /** Sends a request, runs the agent and returns the answer. */
    Answer call(EmbeddedChannel ch, Opcode op, Message m) {
        long id = send(ch, op, m);
        run();
        Answer a = answer(ch);
        assertEquals(id, a.requestId(), "answer to request " + id);
        return a;
    }

    int register(EmbeddedChannel ch, TensorSpec spec, int chunkElements, int... chunks) {
        Answer a = call(ch, Opcode.REGISTER, new Messages.Register(spec, chunkElements, chunks)).ok();
        return Messages.RegisterReply.read(a.payload()).tensorId();
    }

    /** The next answer written into {@code ch}, or null when there is none. */
    Answer poll(EmbeddedChannel ch) {
        ch.runPendingTasks();
        ByteBuf out = ch.readOutbound();
        if (out == null) {
            return null;
        }
        try {
            long id = out.getLongLE(Frame.REQUEST_ID_OFFSET);
            Opcode opcode = Opcode.ofCode(out.getUnsignedByte(Frame.OPCODE_OFFSET));
            ByteBuf payload = Unpooled.copiedBuffer(out.slice(Frame.HEADER_LENGTH, out.readableBytes() - Frame.HEADER_LENGTH));
            return new Answer(opcode, id, payload);
        } finally {
            out.release();
        }
    }

    /** The next answer written into {@code ch}. */
    Answer answer(EmbeddedChannel ch) {
        Answer a = poll(ch);
        assertNotNull(a, "no answer");
        return a;
    }

    /** One answer: its opcode, request id and payload (a heap copy, nothing to release). */
    record Answer(Opcode opcode, long requestId, ByteBuf payload) {

        Answer ok() {
            assertEquals(Opcode.OK, opcode, this::describe);
            return this;
        }

        /** The chunk's parameters of a DATA answer, checking the version it reports. */
        float[] parameters(long version) {
            assertEquals(Opcode.DATA, opcode, this::describe);
            ByteBuf p = payload.duplicate();
            Messages.PullReplyHeader h = Messages.PullReplyHeader.read(p);
            assertEquals(version, h.version(), "version of the pulled chunk");
            float[] v = new float[h.count()];
            for (int i = 0; i < v.length; i++) {
                v[i] = p.readFloatLE();
            }
            return v;
        }

        /** An ERROR answer with {@code code} whose message holds {@code fragment}. */
        void refused(ErrorCode code, String fragment) {
            assertEquals(Opcode.ERROR, opcode, "expected an ERROR answer, got " + opcode);
            Messages.ErrorReply e = Messages.ErrorReply.read(payload.duplicate());
            assertEquals(code, e.code(), e.message());
            assertTrue(e.message().contains(fragment), e.message());
        }

        private String describe() {
            return opcode == Opcode.ERROR ? "ERROR " + Messages.ErrorReply.read(payload.duplicate()) : opcode.toString();
        }
    }

    @Override
    public void close() {
        try {
            for (EmbeddedChannel ch : channels) {
                ch.finishAndReleaseAll();
            }
            agent.close();
            agent.checkpoints().close();
        } finally {
            device.close();
        }
    }
}
