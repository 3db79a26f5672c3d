package io.gpups.server;

import io.gpups.core.config.Consistency;
import io.netty.channel.Channel;

import java.util.function.LongSupplier;

/**
 * When a shard may answer a pull, one implementation per consistency mode ({@link BspPolicy},
 * {@link SspPolicy}, {@link AspPolicy}): it answers a pull at once, parks it until it is satisfied, or refuses
 * it, and it owns the parked pulls and the workers' clocks. The {@link ShardAgent} calls it on its thread
 * (no locks) whenever something a pull may wait for moves: a chunk's version, a worker's clock, the set of
 * live workers, a connection.
 *
 * <p>Every pull the policy lets wait can be answered by the job going on: one farther ahead than the mode
 * allows is refused at once ({@code BAD_ARGUMENT}, naming both values), and parked pulls are limited per
 * connection and per shard ({@link ParkedPulls.Limits}, {@code OUT_OF_MEMORY} beyond). When a value moves, every
 * parked pull it satisfies is answered, not only the oldest.
 */
interface ConsistencyPolicy {

    /** How a policy answers a pull: the agent sends the chunk's parameters (or the error, should that fail). */
    @FunctionalInterface
    interface PullAnswer {
        void send(Channel ch, long requestId, ChunkState chunk, int dtype);
    }

    static ConsistencyPolicy of(ShardConfig config, WorkerLiveness liveness, ShardCounters counters, PullAnswer answer,
                                LongSupplier nanoTime) {
        Consistency c = config.consistency();
        return switch (c.mode()) {
            case BSP -> new BspPolicy(liveness, counters, answer, nanoTime);
            case SSP -> new SspPolicy(c.staleness(), liveness, counters, answer, nanoTime);
            case ASP -> new AspPolicy(liveness, counters, answer, nanoTime);
        };
    }

    /**
     * A pull of {@code chunk} at {@code clock} from {@code rank} (-1: not a worker): answered now, parked, or
     * refused with a {@link io.gpups.core.protocol.ProtocolException} (nothing is sent then: the caller answers
     * the error).
     */
    void pull(Channel ch, long requestId, int rank, ChunkState chunk, long clock, int dtype);

    /** The chunk's version moved (bsp: a step completed): answers the pulls it satisfies. */
    void versionMoved(ChunkState chunk);

    /** Worker {@code rank} reported {@code clock} (CLOCK): it finished every step below it. */
    void clock(int rank, long clock);

    /** Workers were dropped as silent: pulls that waited only for them are answered. */
    void workersDropped();

    /**
     * A dropped worker spoke again and is live: it rejoins at the current clock (its clock is raised to the
     * slowest live one), so the others do not wait while it catches up.
     */
    void workerRejoined(int rank);

    /** Forgets the parked pulls of a closed connection. */
    void connectionClosed(Channel ch);

    /** The slowest live worker's clock. */
    long slowestClock();

    /**
     * Between tasks: logs, at most once a minute, whom pulls parked for a minute or more (with none answered
     * meanwhile) are waiting for. Returns the line logged, or null.
     */
    String reportStalls();

    /** Pulls parked now. */
    int parkedPulls();

    void limits(ParkedPulls.Limits limits);
}
