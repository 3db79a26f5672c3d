package io.gpups.core.net;

import io.netty.channel.ChannelHandler;
import io.netty.handler.flush.FlushConsolidationHandler;

/**
 * One socket write for many frames. Shards answer from their agent thread and clients send from their callers'
 * threads, each frame with its own {@code writeAndFlush}; flushed one by one, every small frame costs a system
 * call of its own. With this handler in a pipeline, a flush made outside the event loop's read is deferred to one
 * task on the loop, so the frames queued meanwhile leave in one {@code writev}; a flush made while the loop reads
 * goes out when the read batch completes.
 */
public final class FlushBatching {

    /** Pipeline name of the handler. */
    public static final String NAME = "flushes";

    /** Frames after which a flush goes out at once, so that a burst never waits for the loop's task. */
    static final int MAX_FRAMES_PER_FLUSH = 256;

    private FlushBatching() {
    }

    /** A new handler for one channel's pipeline; place it on the socket side of the handlers that write frames. */
    public static ChannelHandler handler() {
        return new FlushConsolidationHandler(MAX_FRAMES_PER_FLUSH, true);
    }
}
