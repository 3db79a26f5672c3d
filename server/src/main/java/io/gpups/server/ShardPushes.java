package io.gpups.server;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.RandomKSelection;
import io.gpups.core.config.Consistency;
import io.gpups.core.device.BatchedUpdate;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.ProtocolException;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.function.LongConsumer;

/**
 * PUSH and PUSH_PULL. Under bsp a gradient joins its step's sum and the step's update is applied when every live
 * worker's gradient for it is in; under asp and ssp it is applied at once. Each push runs within a {@link PushBatch}
 * (a batch of one when it runs alone), which says whether its uncompressed update is queued for the batch's device
 * call; the {@link ShardDevice} issues what is queued before any other use of the device. Agent thread only.
 */
final class ShardPushes {

    private final ShardConfig config;
    private final boolean bsp;
    private final ShardDevice device;
    private final ShardTensors tensors;
    private final ShardWorkers workers;
    private final ConsistencyPolicy policy;
    private final NonFinitePushes nonFinite;
    private final ShardCheckpoints checkpoints;
    private final ShardReplies replies;
    private final ShardCounters counters;

    ShardPushes(ShardConfig config, ShardDevice device, ShardTensors tensors, ShardWorkers workers,
                ConsistencyPolicy policy, NonFinitePushes nonFinite, ShardCheckpoints checkpoints, ShardReplies replies,
                ShardCounters counters) {
        this.config = config;
        this.bsp = config.consistency().mode() == Consistency.Mode.BSP;
        this.device = device;
        this.tensors = tensors;
        this.workers = workers;
        this.policy = policy;
        this.nonFinite = nonFinite;
        this.checkpoints = checkpoints;
        this.replies = replies;
        this.counters = counters;
    }

    /** A received gradient, still encoded: it is decoded on the device, inside the kernel that uses it. */
    private record Gradient(Codec.Kind codec, ByteBuffer payload, long seed) {
    }

    /**
     * A gradient for one chunk, answered OK, or with {@code thenPull} with the chunk's parameters after the update
     * (under bsp: after the step), or with the error.
     */
    void push(PushBatch batch, Channel ch, long requestId, int rank, Messages.PushHeader h, ByteBuf values,
              boolean thenPull) {
        try {
            ChunkState chunk = tensors.chunk(h.tensorId(), h.chunk(), thenPull ? "PUSH_PULL" : "PUSH");
            if (h.count() != chunk.length) {
                throw new ProtocolException(ErrorCode.SIZE_MISMATCH, "PUSH to '" + chunk.tensor.spec.name() + "' chunk "
                        + chunk.index + ": " + h.count() + " values, the chunk holds " + chunk.length);
            }
            long seed = h.codec() == Codec.Kind.RANDOMK
                    ? RandomKSelection.seed(chunk.tensor.spec.name(), chunk.index, h.step(), rank) : 0;
            Gradient gradient = new Gradient(h.codec(), values.nioBuffer().order(ByteOrder.LITTLE_ENDIAN), seed);
            counters.pushes++;
            counters.bytesPushed += values.readableBytes();
            counters.rawBytesPushed += 4L * h.count();
            if (bsp) {
                pushBsp(batch, ch, requestId, rank, h, chunk, gradient, thenPull);
            } else {
                long start = device.updateClock();
                ProtocolException refused = null;
                try {
                    apply(batch, chunk, gradient, nonFiniteValues -> refuseIfRejected(
                            nonFinite.found(opcode(thenPull), chunk.tensor.spec.name(), chunk.index, rank,
                                    h.step(), nonFiniteValues, chunk.length)));
                } catch (ProtocolException e) {
                    refused = e; // the fused step ran (over the finite values) and the version moved: an update
                }
                counters.recordUpdate(chunk.length, device.updateClock() - start);
                refuseIfRejected(refused);
                answerPushed(ch, requestId, chunk, h, thenPull);
            }
        } catch (ProtocolException e) {
            replies.error(ch, requestId, e);
        } catch (RuntimeException e) {
            replies.failed(ch, requestId, e);
        }
    }

