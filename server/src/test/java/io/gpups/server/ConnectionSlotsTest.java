package io.gpups.server;

import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.FrameDecoder;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Opcode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Connection slots: the handshake and idle timeouts of {@link ConnectionDeadlines}, driven by the embedded
 * event loop's clock ({@code advanceTimeBy}), and {@link ConnectionLimit}'s half of the slots for unproven
 * connections.
 */
class ConnectionSlotsTest {

    /** Stands in for the shard handler: keeps the requests it reads (so a test answers them when it likes). */
    private static final class Requests extends ChannelInboundHandlerAdapter {
        final List<Frame> read = new ArrayList<>();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            read.add((Frame) msg);
        }
    }

    private static EmbeddedChannel deadlines(long helloMillis, long idleMillis, Requests requests) {
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(1 << 16), new ConnectionDeadlines(helloMillis, idleMillis), requests);
        ch.freezeTime();
        return ch;
    }

    private static void request(EmbeddedChannel ch, Opcode op, long id) {
        ch.writeInbound(Frames.empty(ByteBufAllocator.DEFAULT, op, id));
    }

    private static void answer(EmbeddedChannel ch, Requests requests) {
        Frame f = requests.read.remove(0);
        ch.writeAndFlush(Frames.empty(ch.alloc(), Opcode.OK, f.requestId()));
        f.release();
        ReferenceCountUtil.release(ch.readOutbound());
    }

    private static void advance(EmbeddedChannel ch, long millis) {
        ch.advanceTimeBy(millis, TimeUnit.MILLISECONDS);
        ch.runScheduledPendingTasks();
    }

    // ---- handshake timeout --------------------------------------------------------------------------

    @Test
    void aSilentConnectionIsClosedAtTheHandshakeTimeout() {
        EmbeddedChannel ch = deadlines(10_000, 0, new Requests());
        advance(ch, 9_999);
        assertTrue(ch.isActive());
        advance(ch, 1);
        assertFalse(ch.isActive(), "no HELLO within 10 s");
    }

    @Test
    void aTricklingConnectionIsClosedAtTheHandshakeTimeoutToo() {
        EmbeddedChannel ch = deadlines(10_000, 0, new Requests());
        ByteBuf hello = Frames.empty(ByteBufAllocator.DEFAULT, Opcode.HELLO, 1);
        for (int s = 0; s < 10 && hello.isReadable(); s++) {
            ch.writeInbound(hello.readRetainedSlice(1)); // a byte a second
            advance(ch, 999);
        }
        hello.release();
        assertTrue(ch.isActive());
        advance(ch, 10);
        assertFalse(ch.isActive(), "bytes without a proven HELLO do not extend the handshake");
    }

    @Test
    void aProvenConnectionOutlivesTheHandshakeTimeout() {
        EmbeddedChannel ch = deadlines(10_000, 0, new Requests());
        advance(ch, 5_000);
        ch.pipeline().fireUserEventTriggered(Session.PROVEN);
        advance(ch, 60_000);
        assertTrue(ch.isActive());
    }

    // ---- idle timeout -------------------------------------------------------------------------------

    @Test
    void aConnectionWithNothingInFlightAndNoHeartbeatIsClosedAtTheIdleTimeout() {
        Requests requests = new Requests();
        EmbeddedChannel ch = deadlines(0, 30_000, requests);
        // Heartbeats keep it open: each one is a request, answered at once.
        for (int i = 0; i < 100; i++) {
            request(ch, Opcode.HEARTBEAT, i);
            answer(ch, requests);
            advance(ch, 1_000);
        }
        assertTrue(ch.isActive());
        advance(ch, 28_999);
        assertTrue(ch.isActive());
        advance(ch, 1);
        assertFalse(ch.isActive(), "30 s after the last heartbeat");
    }

    @Test
    void aRequestInFlightKeepsAQuietConnectionOpenUntilItIsAnswered() {
        Requests requests = new Requests();
        EmbeddedChannel ch = deadlines(0, 30_000, requests);
        request(ch, Opcode.PULL, 7); // parked, say, for a slow bsp step
        advance(ch, 300_000);
        assertTrue(ch.isActive(), "a parked request is not idleness");
        answer(ch, requests);
        advance(ch, 29_000);
        assertTrue(ch.isActive(), "the silence counts from the last request, and only while nothing is in flight");
        advance(ch, 30_000);
        assertFalse(ch.isActive());
    }

    // ---- unproven connections take at most half of the slots ---------------------------------------

    private static EmbeddedChannel connect(ConnectionLimit limit) {
        return new EmbeddedChannel(limit);
    }

    @Test
    void unprovenConnectionsTakeAtMostHalfTheSlotsAndTheOldestMakesRoom() {
        ConnectionLimit limit = new ConnectionLimit(4);
        List<EmbeddedChannel> flood = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            flood.add(connect(limit));
        }
        assertEquals(2, limit.unproven());
        // A newcomer (a worker with the token, say) gets in: the oldest unproven connection makes room.
        EmbeddedChannel worker = connect(limit);
        assertTrue(worker.isActive());
        assertFalse(flood.get(0).isActive(), "the oldest unproven connection was closed");
        assertTrue(flood.get(1).isActive());
        worker.pipeline().fireUserEventTriggered(Session.PROVEN);
        assertEquals(1, limit.unproven());
        // More flooding only ever replaces unproven connections: the proven worker stays.
        for (int i = 0; i < 20; i++) {
            flood.add(connect(limit));
        }
        assertTrue(worker.isActive());
        assertEquals(2, limit.unproven());
        assertEquals(3, limit.open());
        assertEquals(2, flood.stream().filter(EmbeddedChannel::isActive).count());
    }

    @Test
    void whenEverySlotIsProvenANewConnectionIsRefused() {
        ConnectionLimit limit = new ConnectionLimit(2);
        for (int i = 0; i < 2; i++) {
            EmbeddedChannel ch = connect(limit);
            ch.pipeline().fireUserEventTriggered(Session.PROVEN);
        }
        EmbeddedChannel late = connect(limit);
        assertFalse(late.isActive());
        assertEquals(2, limit.open());
    }

    @Test
    void aClosedConnectionGivesItsSlotBack() {
        ConnectionLimit limit = new ConnectionLimit(2);
        EmbeddedChannel a = connect(limit);
        a.pipeline().fireUserEventTriggered(Session.PROVEN);
        EmbeddedChannel b = connect(limit);
        assertEquals(2, limit.open());
        b.close();
        a.close();
        assertEquals(0, limit.open());
        assertEquals(0, limit.unproven());
    }
}
