package io.gpups.server;

/**
 * What a shard has done, written by the agent thread only; read for STATS on that thread. The fields are
 * volatile so that metric scrapes ({@link ShardMeters}) may read them from another thread without a lock:
 * with a single writer, {@code x++} on a volatile is safe, and a volatile store costs a few nanoseconds.
 */
final class ShardCounters {

    volatile long pushes;
    volatile long duplicatePushes;
    volatile long workersDropped;
    volatile long workersRejoined;
    volatile long pulls;
    volatile long updates;
    volatile long elementsUpdated;
    volatile long applyNanos;
    volatile long waitNanos;
    volatile long waits;
    /** Pulls parked now, waiting for a version or a clock (not a total: it falls as they are answered or dropped). */
    volatile long parkedPulls;
    volatile long bytesPushed;
    volatile long rawBytesPushed;
    volatile long bytesPulled;
    volatile long errors;
    volatile long deviceBytes;
    /** Batches of queued pushes the agent ran together, and the pushes in them. */
    volatile long pushBatches;
    volatile long batchedPushes;
    /** Device batch calls ({@link io.gpups.core.device.Device#applyBatch}) and the updates they applied. */
    volatile long updateBatches;
    volatile long batchedUpdates;
    /** Checkpoint writes that failed or did not read back complete; counted by the checkpoint writer thread. */
    final java.util.concurrent.atomic.AtomicLong checkpointFailures = new java.util.concurrent.atomic.AtomicLong();
    /** Pushes whose decoded gradient held NaN or infinite values, and how many such values they held. */
    volatile long nonFinitePushes;
    volatile long nonFiniteValues;
    /** Latency and staleness distributions; NONE unless the shard has metrics. */
    io.gpups.server.metrics.ShardEvents events = io.gpups.server.metrics.ShardEvents.NONE;

    void recordUpdate(int elements, long nanos) {
        updates++;
        elementsUpdated += elements;
        applyNanos += nanos;
        events.applied(elements, nanos);
    }

    /** Time spent issuing a batch's queued updates; the pushes' own update times leave it out. */
    void addApplyNanos(long nanos) {
        applyNanos += nanos;
    }

    void recordPushBatch(int pushes) {
        pushBatches++;
        batchedPushes += pushes;
    }

    void recordUpdateBatch(int updates) {
        updateBatches++;
        batchedUpdates += updates;
    }

    void recordNonFinite(long values) {
        nonFinitePushes++;
        nonFiniteValues += values;
    }

    void recordWait(long nanos) {
        waits++;
        waitNanos += nanos;
        events.pullParked(nanos);
    }

    /** A pull was answered; {@code staleness} as defined by {@link io.gpups.server.metrics.ShardEventRecorder}. */
    void recordPullAnswered(long staleness) {
        events.pullAnswered(staleness);
    }

    String toJson(ShardConfig config, int tensors, int chunks, long queueDepth, long slowestClock) {
        return "{\"shard\":" + config.shard()
                + ",\"shards\":" + config.shards()
                + ",\"workers\":" + config.workers()
                + ",\"consistency\":\"" + config.consistency() + "\""
                + ",\"tensors\":" + tensors
                + ",\"chunks\":" + chunks
                + ",\"device_bytes\":" + deviceBytes
                + ",\"pushes\":" + pushes
                + ",\"duplicate_pushes\":" + duplicatePushes
                + ",\"workers_dropped\":" + workersDropped
                + ",\"workers_rejoined\":" + workersRejoined
                + ",\"pulls\":" + pulls
                + ",\"updates\":" + updates
                + ",\"elements_updated\":" + elementsUpdated
                + ",\"apply_seconds\":" + applyNanos / 1e9
                + ",\"push_batches\":" + pushBatches
                + ",\"batched_pushes\":" + batchedPushes
                + ",\"update_batches\":" + updateBatches
                + ",\"batched_updates\":" + batchedUpdates
                + ",\"parked_pulls\":" + waits
                + ",\"parked_seconds\":" + waitNanos / 1e9
                + ",\"parked_pulls_now\":" + parkedPulls
                + ",\"bytes_pushed\":" + bytesPushed
                + ",\"bytes_pushed_raw\":" + rawBytesPushed
                + ",\"bytes_pulled\":" + bytesPulled
                + ",\"errors\":" + errors
                + ",\"checkpoint_failures\":" + checkpointFailures.get()
                + ",\"nonfinite_pushes\":" + nonFinitePushes
                + ",\"nonfinite_values\":" + nonFiniteValues
                + ",\"queue_depth\":" + queueDepth
                + ",\"slowest_clock\":" + (slowestClock == Long.MAX_VALUE ? -1 : slowestClock)
                + "}";
    }
}