    private static String opcode(boolean thenPull) {
        return thenPull ? "PUSH_PULL" : "PUSH";
    }

    /**
     * One optimizer step of a chunk with one worker's gradient, decoded in the same pass (or queued, in a batch); the
     * chunk's version moves on. When the decode found non-finite values, {@code onNonFinite} gets their count: now,
     * or once the batch's updates are issued.
     */
    private void apply(PushBatch batch, ChunkState chunk, Gradient g, LongConsumer onNonFinite) {
        if (batch.queues(g.codec())) {
            batch.queue(new BatchedUpdate.OptimizerStep(chunk.tensor.spec.optimizer(), chunk.param, chunk.slots,
                    g.payload(), chunk.length, chunk.version + 1, 1f, nonFinite.guard()), onNonFinite);
            stepped(chunk);
        } else {
            long nonFiniteValues = decodeApply(chunk, g);
            stepped(chunk);
            if (nonFiniteValues != 0) {
                onNonFinite.accept(nonFiniteValues);
            }
        }
    }

    /** The fused decode-and-step of a chunk, now; returns how many gradient values were not finite. */
    private long decodeApply(ChunkState chunk, Gradient g) {
        return device.decodeApplyOptimizer(g.codec(), g.payload(), chunk.length, g.seed(), chunk.tensor.spec.optimizer(),
                chunk.param, chunk.slots, chunk.version + 1, 1f, nonFinite.guard());
    }

    private void stepped(ChunkState chunk) {
        chunk.version++;
        checkpoints.afterUpdate(chunk);
    }

    private static void refuseIfRejected(ProtocolException refusal) {
        if (refusal != null) {
            throw refusal;
        }
    }

