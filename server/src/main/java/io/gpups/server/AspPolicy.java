package io.gpups.server;

import io.netty.channel.Channel;

import java.util.function.LongSupplier;

/**
 * asp: every pull is answered at once, whatever its clock; its staleness is how far its clock is ahead of the
 * slowest live worker's. Nothing is ever parked.
 */
final class AspPolicy extends AbstractConsistencyPolicy {

    AspPolicy(WorkerLiveness liveness, ShardCounters counters, PullAnswer answer, LongSupplier nanoTime) {
        super(liveness, counters, answer, nanoTime);
    }

    @Override
    public void pull(Channel ch, long requestId, int rank, ChunkState chunk, long clock, int dtype) {
        answer(ch, requestId, chunk, dtype, Math.max(0, clock - slowestClock()));
    }

    @Override
    public void versionMoved(ChunkState chunk) {
    }

    @Override
    protected String describeStall() {
        return "asp parks nothing";
    }
}
