package io.gpups.server.metrics;

/**
 * What a shard agent reports as it happens, for distributions that a counter cannot hold (apply latency,
 * pull staleness). Called on the agent thread only, once per applied update or answered pull, so an
 * implementation must be cheap and must not block: Micrometer's timers and summaries record with atomic
 * adds, no locks. {@link #NONE} does nothing and is what a shard without metrics uses.
 */
public interface ShardEvents {

    ShardEvents NONE = new ShardEvents() {
    };

    /** One optimizer update of {@code elements} elements took {@code nanos} on the agent thread. */
    default void applied(int elements, long nanos) {
    }

    /**
     * A pull (or the pull half of a PUSH_PULL) was answered with parameters that may lack {@code staleness}
     * of the puller's past steps (see {@link ShardEventRecorder} for the definition per consistency model).
     */
    default void pullAnswered(long staleness) {
    }

    /** A pull that had been parked (bsp or ssp) waited {@code nanos} before its answer. */
    default void pullParked(long nanos) {
    }
}
