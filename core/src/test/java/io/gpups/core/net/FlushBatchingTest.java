package io.gpups.core.net;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;

class FlushBatchingTest {

    /** Counts the flushes that reach the socket side of the pipeline. */
    private static final class SocketFlushes extends ChannelOutboundHandlerAdapter {
        final AtomicInteger count = new AtomicInteger();

        @Override
        public void flush(ChannelHandlerContext ctx) {
            count.incrementAndGet();
            ctx.flush();
        }
    }

    private final EventLoopGroup loop = Transport.NIO.eventLoopGroup(1);
    /** Every byte the peer received, in order. */
    private final ByteBuf stream = Unpooled.buffer();
    private final SocketFlushes socket = new SocketFlushes();

    @AfterEach
    void close() {
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        stream.release();
    }

    private static ByteBuf frame(int b) {
        return Unpooled.buffer(4).writeInt(b);
    }

    /** A client channel with the handler, connected over loopback TCP to a peer that keeps the bytes it reads. */
    private Channel connect() throws InterruptedException {
        CountDownLatch accepted = new CountDownLatch(1);
        Channel server = new ServerBootstrap().group(loop).channel(Transport.NIO.serverChannel())
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        accepted.countDown();
                    }

                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ByteBuf bytes = (ByteBuf) msg;
                        synchronized (stream) {
                            stream.writeBytes(bytes);
                            stream.notifyAll();
                        }
                        bytes.release();
                    }
                }).bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
        Channel ch = new Bootstrap().group(loop).channel(Transport.NIO.socketChannel())
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(socket, FlushBatching.handler());
                    }
                }).connect(server.localAddress()).sync().channel();
        accepted.await();
        return ch;
    }

    /** Writes {@code n} frames from this thread while the channel's loop is held, so all are queued before any runs. */
    private void writeWhileTheLoopIsBusy(Channel ch, int n) throws InterruptedException {
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        ch.eventLoop().execute(() -> {
            held.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        held.await();
        for (int i = 0; i < n; i++) {
            ch.writeAndFlush(frame(i));
        }
        release.countDown();
    }

    private void assertReceivedInOrder(int n) throws InterruptedException {
        for (int i = 0; i < n; i++) {
            assertEquals(i, nextInt(), "frames keep their order");
        }
    }

    /** The next int the peer received; waits on the loop's progress (at most 30 s, a hang, not a slow machine). */
    private int nextInt() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            synchronized (stream) {
                if (stream.readableBytes() >= Integer.BYTES) {
                    return stream.readInt();
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new AssertionError("the peer received only " + stream.readableBytes() + " more bytes");
                }
                stream.wait(TimeUnit.NANOSECONDS.toMillis(left) + 1);
            }
        }
    }

    @Test
    void framesWrittenFromAnotherThreadLeaveInOneFlush() throws InterruptedException {
        Channel ch = connect();
        writeWhileTheLoopIsBusy(ch, 3);
        assertReceivedInOrder(3);
        assertEquals(1, socket.count.get());
    }

    @Test
    void aBurstLongerThanTheLimitIsFlushedAtTheLimitWithoutWaitingForTheLoop() throws InterruptedException {
        Channel ch = connect();
        writeWhileTheLoopIsBusy(ch, FlushBatching.MAX_FRAMES_PER_FLUSH + 1);
        assertReceivedInOrder(FlushBatching.MAX_FRAMES_PER_FLUSH + 1);
        assertEquals(2, socket.count.get(), "one flush at the limit, one for the frame after it");
    }

    @Test
    void framesAnsweredDuringAReadLeaveInOneFlushWhenTheReadCompletes() {
        SocketFlushes socket = new SocketFlushes();
        EmbeddedChannel ch = new EmbeddedChannel(socket, FlushBatching.handler());
        ch.pipeline().fireChannelRead(frame(9));
        for (int i = 0; i < 3; i++) {
            ch.writeAndFlush(frame(i));
        }
        assertEquals(0, socket.count.get(), "held while the read is in progress");
        ch.pipeline().fireChannelReadComplete();
        assertEquals(1, socket.count.get());
        ch.finishAndReleaseAll();
    }
}
