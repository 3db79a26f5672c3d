package io.gpups.worker.client;

import io.gpups.core.net.FlushBatching;
import io.gpups.core.net.SharedRing;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.FrameDecoder;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.util.AttributeKey;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * One pipelined connection to one shard. Requests carry ids; answers complete the matching future in any
 * order. An answer's payload is handed to the request's reader on the event loop and released after.
 */
final class ShardConnection implements AutoCloseable {

    private final int shard;
    private final InetSocketAddress address;
    private final Bootstrap bootstrap;
    /** Replaced by {@link #reconnect()} after the shard went away. */
    private volatile Channel channel;
    /** Set as soon as the connection fails (before the channel has finished closing); cleared by a new connection. */
    private volatile boolean lost;
    private final AtomicLong nextId = new AtomicLong(1);
    private final Map<Long, Pending<?>> pending = new ConcurrentHashMap<>();

    /** The shared-memory ring of a connection, once its shard took it (RING_ATTACH); written on its event loop only. */
    private static final AttributeKey<SharedRing.Writer> RING = AttributeKey.valueOf("gpups.ring");
    /** Frames smaller than this go over TCP even with a ring: their copy costs what the socket's does. */
    static final int RING_MIN_FRAME_BYTES = 64 << 10;
    private final AtomicLong ringFrames = new AtomicLong();
    private final AtomicLong ringFallbacks = new AtomicLong();

    private record Pending<T>(CompletableFuture<T> future, Function<Frame, T> reader) {
        void complete(Frame answer) {
            try {
                future.complete(reader.apply(answer));
            } catch (RuntimeException e) {
                future.completeExceptionally(e);
            }
        }
    }

