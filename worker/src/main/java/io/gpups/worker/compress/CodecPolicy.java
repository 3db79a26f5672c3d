package io.gpups.worker.compress;

import io.gpups.core.codec.Codec;
import io.gpups.core.tensor.TensorSpec;

import java.util.Map;

/**
 * Which codec each tensor's gradients travel with: the job's codec, unless the tensor has its own, and
 * never for tensors under {@code minBytes} (compressing a bias saves nothing and costs accuracy).
 *
 * @param codec     the job's codec ({@code --codec})
 * @param minBytes  tensors with fewer fp32 bytes than this go uncompressed ({@code --codec-min-bytes})
 * @param perTensor codecs chosen for single tensors by name; they apply whatever the size
 */
public record CodecPolicy(Codec codec, long minBytes, Map<String, Codec> perTensor) {

    /** Default of {@code --codec-min-bytes}: 64 KiB. */
    public static final long DEFAULT_MIN_BYTES = 64 << 10;

    public static final CodecPolicy NONE = new CodecPolicy(Codec.NONE, DEFAULT_MIN_BYTES, Map.of());

    public CodecPolicy {
        if (codec == null) {
            throw new IllegalArgumentException("codec must be given");
        }
        if (minBytes < 0) {
            throw new IllegalArgumentException("codec min bytes must be >= 0, got " + minBytes);
        }
        perTensor = Map.copyOf(perTensor);
    }

    public static CodecPolicy of(Codec codec, long minBytes) {
        return new CodecPolicy(codec, minBytes, Map.of());
    }

    public Codec codecFor(TensorSpec tensor) {
        Codec chosen = perTensor.get(tensor.name());
        if (chosen != null) {
            return chosen;
        }
        return 4 * tensor.elements() < minBytes ? Codec.NONE : codec;
    }
}
