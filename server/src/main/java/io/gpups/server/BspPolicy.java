package io.gpups.server;

import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.ProtocolException;
import io.netty.channel.Channel;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.LongSupplier;

/**
 * bsp: a pull at clock t is answered once its chunk has applied t updates (steps 0..t-1). A worker pulls clock t
 * at step t, after its push for step t-1 was accepted, and a push for step t-1 is accepted only while the chunk
 * collects step t-1 or later: so an honest pull is never more than one step ahead of its chunk, and one that is
 * is refused. Each chunk's parked pulls wait in their own {@link ClockQueue}.
 */
final class BspPolicy extends AbstractConsistencyPolicy {

    /** How far ahead of its chunk's version a pull may be: one step (the one being collected). */
    static final long MAX_STEPS_AHEAD = 1;

    /** The chunks that have parked pulls, with their queues. */
    private final Map<ChunkState, ClockQueue> byChunk = new HashMap<>();

    BspPolicy(WorkerLiveness liveness, ShardCounters counters, PullAnswer answer, LongSupplier nanoTime) {
        super(liveness, counters, answer, nanoTime);
    }

    @Override
    public void pull(Channel ch, long requestId, int rank, ChunkState chunk, long clock, int dtype) {
        if (clock <= chunk.version) {
            answer(ch, requestId, chunk, dtype, 0);
            return;
        }
        if (clock - chunk.version > MAX_STEPS_AHEAD) {
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "bsp PULL of '" + chunk.tensor.spec.name() + "' chunk "
                    + chunk.index + " at clock " + clock + ", but the chunk's version is " + chunk.version
                    + ": a pull may wait for at most the step being collected (clock <= " + (chunk.version + MAX_STEPS_AHEAD) + ")");
        }
        park(byChunk.computeIfAbsent(chunk, c -> new ClockQueue()), clock, ch, requestId, chunk, clock, dtype);
    }

    @Override
    public void versionMoved(ChunkState chunk) {
        ClockQueue queue = byChunk.get(chunk);
        if (queue != null) {
            wake(queue, chunk.version, p -> 0);
            if (queue.isEmpty()) {
                byChunk.remove(chunk);
            }
        }
    }

    @Override
    public void connectionClosed(Channel ch) {
        super.connectionClosed(ch);
        byChunk.values().removeIf(ClockQueue::isEmpty);
    }

    @Override
    protected String describeStall() {
        TreeSet<Integer> missing = new TreeSet<>();
        ChunkState example = null;
        int chunks = 0;
        for (Map.Entry<ChunkState, ClockQueue> e : byChunk.entrySet()) {
            if (e.getValue().isEmpty()) {
                continue;
            }
            ChunkState c = e.getKey();
            chunks++;
            for (int r = 0; r < c.arrived.length; r++) {
                if (!c.arrived[r] && liveness.alive(r)) {
                    missing.add(r);
                    if (example == null) {
                        example = c;
                    }
                }
            }
        }
        if (example == null) {
            return chunks + " chunk(s) wait for their step to complete";
        }
        return "bsp step " + example.version + " of '" + example.tensor.spec.name() + "' chunk " + example.index
                + (chunks > 1 ? " (and " + (chunks - 1) + " other chunk(s))" : "") + " waits for the gradient of worker(s) "
                + missing;
    }
}
