package io.gpups.server;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.AttributeKey;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Iterator;
import java.util.LinkedHashSet;

/**
 * Connection slots, so that connections cannot lock a worker out. At most {@code max} connections are open;
 * of them at most half are <em>unproven</em> (not past HELLO, see {@link Session#PROVEN}), so the other half is
 * always there for connections that proved themselves. A new connection that finds no slot takes the slot of
 * the oldest unproven connection, which is closed: a flood of idle or trickling connections is pushed out by
 * every newcomer instead of keeping newcomers out, and a worker with the token only has to finish its
 * handshake before as many newer connections as there are unproven slots arrive. Only when every open
 * connection is proven is a new one refused. (The handshake timeout in {@link ConnectionDeadlines} closes
 * unproven connections that nobody pushes out.)
 *
 * <p>Shared by every connection of a shard across event loops; its bookkeeping is under one lock, taken once
 * per connection opened, proven or closed.
 */
@ChannelHandler.Sharable
final class ConnectionLimit extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(ConnectionLimit.class);

    /** Set while the connection holds a slot; whoever clears it (close or eviction) frees the slot. */
    private static final AttributeKey<Boolean> HOLDS_SLOT = AttributeKey.valueOf("gpups.limit.slot");

    private final int max;
    private final int maxUnproven;
    private int open;
    /** Unproven connections holding a slot, oldest first. */
    private final LinkedHashSet<Channel> unproven = new LinkedHashSet<>();
    private long evicted;

    ConnectionLimit(int max) {
        this.max = max;
        this.maxUnproven = Math.max(1, max / 2);
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        Channel ch = ctx.channel();
        Channel pushedOut = null;
        boolean refused = false;
        synchronized (this) {
            if (open >= max || unproven.size() >= maxUnproven) {
                Iterator<Channel> oldest = unproven.iterator();
                if (oldest.hasNext()) {
                    pushedOut = oldest.next();
                    oldest.remove();
                    pushedOut.attr(HOLDS_SLOT).set(null);
                    open--;
                    evicted++;
                } else {
                    refused = true;
                }
            }
            if (!refused) {
                open++;
                unproven.add(ch);
                ch.attr(HOLDS_SLOT).set(Boolean.TRUE);
            }
        }
        if (refused) {
            log.warn("refusing {}: {} connections open, all past HELLO; the limit is {}", ch.remoteAddress(), max, max);
            ctx.close();
            return;
        }
        if (pushedOut != null) {
            log.debug("closing {}: not past HELLO, and its slot goes to {} ({} unproven slots of {} in all)",
                    pushedOut.remoteAddress(), ch.remoteAddress(), maxUnproven, max);
            pushedOut.close();
        }
        ctx.fireChannelActive();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == Session.PROVEN) {
            synchronized (this) {
                unproven.remove(ctx.channel());
            }
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        Channel ch = ctx.channel();
        synchronized (this) {
            if (ch.attr(HOLDS_SLOT).getAndSet(null) != null) {
                open--;
                unproven.remove(ch);
            }
        }
        ctx.fireChannelInactive();
    }

    synchronized int open() {
        return open;
    }

    synchronized int unproven() {
        return unproven.size();
    }

    /** Unproven connections closed to make room for newer ones, since the shard started. */
    synchronized long evicted() {
        return evicted;
    }
}
