package io.gpups.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** For tests that hold a shard's agent while requests queue behind it. */
final class AgentQueue {

    private AgentQueue() {
    }

    /**
     * Waits until exactly {@code tasks} tasks wait for {@code server}'s agent. It waits on the queue, not on time: the
     * 10 s deadline only bounds a broken run, which then fails naming the depth it saw.
     */
    static void await(ShardServer server, long tasks) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (server.agent().queueDepth() != tasks && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        assertEquals(tasks, server.agent().queueDepth(), "tasks queued for the agent");
    }
}
