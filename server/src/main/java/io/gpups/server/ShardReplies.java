package io.gpups.server;

import io.gpups.core.codec.Codec;
import io.gpups.core.device.DeviceOutOfMemoryException;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Message;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.protocol.ProtocolException;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * The agent's answers: OK, DATA (a chunk's parameters, straight from the device into the frame) and ERROR, counted.
 * While a batch of pushes runs its answers are held ({@link #hold}) and sent in the order made once its updates are
 * issued ({@link #release}); a push whose queued update failed is answered with the failure instead. Agent thread only.
 */
final class ShardReplies {

    private static final Logger log = LoggerFactory.getLogger(ShardReplies.class);

    /** An answer made while a batch runs, sent when the batch is done. */
    private record HeldAnswer(Channel ch, long requestId, ByteBuf frame) {
    }

    private final ShardDevice device;
    private final ShardCounters counters;
    private final AnswerBuffers answerBuffers = new AnswerBuffers();
    /** While a batch runs: its answers in the order they were made; else null. */
    private List<HeldAnswer> held;

    ShardReplies(ShardDevice device, ShardCounters counters) {
        this.device = device;
        this.counters = counters;
    }

    /** From now until {@link #release}, answers are held. */
    void hold() {
        held = new ArrayList<>();
    }

    /** Sends the held answers in order; one whose request's queued update failed in {@code batch} becomes the error. */
    void release(PushBatch batch) {
        List<HeldAnswer> answers = held;
        held = null;
        for (HeldAnswer a : answers) {
            RuntimeException failure = batch.failure(a.ch(), a.requestId());
            if (failure == null) {
                a.ch().writeAndFlush(a.frame());
            } else {
                a.frame().release();
                send(a.ch(), a.requestId(), errorFrame(a.ch(), a.requestId(), failure));
            }
        }
    }

    void ok(Channel ch, long requestId) {
        send(ch, requestId, Frames.empty(ch.alloc(), Opcode.OK, requestId));
    }

    void ok(Channel ch, long requestId, Message reply) {
        send(ch, requestId, Frames.encode(ch.alloc(), Opcode.OK, requestId, reply));
    }

    void data(Channel ch, long requestId, Message reply) {
        send(ch, requestId, Frames.encode(ch.alloc(), Opcode.DATA, requestId, reply));
    }

    /** Sends what {@code answer} builds, or the error it fails with. */
    void answer(Channel ch, long requestId, Supplier<ByteBuf> answer) {
        try {
            send(ch, requestId, answer.get());
        } catch (ProtocolException e) {
            error(ch, requestId, e);
        } catch (RuntimeException e) {
            failed(ch, requestId, e);
        }
    }

    /** A refused request: its ERROR answer with the code and message. */
    void error(Channel ch, long requestId, ProtocolException e) {
        counters.errors++;
        send(ch, requestId, Frames.error(ch.alloc(), requestId, e.code(), e.getMessage()));
    }

    /** A request that failed with {@code e} while being served: logged (but a device out of memory) and answered. */
    void failed(Channel ch, long requestId, RuntimeException e) {
        if (!(e instanceof DeviceOutOfMemoryException)) {
            log.warn("request {} from {} failed", requestId, ch.remoteAddress(), e);
        }
        send(ch, requestId, errorFrame(ch, requestId, e));
    }

    /** A pull answered: the chunk's parameters, or the error if sending them fails. */
    void parameters(Channel ch, long requestId, ChunkState chunk, int dtype) {
        try {
            sendParameters(ch, requestId, chunk, dtype);
        } catch (RuntimeException e) {
            failed(ch, requestId, e);
        }
    }

    private void sendParameters(Channel ch, long requestId, ChunkState chunk, int dtype) {
        int bytes = Messages.dtypeBytes(dtype, chunk.length);
        int payload = Messages.PullReplyHeader.LENGTH + bytes;
        ByteBuf out = answerBuffers.take(ch.alloc(), Frame.HEADER_LENGTH + payload);
        try {
            Frames.writeHeader(out, Opcode.DATA, requestId, payload);
            new Messages.PullReplyHeader(chunk.version, chunk.length, dtype).writeTo(out);
            ByteBuffer values = out.nioBuffer(out.writerIndex(), bytes).order(ByteOrder.LITTLE_ENDIAN);
            if (dtype == Messages.DTYPE_BF16) {
                device.encode(Codec.BF16, chunk.param, null, 0, chunk.length, 0, values);
            } else {
                device.download(chunk.param, 0, chunk.length, values);
            }
            out.writerIndex(out.writerIndex() + bytes);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
        counters.bytesPulled += bytes;
        send(ch, requestId, out);
    }

    /** Gives up the kept answer buffers (when the agent stops). */
    void close() {
        answerBuffers.close();
    }

    /** Sends an answer now, or, while a batch runs, when the batch is done (in the order made). */
    private void send(Channel ch, long requestId, ByteBuf frame) {
        if (held != null) {
            held.add(new HeldAnswer(ch, requestId, frame));
        } else {
            ch.writeAndFlush(frame);
        }
    }

    /**
     * The ERROR answer for a request that failed with {@code e}, counted: a refusal keeps its code; a device out of
     * memory is the request's OUT_OF_MEMORY (it asked for more device memory than there is: its error, not the
     * shard's); anything else is INTERNAL.
     */
    private ByteBuf errorFrame(Channel ch, long requestId, RuntimeException e) {
        counters.errors++;
        if (e instanceof ProtocolException refused) {
            return Frames.error(ch.alloc(), requestId, refused.code(), refused.getMessage());
        }
        if (e instanceof DeviceOutOfMemoryException oom) {
            return Frames.error(ch.alloc(), requestId, ErrorCode.OUT_OF_MEMORY, oom.getMessage());
        }
        return Frames.error(ch.alloc(), requestId, ErrorCode.INTERNAL, e.getClass().getSimpleName() + ": " + e.getMessage());
    }
}
