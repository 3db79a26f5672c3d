package io.gpups.worker.train;

import io.gpups.core.tensor.TensorSpec;
import io.gpups.worker.client.PsClient;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The part of {@link PsClient} a {@link Trainer} uses, so that a trainer can also run against
 * {@link InProcessParameters} (one worker, no server). Buffer rules are PsClient's: a buffer handed to
 * {@link #push} or {@link #pull} belongs to the call until its future completes.
 */
public interface ParameterClient {

    PsClient.ClusterInfo cluster();

    CompletableFuture<Void> register(List<TensorSpec> tensors);

    /** Sends the whole gradient of {@code tensor} for {@code step}: little-endian float32 from the buffer's position. */
    CompletableFuture<Void> push(String tensor, long step, ByteBuffer gradient);

    /** Fills {@code destination} from its position with the whole tensor once it has had {@code clock} updates (bsp). */
    CompletableFuture<Long> pull(String tensor, long clock, ByteBuffer destination);

    /** This worker has finished every step below {@code clock}. */
    CompletableFuture<Void> clock(long clock);

    long bytesPushed();

    long pushes();

    /** A view of a connected {@link PsClient}; the client stays the caller's to close. */
    static ParameterClient of(PsClient client) {
        return new ParameterClient() {
            public PsClient.ClusterInfo cluster() {
                return client.cluster();
            }

            public CompletableFuture<Void> register(List<TensorSpec> tensors) {
                return client.register(tensors);
            }

            public CompletableFuture<Void> push(String tensor, long step, ByteBuffer gradient) {
                return client.push(tensor, step, gradient);
            }

            public CompletableFuture<Long> pull(String tensor, long clock, ByteBuffer destination) {
                return client.pull(tensor, clock, destination);
            }

            public CompletableFuture<Void> clock(long clock) {
                return client.clock(clock);
            }

            public long bytesPushed() {
                return client.bytesPushed();
            }

            public long pushes() {
                return client.pushes();
            }
        };
    }
}
