package io.gpups.server;

import io.gpups.core.codec.Codec;
import io.gpups.core.device.BatchedUpdate;
import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.device.NonFiniteGuard;
import io.gpups.core.optim.OptimizerSpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * The shard's device as the agent uses it. Updates that a batch of pushes queues ({@link #queue}) wait here and go to
 * the device together through {@link Device#applyBatch} (one kernel launch on a GPU). Every other method first issues
 * what is queued, so the device sees every operation in the order the pushes asked for it, and no caller has to
 * remember to. Agent thread only.
 */
final class ShardDevice {

    private static final Logger log = LoggerFactory.getLogger(ShardDevice.class);

    /** What becomes of one queued update once it is issued. */
    interface Outcome {
        /** The update's gradient held {@code count} (not 0) NaN or infinite values; may throw the push's refusal. */
        void nonFinite(long count);

        /** The update failed on the device, or {@link #nonFinite} threw. */
        void failed(RuntimeException e);
    }

    private final Device device;
    private final ShardCounters counters;
    private final LongSupplier nanoTime;
    private List<BatchedUpdate> queued = new ArrayList<>();
    private List<Outcome> outcomes = new ArrayList<>();
    /** Time spent issuing queued updates, kept out of the pushes' own update times (it is counted on its own). */
    private long issueNanos;

    ShardDevice(Device device, ShardCounters counters, LongSupplier nanoTime) {
        this.device = device;
        this.counters = counters;
        this.nanoTime = nanoTime;
    }

    /** Queues an update for the next {@link #issueQueued}; {@code outcome} hears how it went. */
    void queue(BatchedUpdate update, Outcome outcome) {
        queued.add(update);
        outcomes.add(outcome);
    }

    /**
     * Issues the queued updates with one {@link Device#applyBatch} call; does nothing when none is queued. Never
     * throws: a failure goes to the outcome of each update issued, then each update whose gradient held non-finite
     * values has its outcome told the count.
     */
    void issueQueued() {
        if (queued.isEmpty()) {
            return;
        }
        List<BatchedUpdate> updates = queued;
        List<Outcome> told = outcomes;
        queued = new ArrayList<>();
        outcomes = new ArrayList<>();
        long start = nanoTime.getAsLong();
        long[] nonFiniteCounts = null;
        try {
            nonFiniteCounts = device.applyBatch(updates);
            counters.recordUpdateBatch(updates.size());
        } catch (RuntimeException e) {
            log.warn("{} queued update(s) failed on the device; their pushes are answered with the error",
                    updates.size(), e);
            told.forEach(o -> o.failed(e));
        }
        long elapsed = nanoTime.getAsLong() - start;
        issueNanos += elapsed;
        counters.addApplyNanos(elapsed);
        for (int i = 0; nonFiniteCounts != null && i < nonFiniteCounts.length; i++) {
            if (nonFiniteCounts[i] != 0) {
                try {
                    told.get(i).nonFinite(nonFiniteCounts[i]);
                } catch (RuntimeException e) {
                    told.get(i).failed(e);
                }
            }
        }
    }

    /**
     * A clock for the update times of pushes: the shard's clock less the time spent issuing queued updates, which
     * {@link #issueQueued} counts itself, so no time is counted twice.
     */
    long updateClock() {
        return nanoTime.getAsLong() - issueNanos;
    }

    /** The device itself, once what is queued is issued: for code that takes a {@link Device} (a chunk's allocation). */
    Device issuedDevice() {
        issueQueued();
        return device;
    }

    String name() {
        return device.name();
    }

    long decodeApplyOptimizer(Codec.Kind codec, ByteBuffer payload, int count, long seed, OptimizerSpec spec,
                              DeviceBuffer param, DeviceBuffer[] slots, long step, float gradScale, NonFiniteGuard guard) {
        issueQueued();
        return device.decodeApplyOptimizer(codec, payload, count, seed, spec, param, slots, step, gradScale, guard);
    }

    long decodeAccumulate(Codec.Kind codec, ByteBuffer payload, int count, long seed, DeviceBuffer acc) {
        issueQueued();
        return device.decodeAccumulate(codec, payload, count, seed, acc);
    }

    void applyOptimizer(OptimizerSpec spec, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer[] slots, int count,
                        long step, float gradScale) {
        issueQueued();
        device.applyOptimizer(spec, param, grad, slots, count, step, gradScale);
    }

    void fill(DeviceBuffer dst, float value, long count) {
        issueQueued();
        device.fill(dst, value, count);
    }

    void scale(DeviceBuffer x, float alpha, int count) {
        issueQueued();
        device.scale(x, alpha, count);
    }

    int encode(Codec codec, DeviceBuffer source, DeviceBuffer residual, long offset, int count, long seed, ByteBuffer out) {
        issueQueued();
        return device.encode(codec, source, residual, offset, count, seed, out);
    }

    void download(DeviceBuffer src, long srcOffset, int count, ByteBuffer dst) {
        issueQueued();
        device.download(src, srcOffset, count, dst);
    }

    void download(DeviceBuffer src, long srcOffset, float[] dst, int dstOffset, int count) {
        issueQueued();
        device.download(src, srcOffset, dst, dstOffset, count);
    }

    void upload(float[] src, int srcOffset, DeviceBuffer dst, long dstOffset, int count) {
        issueQueued();
        device.upload(src, srcOffset, dst, dstOffset, count);
    }
}
