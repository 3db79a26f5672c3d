package io.gpups.server;

import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.ProtocolException;
import io.netty.channel.Channel;

import java.util.function.LongSupplier;

/**
 * ssp:S: a pull at clock c is answered once the slowest live worker's clock is at least c - S; the shard's
 * parked pulls wait in one {@link ClockQueue} ordered by c - S, so a rising slowest clock answers every pull it
 * now allows.
 *
 * <p>Bound: a worker pulls at its own clock (the trainer sends CLOCK(t) before it pulls clock t) or one past it
 * (a pipelined PUSH_PULL for step t asks for clock t + 1 before its CLOCK(t + 1)); and a pull within S + 1 of the
 * slowest clock is satisfiable whoever sends it. A pull beyond both, max(own clock, slowest + S) + 1, waits
 * for a clock its own worker has not reported, and is refused.
 */
final class SspPolicy extends AbstractConsistencyPolicy {

    private final long staleness;
    private final ClockQueue queue = new ClockQueue();

    SspPolicy(long staleness, WorkerLiveness liveness, ShardCounters counters, PullAnswer answer, LongSupplier nanoTime) {
        super(liveness, counters, answer, nanoTime);
        this.staleness = staleness;
    }

    @Override
    public void pull(Channel ch, long requestId, int rank, ChunkState chunk, long clock, int dtype) {
        long slowest = slowestClock();
        long readyAt = clock - staleness;
        if (readyAt <= slowest) {
            answer(ch, requestId, chunk, dtype, Math.max(0, clock - slowest));
            return;
        }
        long own = rank >= 0 && rank < liveness.workers() ? workerClock(rank) : -1;
        long limit = saturatedAdd(Math.max(own, saturatedAdd(slowest, staleness)), 1);
        if (clock > limit) {
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "ssp:" + staleness + " PULL of '" + chunk.tensor.spec.name()
                    + "' chunk " + chunk.index + " at clock " + clock + ", but the slowest live clock is " + slowest
                    + (own >= 0 ? " and worker " + rank + "'s own clock is " + own : "")
                    + ": a pull may be at most one clock past the larger of its worker's clock and slowest + " + staleness
                    + " (clock <= " + limit + ")");
        }
        park(queue, readyAt, ch, requestId, chunk, clock, dtype);
    }

    @Override
    public void versionMoved(ChunkState chunk) {
    }

    @Override
    protected void slowestMoved(long slowest) {
        wake(queue, slowest, p -> Math.max(0, p.clock() - slowest));
    }

    @Override
    protected String describeStall() {
        ParkedPull first = queue.first();
        long needed = queue.firstReadyAt();
        return "ssp:" + staleness + " pull of '" + first.chunk().tensor.spec.name() + "' chunk " + first.chunk().index
                + " at clock " + first.clock() + " needs the slowest live clock to reach " + needed + "; worker(s) behind: "
                + liveRanksBelow(needed);
    }
}
