package io.gpups.server;

import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Read back-pressure on the agent's queue, with the queue depth set by the test. */
class AgentBackpressureTest {

    @Test
    void aConnectionIsNotReadWhileTheQueueIsLongAndIsReadAgainOnceItDrains() {
        AtomicLong depth = new AtomicLong();
        AgentBackpressure backpressure = new AgentBackpressure(depth);
        EmbeddedChannel flooder = new EmbeddedChannel();
        EmbeddedChannel other = new EmbeddedChannel();

        depth.set(AgentBackpressure.PAUSE_AT);
        backpressure.requestQueued(flooder);
        assertTrue(flooder.config().isAutoRead(), "at the threshold: still read");

        depth.set(AgentBackpressure.PAUSE_AT + 1);
        backpressure.requestQueued(flooder);
        assertFalse(flooder.config().isAutoRead());
        assertTrue(other.config().isAutoRead(), "a connection that sends nothing is not paused");
        assertEquals(1, backpressure.paused());

        depth.set(AgentBackpressure.RESUME_AT + 1);
        backpressure.resumeIfDrained();
        flooder.runPendingTasks();
        assertFalse(flooder.config().isAutoRead(), "not drained enough yet");

        depth.set(AgentBackpressure.RESUME_AT);
        backpressure.resumeIfDrained();
        flooder.runPendingTasks();
        assertTrue(flooder.config().isAutoRead(), "read again, on its own event loop");
        assertEquals(0, backpressure.paused());
        flooder.finishAndReleaseAll();
        other.finishAndReleaseAll();
    }
}
