package io.gpups.core.protocol;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Large frames over a real loopback connection, read straight into their buffers ({@link FrameDecoder#readDirectly}). */
class FrameDecoderSocketTest {

    @Test
    void pipelinedLargeFramesAreReadStraightIntoTheirBuffersAndDecodedExactly() throws Exception {
        int frames = 12;
        int payloadBytes = (3 << 20) + 5;
        BlockingQueue<Object> received = new ArrayBlockingQueue<>(frames + 1);
        AtomicReference<FrameDecoder> serverDecoder = new AtomicReference<>();
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        try {
            Channel server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            FrameDecoder decoder = new FrameDecoder(8 << 20);
                            serverDecoder.set(decoder);
                            ch.pipeline().addLast(decoder, new ChannelInboundHandlerAdapter() {
                                @Override
                                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                    Frame frame = (Frame) msg;
                                    try {
                                        received.add(check(frame, payloadBytes));
                                    } finally {
                                        frame.release();
                                    }
                                }
                            });
                            decoder.readDirectly(ch);
                        }
                    }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            Channel client = new Bootstrap().group(group).channel(NioSocketChannel.class)
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(server.localAddress()).sync().channel();
            for (int f = 0; f < frames; f++) {
                client.write(frame(f, payloadBytes));
            }
            client.flush();
            for (int f = 0; f < frames; f++) {
                Object got = received.poll(30, TimeUnit.SECONDS);
                assertNotNull(got, "frame " + f + " arrived");
                assertEquals((long) f, got, "frame " + f + " in order and intact");
            }
            long direct = serverDecoder.get().bytesReadDirectly();
            assertTrue(direct > (long) frames * payloadBytes / 2,
                    "most payload bytes read straight into the frames' buffers: " + direct);
            client.close().sync();
            server.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /** A CLOCK-opcode frame with request id {@code id} and a payload whose every byte depends on id and offset. */
    private static ByteBuf frame(int id, int payloadBytes) {
        ByteBuf b = Unpooled.directBuffer(Frame.HEADER_LENGTH + payloadBytes);
        b.writeIntLE(Frame.HEADER_LENGTH - 4 + payloadBytes).writeShortLE(Frame.MAGIC).writeByte(Frame.VERSION)
                .writeByte(Opcode.CLOCK.code).writeLongLE(id);
        for (int i = 0; i < payloadBytes; i++) {
            b.writeByte(i * 131 + id * 7);
        }
        return b;
    }

    /** The frame's id when every payload byte is right; a message naming the first wrong byte otherwise. */
    private static Object check(Frame frame, int payloadBytes) {
        ByteBuf p = frame.payload();
        if (p.readableBytes() != payloadBytes) {
            return "payload of " + p.readableBytes() + " bytes";
        }
        long id = frame.requestId();
        for (int i = 0; i < payloadBytes; i++) {
            if (p.getByte(p.readerIndex() + i) != (byte) (i * 131 + id * 7)) {
                return "frame " + id + " byte " + i;
            }
        }
        return id;
    }
}
