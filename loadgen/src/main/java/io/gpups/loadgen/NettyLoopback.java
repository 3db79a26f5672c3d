package io.gpups.loadgen;

import io.gpups.core.net.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Loopback TCP through plain Netty, with the transport the shards and {@code PsClient} use ({@link Transport#best}: epoll when
 * available, else NIO), their {@code TCP_NODELAY} and Netty's default buffers, read sizes and write-buffer
 * water marks. A sender on its own event loop writes messages of the benchmark's value size (one direct
 * buffer, sent again and again as retained duplicates: no copies in Java) whenever the channel is writable;
 * a receiver on another event loop counts and releases what it reads. No framing, no answers.
 */
final class NettyLoopback {

    private NettyLoopback() {
    }

    /** Bytes per second received over {@code seconds}, after {@code warmupSeconds} of the same traffic. */
    static double measure(int messageBytes, double warmupSeconds, double seconds) throws IOException, InterruptedException {
        Transport transport = Transport.best();
        EventLoopGroup receiverLoop = transport.eventLoopGroup(1);
        EventLoopGroup senderLoop = transport.eventLoopGroup(1);
        AtomicLong received = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        ByteBuf message = Unpooled.directBuffer(messageBytes, messageBytes).writeZero(messageBytes);
        Sender sender = new Sender(message, failure);
        try {
            Channel server = new ServerBootstrap()
                    .group(receiverLoop)
                    .channel(transport.serverChannel())
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new Receiver(received, failure));
                        }
                    })
                    .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
            try {
                Channel client = new Bootstrap()
                        .group(senderLoop)
                        .channel(transport.socketChannel())
                        .option(ChannelOption.TCP_NODELAY, true)
                        .handler(sender)
                        .connect(server.localAddress()).sync().channel();
                try {
                    TimeUnit.NANOSECONDS.sleep((long) (warmupSeconds * 1e9));
                    long start = System.nanoTime();
                    long first = received.get();
                    TimeUnit.NANOSECONDS.sleep((long) (seconds * 1e9));
                    long bytes = received.get() - first;
                    double elapsed = (System.nanoTime() - start) / 1e9;
                    Throwable e = failure.get();
                    if (e != null) {
                        throw new IOException("Netty loopback measurement failed: " + e, e);
                    }
                    return bytes / elapsed;
                } finally {
                    sender.stop = true;
                    client.close().awaitUninterruptibly();
                }
            } finally {
                server.close().awaitUninterruptibly();
            }
        } finally {
            senderLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
            receiverLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
            message.release();
        }
    }

    /** Keeps the channel's outbound buffer full: writes until it is not writable, then waits to be again. */
    private static final class Sender extends ChannelInboundHandlerAdapter {
        private final ByteBuf message;
        private final AtomicReference<Throwable> failure;
        volatile boolean stop;

        Sender(ByteBuf message, AtomicReference<Throwable> failure) {
            this.message = message;
            this.failure = failure;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            fill(ctx.channel());
            ctx.fireChannelActive();
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            fill(ctx.channel());
            ctx.fireChannelWritabilityChanged();
        }

        private void fill(Channel ch) {
            boolean wrote = false;
            while (!stop && ch.isActive() && ch.isWritable()) {
                ch.write(message.retainedDuplicate(), ch.voidPromise());
                wrote = true;
            }
            if (wrote) {
                ch.flush();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (!stop) {
                failure.compareAndSet(null, cause);
            }
            ctx.close();
        }
    }

    /** Counts and releases every byte read. */
    private static final class Receiver extends ChannelInboundHandlerAdapter {
        private final AtomicLong received;
        private final AtomicReference<Throwable> failure;

        Receiver(AtomicLong received, AtomicReference<Throwable> failure) {
            this.received = received;
            this.failure = failure;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            received.addAndGet(buf.readableBytes());
            buf.release();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            failure.compareAndSet(null, cause);
            ctx.close();
        }
    }
}
