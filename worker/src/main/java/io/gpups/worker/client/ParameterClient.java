package io.gpups.worker.client;

import io.gpups.core.codec.Codec;
import io.gpups.core.tensor.ChunkLayout;
import io.gpups.core.tensor.TensorSpec;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The part of {@link PsClient} a {@link io.gpups.worker.train.Trainer} uses, so that a trainer can also run against
 * an in-process store in tests (one worker, no server). Buffer rules are PsClient's: a buffer handed to
 * {@link #push} or {@link #pull} belongs to the call until its future completes.
 */
public interface ParameterClient {

    PsClient.ClusterInfo cluster();

    CompletableFuture<Void> register(List<TensorSpec> tensors);

    /** Sends the whole gradient of {@code tensor} for {@code step}: little-endian float32 from the buffer's position. */
    CompletableFuture<Void> push(String tensor, long step, ByteBuffer gradient);

    /**
     * Sends a gradient already encoded chunk by chunk with {@code codec} (one payload per chunk of
     * {@link #layout}); each payload's remaining bytes are sent and belong to the call until it completes.
     */
    CompletableFuture<Void> push(String tensor, long step, Codec codec, ByteBuffer[] chunkPayloads);

    /** How a registered tensor is cut into chunks. */
    ChunkLayout layout(String tensor);

    /** Fills {@code destination} from its position with the whole tensor once it has had {@code clock} updates (bsp). */
    CompletableFuture<Long> pull(String tensor, long clock, ByteBuffer destination);

    /** This worker has finished every step below {@code clock}. */
    CompletableFuture<Void> clock(long clock);

    /**
     * The job's clock as the shards see it: the smallest, over shards, of the slowest live worker's clock (0 in a
     * new job). A worker that joins a job under asp or ssp starts there.
     */
    default long slowestClock() {
        return 0;
    }

    /**
     * After a request failed because a shard's connection went away: reconnects (and registers again) with
     * backoff, for up to {@code timeoutMillis}; throws {@link PsException} when a shard does not come back.
     */
    void reconnect(long timeoutMillis);

    /** Per shard, in shard order: the highest chunk version its pull answers have carried, -1 before the first. */
    default long[] versionsSeen() {
        return new long[0];
    }

    /**
     * Per shard, in shard order, asked now: the highest version among the first chunk of each tensor it holds
     * (-1 for a shard holding none); all at 0 means the shard holds its initial values.
     */
    default CompletableFuture<long[]> versionsNow() {
        return CompletableFuture.completedFuture(new long[0]);
    }

    /** Gradient bytes sent so far, as encoded (what crossed the wire). */
    long bytesPushed();

    /** Gradient bytes sent so far counted as fp32 (what they would have been uncompressed). */
    long rawBytesPushed();

    long pushes();
}
