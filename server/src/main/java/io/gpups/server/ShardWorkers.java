package io.gpups.server;

import io.gpups.core.config.Consistency;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which workers count, as the agent keeps them: drops those silent past the worker timeout, and takes back a dropped
 * one that speaks again, telling the consistency policy of both. Agent thread only (event loops record what they hear
 * in the {@link WorkerLiveness} themselves).
 */
final class ShardWorkers {

    private static final Logger log = LoggerFactory.getLogger(ShardWorkers.class);

    private final ShardConfig config;
    private final WorkerLiveness liveness;
    private final ConsistencyPolicy policy;
    private final ShardCounters counters;

    ShardWorkers(ShardConfig config, WorkerLiveness liveness, ConsistencyPolicy policy, ShardCounters counters) {
        this.config = config;
        this.liveness = liveness;
        this.policy = policy;
        this.counters = counters;
    }

    /** A request from {@code rank} (-1: not a worker): a dropped worker that speaks again is back. */
    void spoke(int rank) {
        if (rank >= 0 && liveness.revive(rank)) {
            counters.workersRejoined++;
            policy.workerRejoined(rank);
            log.info("worker {} is back: it rejoins at the current {}", rank,
                    config.consistency().mode() == Consistency.Mode.BSP ? "version" : "clock, " + policy.slowestClock());
        }
    }

    /** Drops the workers silent past the timeout, counted and logged; returns whether any was dropped. */
    boolean dropSilent() {
        int[] dropped = liveness.expire();
        for (int r : dropped) {
            counters.workersDropped++;
            log.warn("worker {} silent for {} s (worker timeout {} ms): dropped; {} live worker(s) carry on",
                    r, String.format("%.1f", liveness.silentSeconds(r)), config.workerTimeoutMillis(), liveness.live());
        }
        return dropped.length > 0;
    }

    boolean alive(int rank) {
        return liveness.alive(rank);
    }
}
