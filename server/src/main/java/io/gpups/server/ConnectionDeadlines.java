package io.gpups.server;

import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.FrameDecoder;
import io.gpups.core.protocol.Opcode;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.util.concurrent.ScheduledFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.TimeUnit;

/**
 * Closes a connection that holds a slot without using it:
 * <ul>
 *   <li>the handshake timeout: no proven HELLO ({@link Session#PROVEN}) within {@code helloTimeoutMillis} of
 *       opening, however many bytes trickle in;</li>
 *   <li>the idle timeout: no request in flight and nothing received (no request, no HEARTBEAT) for
 *       {@code idleTimeoutMillis}. A PULL parked for a slow step or a CHECKPOINT being written is in flight, so
 *       its connection is not idle however long it waits.</li>
 * </ul>
 * It sits after the frame decoder and after TLS, so it sees requests as decoded frames and answers as encoded
 * frames; every request gets exactly one answer, so requests read minus answers written is what is in flight.
 * One instance per connection; its state is touched on the connection's event loop only (Netty runs writes
 * issued by the agent thread there too). Time is the event loop's {@link io.netty.util.concurrent.Ticker}, so
 * tests drive it with {@code EmbeddedChannel.advanceTimeBy}.
 */
final class ConnectionDeadlines extends ChannelDuplexHandler {

    private static final Logger log = LoggerFactory.getLogger(ConnectionDeadlines.class);

    private final long helloTimeoutNanos;
    private final long idleTimeoutNanos;
    private boolean started;
    private boolean proven;
    private int inFlight;
    private long lastReceivedNanos;
    private ScheduledFuture<?> helloCheck;
    private ScheduledFuture<?> idleCheck;

    /** Either timeout may be 0: off. */
    ConnectionDeadlines(long helloTimeoutMillis, long idleTimeoutMillis) {
        if (helloTimeoutMillis < 0 || idleTimeoutMillis < 0) {
            throw new IllegalArgumentException("timeouts must be >= 0 ms (0: off), got hello " + helloTimeoutMillis
                    + ", idle " + idleTimeoutMillis);
        }
        this.helloTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(helloTimeoutMillis);
        this.idleTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(idleTimeoutMillis);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        if (ctx.channel().isActive()) {
            start(ctx);
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        start(ctx);
        ctx.fireChannelActive();
    }

    private void start(ChannelHandlerContext ctx) {
        if (started) {
            return;
        }
        started = true;
        lastReceivedNanos = now(ctx);
        if (helloTimeoutNanos > 0) {
            helloCheck = ctx.executor().schedule(() -> {
                if (!proven && ctx.channel().isActive()) {
                    log.info("closing {}: no proven HELLO within the handshake timeout of {} ms", ctx.channel().remoteAddress(),
                            TimeUnit.NANOSECONDS.toMillis(helloTimeoutNanos));
                    ctx.close();
                }
            }, helloTimeoutNanos, TimeUnit.NANOSECONDS);
        }
        if (idleTimeoutNanos > 0) {
            scheduleIdleCheck(ctx, idleTimeoutNanos);
        }
    }

    private void scheduleIdleCheck(ChannelHandlerContext ctx, long delayNanos) {
        idleCheck = ctx.executor().schedule(() -> checkIdle(ctx), delayNanos, TimeUnit.NANOSECONDS);
    }

    private void checkIdle(ChannelHandlerContext ctx) {
        if (!ctx.channel().isActive()) {
            return;
        }
        long silent = now(ctx) - lastReceivedNanos;
        if (inFlight == 0 && silent >= idleTimeoutNanos) {
            log.info("closing {}: idle for {} ms (no request in flight, no heartbeat); the idle timeout is {} ms",
                    ctx.channel().remoteAddress(), TimeUnit.NANOSECONDS.toMillis(silent),
                    TimeUnit.NANOSECONDS.toMillis(idleTimeoutNanos));
            ctx.close();
            return;
        }
        // Busy connections are looked at again a whole timeout later; quiet ones when their timeout is up.
        scheduleIdleCheck(ctx, inFlight > 0 ? idleTimeoutNanos : idleTimeoutNanos - silent);
    }

    private static long now(ChannelHandlerContext ctx) {
        return ctx.executor().ticker().nanoTime();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Frame || msg instanceof FrameDecoder.UnknownOpcodeFrame) {
            inFlight++;
            lastReceivedNanos = now(ctx);
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof ByteBuf buf && buf.readableBytes() >= Frame.HEADER_LENGTH
                && buf.getShortLE(buf.readerIndex() + Frame.MAGIC_OFFSET) == Frame.MAGIC) {
            Opcode op = Opcode.ofCode(buf.getUnsignedByte(buf.readerIndex() + Frame.OPCODE_OFFSET));
            if ((op == Opcode.OK || op == Opcode.DATA || op == Opcode.ERROR) && inFlight > 0) {
                inFlight--;
            }
        }
        ctx.write(msg, promise);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == Session.PROVEN && !proven) {
            proven = true;
            if (helloCheck != null) {
                helloCheck.cancel(false);
            }
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (helloCheck != null) {
            helloCheck.cancel(false);
        }
        if (idleCheck != null) {
            idleCheck.cancel(false);
        }
        ctx.fireChannelInactive();
    }

    /** Requests read and not answered yet. */
    int inFlight() {
        return inFlight;
    }
}
