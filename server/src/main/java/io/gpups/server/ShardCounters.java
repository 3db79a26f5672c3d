package io.gpups.server;

/** What a shard has done, written by the agent thread only; read for STATS on that thread. */
final class ShardCounters {

    long pushes;
    long duplicatePushes;
    long pulls;
    long updates;
    long elementsUpdated;
    long applyNanos;
    long waitNanos;
    long waits;
    long bytesPushed;
    long rawBytesPushed;
    long bytesPulled;
    long errors;
    long deviceBytes;

    void recordUpdate(int elements, long nanos) {
        updates++;
        elementsUpdated += elements;
        applyNanos += nanos;
    }

    void recordWait(long nanos) {
        waits++;
        waitNanos += nanos;
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
                + ",\"pulls\":" + pulls
                + ",\"updates\":" + updates
                + ",\"elements_updated\":" + elementsUpdated
                + ",\"apply_seconds\":" + applyNanos / 1e9
                + ",\"parked_pulls\":" + waits
                + ",\"parked_seconds\":" + waitNanos / 1e9
                + ",\"bytes_pushed\":" + bytesPushed
                + ",\"bytes_pushed_raw\":" + rawBytesPushed
                + ",\"bytes_pulled\":" + bytesPulled
                + ",\"errors\":" + errors
                + ",\"queue_depth\":" + queueDepth
                + ",\"slowest_clock\":" + (slowestClock == Long.MAX_VALUE ? -1 : slowestClock)
                + "}";
    }
}