    ShardConnection(int shard, InetSocketAddress address, EventLoopGroup group,
                    Class<? extends Channel> channelType, int maxFrameBytes, SslContext ssl) throws InterruptedException {
        this.shard = shard;
        this.address = address;
        this.bootstrap = new Bootstrap()
                .group(group)
                .channel(channelType)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 10_000)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        if (ssl != null) {
                            ch.pipeline().addLast(ssl.newHandler(ch.alloc(), address.getHostString(), address.getPort()));
                        }
                        ch.pipeline().addLast(FlushBatching.NAME, FlushBatching.handler());
                        FrameDecoder frames = new FrameDecoder(maxFrameBytes);
                        ch.pipeline().addLast(frames, new AnswerHandler());
                        if (ssl == null) {
                            frames.readDirectly(ch);
                        }
                    }
                });
        connect();
    }

    private void connect() throws InterruptedException {
        Channel ch = bootstrap.connect(address).sync().channel();
        ch.closeFuture().addListener(f -> {
            if (channel == ch) {
                lost = true;
            }
            failAll("connection to shard " + shard + " at " + address + " closed");
        });
        channel = ch;
        lost = false;
    }

    boolean isActive() {
        return !lost && channel.isActive();
    }

    /** Opens a new connection to the same address (the caller says HELLO again); throws if the shard is not there. */
    void reconnect() throws InterruptedException {
        channel.close().awaitUninterruptibly();
        connect();
    }

    int shard() {
        return shard;
    }

    InetSocketAddress address() {
        return address;
    }

    long newRequestId() {
        return nextId.getAndIncrement();
    }

    Channel channel() {
        return channel;
    }

    /**
     * Sends a frame built for {@code requestId}; {@code reader} turns the OK/DATA answer into the result
     * (on the event loop). An ERROR answer fails the future with {@link PsException}.
     */
    <T> CompletableFuture<T> send(long requestId, ByteBuf frame, Function<Frame, T> reader) {
        CompletableFuture<T> future = new CompletableFuture<>();
        pending.put(requestId, new Pending<>(future, reader));
        Channel ch = channel;
        SharedRing.Writer ring = ch.attr(RING).get();
        if (ring != null && frame.readableBytes() >= RING_MIN_FRAME_BYTES) {
            // The ring is written on the event loop, in the order of the channel's writes: the shard expects its
            // frames in ring order. Writes from other threads are queued there too, so the order of sends holds.
            if (ch.eventLoop().inEventLoop()) {
                writeThroughRing(ch, ring, requestId, frame);
            } else {
                ch.eventLoop().execute(() -> writeThroughRing(ch, ring, requestId, frame));
            }
        } else {
            write(ch, requestId, frame);
        }
        return future;
    }

    /** The frame into the ring and a RING_FRAME saying where over TCP; the frame itself over TCP when the ring is full. */
    private void writeThroughRing(Channel ch, SharedRing.Writer ring, long requestId, ByteBuf frame) {
        int length = frame.readableBytes();
        long position;
        try {
            position = ring.tryWrite(frame);
        } catch (RuntimeException e) {
            frame.release();
            failRequest(requestId, "writing to the shared-memory ring of shard " + shard + " failed: " + e);
            return;
        }
        if (position < 0) {
            ringFallbacks.incrementAndGet();
            write(ch, requestId, frame);
            return;
        }
        frame.release();
        ringFrames.incrementAndGet();
        write(ch, requestId, Frames.encode(ch.alloc(), Opcode.RING_FRAME, requestId, new Messages.RingFrame(position, length)));
    }

    private void failRequest(long requestId, String reason) {
        Pending<?> p = pending.remove(requestId);
        if (p != null) {
            p.future().completeExceptionally(new PsException(null, reason));
        }
    }

    private void write(Channel ch, long requestId, ByteBuf frame) {
        ch.writeAndFlush(frame).addListener(f -> {
            if (!f.isSuccess()) {
                Pending<?> p = pending.remove(requestId);
                if (p != null) {
                    p.future().completeExceptionally(new PsException(null, "sending to shard " + shard + " at "
                            + address + " failed: " + f.cause()));
                }
            }
        });
    }

    /**
     * Offers the shard a shared-memory ring of {@code capacity} bytes made in {@code directory} (RING_ATTACH), after
     * HELLO; from its OK on, large frames go through the ring. Returns the shard's refusal, or null when it took the
     * ring. The file is unlinked either way: the two mappings keep the memory while they last.
     */
    String attachRing(Path directory, long capacity) throws Exception {
        SharedRing ring = SharedRing.create(directory, capacity);
        try {
            long id = newRequestId();
            Channel ch = channel;
            send(id, Frames.encode(ch.alloc(), Opcode.RING_ATTACH, id,
                    new Messages.RingAttach(capacity, ring.token(), ring.name())), f -> null).get(30, TimeUnit.SECONDS);
            SharedRing.Writer writer = new SharedRing.Writer(ring);
            // Set on the event loop, behind every write queued so far: none of them may become a RING_FRAME.
            ch.eventLoop().submit(() -> ch.attr(RING).set(writer)).get(30, TimeUnit.SECONDS);
            return null;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof PsException refused && refused.code() != null) {
                return refused.getMessage();
            }
            throw e;
        } finally {
            ring.unlink();
        }
    }

    /** Whether this connection's large frames go through a shared-memory ring. */
    boolean hasRing() {
        return channel.attr(RING).get() != null;
    }

    /** Frames sent through the ring so far, and frames that found it full and went over TCP. */
    long ringFrames() {
        return ringFrames.get();
    }

    long ringFallbacks() {
        return ringFallbacks.get();
    }

    private void failAll(String reason) {
        failAll(reason, null);
    }

    /** Fails every request in flight; {@code cause} (may be null) tells a TLS failure from a closed connection. */
    private void failAll(String reason, Throwable cause) {
        for (Long id : pending.keySet()) {
            Pending<?> p = pending.remove(id);
            if (p != null) {
                PsException e = new PsException(null, reason);
                if (cause != null) {
                    e.initCause(cause);
                }
                p.future().completeExceptionally(e);
            }
        }
    }

    private final class AnswerHandler extends SimpleChannelInboundHandler<Object> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof Frame frame)) {
                throw new IllegalStateException("shard " + shard + " sent a frame with an unknown opcode: " + msg);
            }
            Pending<?> p = pending.remove(frame.requestId());
            if (p == null) {
                throw new IllegalStateException("shard " + shard + " answered request " + frame.requestId()
                        + " which is not in flight");
            }
            if (frame.opcode() == Opcode.ERROR) {
                Messages.ErrorReply err = Messages.ErrorReply.read(frame.payload());
                p.future().completeExceptionally(new PsException(err.code(), "shard " + shard + ": " + err.code() + ": " + err.message()));
            } else if (frame.opcode() == Opcode.OK || frame.opcode() == Opcode.DATA) {
                p.complete(frame);
            } else {
                p.future().completeExceptionally(new PsException(ErrorCode.BAD_FRAME,
                        "shard " + shard + " answered with request opcode " + frame.opcode()));
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (ctx.channel() == channel) {
                lost = true;
            }
            failAll("connection to shard " + shard + " at " + address + " failed: " + cause.getMessage(), cause);
            ctx.close();
        }
    }

    @Override
    public void close() {
        channel.close().awaitUninterruptibly();
    }
}
