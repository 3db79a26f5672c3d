package io.gpups.server;

import io.gpups.core.codec.Codec;
import io.gpups.core.device.BatchedUpdate;
import io.netty.channel.Channel;

import java.util.HashMap;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * The pushes the agent runs together, handed to the code that pushes ({@link ShardPushes}). It says whether a push's
 * update waits for the batch's {@link io.gpups.core.device.Device#applyBatch} ({@link #queues}) and keeps, per
 * request, the failure of a queued update, so the push's held answer becomes the error. A push run alone gets
 * {@link #alone}, which queues nothing. Agent thread only.
 */
final class PushBatch {

    /** A request, as the key of a failed update. */
    private record Request(Channel ch, long requestId) {
    }

    private final ShardDevice device;
    private final boolean queues;
    private final Map<Request, RuntimeException> failures = new HashMap<>();
    /** The push being run. */
    private Request current;

    private PushBatch(ShardDevice device, boolean queues) {
        this.device = device;
        this.queues = queues;
    }

    /** A batch whose uncompressed updates are queued on {@code device}. */
    static PushBatch of(ShardDevice device) {
        return new PushBatch(device, true);
    }

    /** One push run alone: every update goes to the device at once. */
    static PushBatch alone(ShardDevice device) {
        return new PushBatch(device, false);
    }

    /** The batch goes on with this push. */
    void running(Channel ch, long requestId) {
        current = new Request(ch, requestId);
    }

    /** Whether an update with a gradient of this codec waits for the batch's applyBatch (codec none only). */
    boolean queues(Codec.Kind codec) {
        return queues && codec == Codec.Kind.NONE;
    }

    /**
     * Queues the update of the push being run. When its gradient holds non-finite values, {@code onNonFinite} gets
     * their count once it is issued; what that throws, or a device failure, becomes the push's answer.
     */
    void queue(BatchedUpdate update, LongConsumer onNonFinite) {
        Request owner = current;
        device.queue(update, new ShardDevice.Outcome() {
            @Override
            public void nonFinite(long count) {
                onNonFinite.accept(count);
            }

            @Override
            public void failed(RuntimeException e) {
                failures.put(owner, e);
            }
        });
    }

    /**
     * Issues what is queued so far, so that the outcome of every queued gradient is known (one may yet be refused as
     * non-finite); then throws the failure of the push being run, if its own queued update failed.
     */
    void settle() {
        device.issueQueued();
        RuntimeException failure = failures.remove(current);
        if (failure != null) {
            throw failure;
        }
    }

    /** Issues what is queued so far (the batch is done, or a push must know the outcome of the queued gradients). */
    void issueQueued() {
        device.issueQueued();
    }

    /** The failure of request {@code requestId}'s queued update, or null. */
    RuntimeException failure(Channel ch, long requestId) {
        return failures.get(new Request(ch, requestId));
    }
}
