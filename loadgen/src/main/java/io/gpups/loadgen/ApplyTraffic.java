package io.gpups.loadgen;

import io.gpups.core.codec.Codec;
import io.gpups.core.optim.OptimizerSpec;

/**
 * Memory bytes one optimizer update touches per parameter element on a shard: the parameter and every state
 * slot are read and written (4 bytes each way), and the gradient is read once. Adam without a codec: read
 * p, g, m, v, write p, m, v = 28 bytes. With a codec the shard decodes inside the update kernel, so the
 * gradient term is the payload's bytes per element (int8: about 1, sign: about 0.16, top-k: 8 per sent
 * element, at the codec's target k); the scratch buffer a sparse codec's kernel may clear is not counted, so for top-k and
 * random-k this is a lower bound.
 */
public final class ApplyTraffic {

    private ApplyTraffic() {
    }

    /** Bytes per element of one update of {@code optimizer} with gradients encoded by {@code codec}. */
    public static double bytesPerElement(OptimizerSpec optimizer, Codec codec, int chunkElements) {
        double state = 4.0 * 2 * (1 + optimizer.slots());
        double payload = switch (codec.kind()) {
            // The sparse codecs send about their target k (top-k's capacity is only an upper bound).
            case TOPK -> 8 + 8.0 * codec.targetK(chunkElements);
            case RANDOMK -> 8 + 4.0 * codec.targetK(chunkElements);
            default -> codec.maxPayloadBytes(chunkElements);
        };
        return state + payload / chunkElements;
    }
}
