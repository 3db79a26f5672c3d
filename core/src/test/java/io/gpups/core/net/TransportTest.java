package io.gpups.core.net;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TransportTest {

    @Test
    void epollIsChosenWhereItLoadsAndNioElsewhere() {
        assertEquals(Epoll.isAvailable() ? Transport.EPOLL : Transport.NIO, Transport.best());
        if (System.getProperty("os.name").equals("Linux") && System.getProperty("os.arch").equals("amd64")) {
            assertEquals(Transport.EPOLL, Transport.best(), "the native epoll library is carried for linux-x86_64: "
                    + Epoll.unavailabilityCause());
        }
    }

    @Test
    void eachTransportNamesItsOwnChannels() {
        assertEquals(EpollServerSocketChannel.class, Transport.EPOLL.serverChannel());
        assertEquals(EpollSocketChannel.class, Transport.EPOLL.socketChannel());
        assertEquals(NioServerSocketChannel.class, Transport.NIO.serverChannel());
        assertEquals(NioSocketChannel.class, Transport.NIO.socketChannel());
        assertEquals("epoll", Transport.EPOLL.label());
        assertEquals("nio", Transport.NIO.label());
    }

    @Test
    void theBestTransportMakesAWorkingEventLoopGroup() throws Exception {
        EventLoopGroup group = Transport.best().eventLoopGroup(1);
        try {
            assertTrue(group.submit(() -> true).get());
        } finally {
            group.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.SECONDS).sync();
        }
    }
}
