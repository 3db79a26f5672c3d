package io.gpups.server;

import io.netty.channel.Channel;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Read back-pressure on the agent's task queue. Event loops decode requests far faster than one agent thread
 * serves them, and a client that pipelines millions of requests (pulls that will only be refused, say) would
 * otherwise queue them all on the heap. Once more than {@link #PAUSE_AT} tasks wait, a connection that hands
 * the agent another request stops being read ({@code autoRead} off); when the queue is down to
 * {@link #RESUME_AT}, the agent turns reading back on for every connection it paused. Requests are only
 * delayed, never dropped: each still gets its one answer.
 */
final class AgentBackpressure {

    /** Queued tasks above which connections that add more stop being read. */
    static final long PAUSE_AT = 65_536;
    /** Queued tasks at or below which paused connections are read again. */
    static final long RESUME_AT = 16_384;

    private final AtomicLong queueDepth;
    private final Set<Channel> paused = ConcurrentHashMap.newKeySet();

    AgentBackpressure(AtomicLong queueDepth) {
        this.queueDepth = queueDepth;
    }

    /** Event loop, after {@code ch} handed the agent a request: pauses reading it while the queue is long. */
    void requestQueued(Channel ch) {
        if (queueDepth.get() > PAUSE_AT && ch.config().isAutoRead()) {
            ch.config().setAutoRead(false);
            paused.add(ch);
        }
    }

    /** Agent thread, between tasks: reads paused connections again once the queue is short. */
    void resumeIfDrained() {
        if (paused.isEmpty() || queueDepth.get() > RESUME_AT) {
            return;
        }
        for (Channel ch : paused) {
            paused.remove(ch);
            ch.eventLoop().execute(() -> ch.config().setAutoRead(true));
        }
    }

    /** Connections not being read now. */
    int paused() {
        return paused.size();
    }
}
