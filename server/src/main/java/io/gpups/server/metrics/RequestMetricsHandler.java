package io.gpups.server.metrics;

import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.FrameDecoder;
import io.gpups.core.protocol.Opcode;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.util.AttributeKey;
import io.netty.util.collection.LongObjectHashMap;

import java.util.Locale;

/**
 * Counts requests by operation and result, and frame bytes in and out, by watching a shard connection's
 * decoded requests and encoded answers. It sits after the {@link FrameDecoder} (it sees {@link Frame}s) and
 * after TLS (it sees answers in clear). Every request gets exactly one answer with the same request id, so
 * the handler remembers each request's opcode by id until its answer passes by:
 * <pre>
 * gpups_requests_total{op="push",result="ok"}          answered OK or DATA
 * gpups_requests_total{op="push",result="error"}       answered ERROR
 * gpups_request_errors_total{op="push",code="stale_step"}
 * gpups_received_bytes_total, gpups_sent_bytes_total   whole frames, headers included
 * </pre>
 * All of its state is per channel and touched only on the channel's event loop (reads arrive there, and
 * Netty runs writes issued from the agent thread there too), so it needs no locks; counters are Micrometer's
 * lock-free adders. Answers it cannot match (a broken stream, a request it never saw) count as op "unknown".
 */
@ChannelHandler.Sharable
public final class RequestMetricsHandler extends ChannelDuplexHandler {

    private static final AttributeKey<LongObjectHashMap<Opcode>> PENDING = AttributeKey.valueOf("gpups.metrics.pending");
    private static final int UNKNOWN = Opcode.values().length;

    private final MeterRegistry registry;
    private final Tags tags;
    /** [request opcode ordinal or UNKNOWN][0 ok, 1 error]; filled lazily, a racy fill registers the same meter. */
    private final Counter[][] requests = new Counter[UNKNOWN + 1][2];
    /** [request opcode ordinal or UNKNOWN][error code ordinal]. */
    private final Counter[][] errors = new Counter[UNKNOWN + 1][ErrorCode.values().length];
    private final Counter received;
    private final Counter sent;

    public RequestMetricsHandler(MeterRegistry registry, Tags tags) {
        this.registry = registry;
        this.tags = tags;
        this.received = Counter.builder("gpups.received").baseUnit("bytes")
                .description("Request frame bytes received, headers included").tags(tags).register(registry);
        this.sent = Counter.builder("gpups.sent").baseUnit("bytes")
                .description("Answer frame bytes sent, headers included").tags(tags).register(registry);
        // The common operations show up as zeros from the start, so rate() works from the first scrape.
        for (Opcode op : new Opcode[] {Opcode.HELLO, Opcode.REGISTER, Opcode.PUSH, Opcode.PULL, Opcode.PUSH_PULL, Opcode.CLOCK}) {
            requestCounter(op.ordinal(), 0);
            requestCounter(op.ordinal(), 1);
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Frame frame) {
            pending(ctx).put(frame.requestId(), frame.opcode());
            received.increment(Frame.HEADER_LENGTH + frame.payload().readableBytes());
        } else if (msg instanceof FrameDecoder.UnknownOpcodeFrame unknown) {
            pending(ctx).remove(unknown.requestId());
            received.increment(Frame.HEADER_LENGTH);
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof ByteBuf buf && buf.readableBytes() >= Frame.HEADER_LENGTH
                && buf.getShortLE(buf.readerIndex() + Frame.MAGIC_OFFSET) == Frame.MAGIC) {
            int at = buf.readerIndex();
            Opcode answer = Opcode.ofCode(buf.getUnsignedByte(at + Frame.OPCODE_OFFSET));
            Opcode request = pending(ctx).remove(buf.getLongLE(at + Frame.REQUEST_ID_OFFSET));
            int op = request == null ? UNKNOWN : request.ordinal();
            if (answer == Opcode.ERROR) {
                requestCounter(op, 1).increment();
                if (buf.readableBytes() >= Frame.HEADER_LENGTH + 2) {
                    ErrorCode code = ErrorCode.ofCode(buf.getUnsignedShortLE(at + Frame.HEADER_LENGTH));
                    errorCounter(op, code).increment();
                }
            } else {
                requestCounter(op, 0).increment();
            }
            sent.increment(buf.readableBytes());
        }
        ctx.write(msg, promise);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        ctx.channel().attr(PENDING).set(null);
        ctx.fireChannelInactive();
    }

    private static LongObjectHashMap<Opcode> pending(ChannelHandlerContext ctx) {
        LongObjectHashMap<Opcode> map = ctx.channel().attr(PENDING).get();
        if (map == null) {
            map = new LongObjectHashMap<>();
            ctx.channel().attr(PENDING).set(map);
        }
        return map;
    }

    private static String opName(int op) {
        return op == UNKNOWN ? "unknown" : Opcode.values()[op].name().toLowerCase(Locale.ROOT);
    }

    private Counter requestCounter(int op, int result) {
        Counter c = requests[op][result];
        if (c == null) {
            c = Counter.builder("gpups.requests").description("Requests answered, by operation and result")
                    .tags(tags).tag("op", opName(op)).tag("result", result == 0 ? "ok" : "error").register(registry);
            requests[op][result] = c;
        }
        return c;
    }

    private Counter errorCounter(int op, ErrorCode code) {
        Counter c = errors[op][code.ordinal()];
        if (c == null) {
            c = Counter.builder("gpups.request.errors").description("Requests answered with ERROR, by operation and code")
                    .tags(tags).tag("op", opName(op)).tag("code", code.name().toLowerCase(Locale.ROOT)).register(registry);
            errors[op][code.ordinal()] = c;
        }
        return c;
    }
}
