package io.gpups.server.metrics;

import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * {@link ShardEvents} recorded into Micrometer meters with fixed histogram buckets:
 * <ul>
 *   <li>{@code gpups_apply_seconds}: wall time of one optimizer update on the agent thread (under bsp: from
 *       the last gradient's arrival at the agent to the applied step, decode and accumulate included);</li>
 *   <li>{@code gpups_pull_staleness}: for each answered pull, how many of the puller's own past steps may be
 *       missing from some worker's contribution in the parameters it receives:
 *       <b>bsp</b> {@code max(0, clock - version)}, always 0 because a pull is held until the chunk's version
 *       (steps applied) reaches the puller's clock; <b>ssp:S</b> and <b>asp</b>
 *       {@code max(0, clock - slowest worker clock)} at the moment of the answer, bounded by S under ssp and
 *       unbounded under asp (a worker at clock c has pushed every step below c, and pushes apply on arrival);</li>
 *   <li>{@code gpups_pull_parked_seconds}: how long a parked pull (bsp, ssp) waited for its answer.</li>
 * </ul>
 * Recording is lock-free (atomic adds into fixed buckets); the agent thread never waits on a scrape.
 */
public final class ShardEventRecorder implements ShardEvents {

    /**
     * Staleness bucket bounds, in clocks. Staleness is a whole number; Micrometer takes only bounds above 0,
     * so the first bucket, le="0.5", holds exactly the pulls with staleness 0.
     */
    static final double[] STALENESS_BUCKETS = {0.5, 1, 2, 3, 4, 6, 8, 12, 16, 32, 64};

    private static final Duration[] APPLY_BUCKETS = {
        Duration.ofNanos(10_000), Duration.ofNanos(50_000), Duration.ofNanos(100_000), Duration.ofNanos(250_000),
        Duration.ofNanos(500_000), Duration.ofMillis(1), Duration.ofMillis(2), Duration.ofMillis(5), Duration.ofMillis(10),
        Duration.ofMillis(25), Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofSeconds(1)};

    private static final Duration[] PARKED_BUCKETS = {
        Duration.ofNanos(100_000), Duration.ofMillis(1), Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(50),
        Duration.ofMillis(100), Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofSeconds(5), Duration.ofSeconds(30)};

    private final Timer apply;
    private final DistributionSummary staleness;
    private final Timer parked;

    public ShardEventRecorder(MeterRegistry registry, Tags tags) {
        apply = Timer.builder("gpups.apply")
                .description("Wall time of one optimizer update of a chunk on the shard's agent thread")
                .tags(tags).serviceLevelObjectives(APPLY_BUCKETS)
                .register(registry);
        staleness = DistributionSummary.builder("gpups.pull.staleness")
                .description("Clocks of the puller's past steps possibly missing from the parameters a pull received "
                        + "(bsp: 0; ssp, asp: puller clock - slowest worker clock)")
                .tags(tags).serviceLevelObjectives(STALENESS_BUCKETS)
                .register(registry);
        parked = Timer.builder("gpups.pull.parked")
                .description("Time a pull waited, parked, for the version (bsp) or the slowest clock (ssp) it needs")
                .tags(tags).serviceLevelObjectives(PARKED_BUCKETS)
                .register(registry);
    }

    @Override
    public void applied(int elements, long nanos) {
        apply.record(nanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public void pullAnswered(long clocks) {
        staleness.record(clocks);
    }

    @Override
    public void pullParked(long nanos) {
        parked.record(nanos, TimeUnit.NANOSECONDS);
    }
}