    private void pushBsp(PushBatch batch, Channel ch, long requestId, int rank, Messages.PushHeader h, ChunkState chunk,
                         Gradient gradient, boolean thenPull) {
        workers.spoke(rank);
        if (rank < 0) {
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "bsp PUSH needs a worker rank; this connection said HELLO with rank -1");
        }
        if (h.step() != chunk.version) {
            if (h.step() < chunk.version) {
                // Already part of an applied step: a retry. Applying it again would count it twice.
                counters.duplicatePushes++;
                answerPushed(ch, requestId, chunk, h, thenPull);
                return;
            }
            throw new ProtocolException(ErrorCode.STALE_STEP, "bsp PUSH for step " + h.step() + " of '"
                    + chunk.tensor.spec.name() + "' chunk " + chunk.index + ", but the chunk is collecting step " + chunk.version);
        }
        if (chunk.arrived[rank] && nonFinite.policy() == NonFinitePolicy.REJECT) {
            // The gradient that arrived may be a queued one still to be refused: know before calling this a duplicate.
            batch.issueQueued();
        }
        if (chunk.arrived[rank]) {
            counters.duplicatePushes++;
            answerPushed(ch, requestId, chunk, h, thenPull);
            return;
        }
        long start = device.updateClock();
        if (config.workers() == 1) {
            // Never queued: a refused push must not move the version (its worker's next push is for the same step).
            long nonFiniteValues = decodeApply(chunk, gradient);
            if (nonFiniteValues != 0) {
                refuseIfRejected(nonFinite.found(opcode(thenPull), chunk.tensor.spec.name(),
                        chunk.index, rank, h.step(), nonFiniteValues, chunk.length));
            }
            stepped(chunk);
        } else {
            LongConsumer onNonFinite = nonFiniteValues -> nonFiniteBspPush(chunk, rank, h, gradient, nonFiniteValues,
                    thenPull);
            long nonFiniteValues = 0;
            if (batch.queues(gradient.codec())) {
                batch.queue(new BatchedUpdate.Accumulate(chunk.accumulator, gradient.payload(), chunk.length), onNonFinite);
            } else {
                nonFiniteValues = device.decodeAccumulate(gradient.codec(), gradient.payload(), chunk.length,
                        gradient.seed(), chunk.accumulator);
            }
            chunk.arrived[rank] = true;
            chunk.arrivedCount++;
            if (nonFiniteValues != 0) {
                onNonFinite.accept(nonFiniteValues);
            }
            if (everyLiveWorkerArrived(chunk)) {
                batch.issueQueued(); // a queued gradient of this step may yet be refused
                if (everyLiveWorkerArrived(chunk)) {
                    completeStep(chunk);
                }
            }
        }
        if (thenPull) {
            // The pull may wait for the step: whether this push was refused must be known first.
            batch.settle();
        }
        if (chunk.version > h.step()) {
            counters.recordUpdate(chunk.length, device.updateClock() - start);
            policy.versionMoved(chunk);
        }
        answerPushed(ch, requestId, chunk, h, thenPull);
    }

    /**
     * A bsp push whose gradient held {@code nonFiniteValues} NaN or infinite values, already added (its finite values)
     * into the step's sum and marked arrived: counted, logged, and handled as --nonfinite says. Under reject and
     * skip-step its finite values are taken out of the sum again: exactly (the sum is cleared) when it is the step's
     * only gradient so far, else by subtracting them, which leaves each element of the sum within a rounding of what
     * it was. Under reject it then throws the refusal, its worker not arrived; under skip-step it stays arrived with no
     * contribution.
     */
    private void nonFiniteBspPush(ChunkState chunk, int rank, Messages.PushHeader h, Gradient g, long nonFiniteValues,
                                  boolean thenPull) {
        ProtocolException refusal = nonFinite.found(opcode(thenPull), chunk.tensor.spec.name(),
                chunk.index, rank, h.step(), nonFiniteValues, chunk.length);
        if (!nonFinite.dropsContribution()) {
            return;
        }
        if (chunk.arrivedCount - chunk.emptyArrivals == 1) {
            device.fill(chunk.accumulator, 0f, chunk.length);
        } else {
            device.scale(chunk.accumulator, -1f, chunk.length);
            device.decodeAccumulate(g.codec(), g.payload(), chunk.length, g.seed(), chunk.accumulator);
            device.scale(chunk.accumulator, -1f, chunk.length);
        }
        if (refusal != null) {
            chunk.arrived[rank] = false;
            chunk.arrivedCount--;
            throw refusal;
        }
        chunk.emptyArrivals++;
    }

    /** Whether every live worker's gradient for the chunk's current step is in. */
    private boolean everyLiveWorkerArrived(ChunkState chunk) {
        if (chunk.arrivedCount == 0) {
            return false;
        }
        for (int r = 0; r < chunk.arrived.length; r++) {
            if (!chunk.arrived[r] && workers.alive(r)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The step's update with the mean of the gradients that arrived (every worker's, unless some were
     * dropped); the chunk starts collecting the next step.
     */
    private void completeStep(ChunkState chunk) {
        int contributions = chunk.arrivedCount - chunk.emptyArrivals;
        if (contributions > 0) {
            device.applyOptimizer(chunk.tensor.spec.optimizer(), chunk.param, chunk.accumulator, chunk.slots,
                    chunk.length, chunk.version + 1, 1f / contributions);
        }
        device.fill(chunk.accumulator, 0f, chunk.length);
        Arrays.fill(chunk.arrived, false);
        chunk.arrivedCount = 0;
        chunk.emptyArrivals = 0;
        chunk.version++;
        checkpoints.afterUpdate(chunk);
    }

    /** bsp, after workers were dropped: steps that waited only for them complete with the gradients that arrived. */
    void completeStepsOfLiveWorkers() {
        for (TensorState t : tensors.all()) {
            for (ChunkState c : t.chunks.values()) {
                if (everyLiveWorkerArrived(c)) {
                    long start = device.updateClock();
                    completeStep(c);
                    counters.recordUpdate(c.length, device.updateClock() - start);
                    policy.versionMoved(c);
                }
            }
        }
    }

    private void answerPushed(Channel ch, long requestId, ChunkState chunk, Messages.PushHeader h, boolean thenPull) {
        if (thenPull) {
            policy.pull(ch, requestId, Session.rankOf(ch), chunk, h.step() + 1, h.pullDtype());
        } else {
            replies.ok(ch, requestId);
        }
    }
}
