package io.gpups.loadgen;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.RandomKSelection;
import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

/**
 * Encode and decode throughput of one codec on a device, beside the device's memory bandwidth (the triad of
 * {@link DeviceBandwidth}, measured in the same run). Each rate is {@link MedianRate}'s median batch, the
 * batches together about {@code seconds / 2} per direction.
 *
 * @param elements                       elements per encode or decode
 * @param encodeElementsPerSecond        gradient elements encoded per second (with error feedback where the codec has it)
 * @param decodeElementsPerSecond        elements decoded and accumulated per second
 * @param memoryBandwidthBytesPerSecond  the device's triad bandwidth ({@code NaN}: not measured)
 * @param payloadBytes                   one encoded payload's size
 */
public record CodecThroughput(Codec codec, int elements, double encodeElementsPerSecond,
                              double decodeElementsPerSecond, double memoryBandwidthBytesPerSecond, int payloadBytes) {

    /** fp32 gradient bytes the encoder consumes per second, as a fraction of the memory bandwidth. */
    public double encodeFractionOfBandwidth() {
        return 4 * encodeElementsPerSecond / memoryBandwidthBytesPerSecond;
    }

    /** fp32 gradient bytes the decoder produces per second, as a fraction of the memory bandwidth. */
    public double decodeFractionOfBandwidth() {
        return 4 * decodeElementsPerSecond / memoryBandwidthBytesPerSecond;
    }

    /** Measures {@code codec} over {@code elements} random gradient values; see the class comment. */
    public static CodecThroughput measure(Device device, Codec codec, int elements, double seconds,
                                          double memoryBandwidthBytesPerSecond) {
        float[] values = new float[elements];
        Random random = new Random(1);
        for (int i = 0; i < elements; i++) {
            values[i] = (float) random.nextGaussian() * 1e-2f;
        }
        ByteBuffer out = ByteBuffer.allocateDirect(Math.max(1, codec.maxPayloadBytes(elements))).order(ByteOrder.LITTLE_ENDIAN);
        try (DeviceBuffer gradient = device.allocate(elements);
             DeviceBuffer residual = device.allocate(elements);
             DeviceBuffer acc = device.allocate(elements)) {
            device.upload(values, 0, gradient, 0, elements);
            long seed = RandomKSelection.seed("bench/values", 0, 0, 0);
            int[] bytes = new int[1];
            double encode = MedianRate.callsPerSecond(seconds / 2,
                    () -> bytes[0] = device.encode(codec, gradient, residual, 0, elements, seed, out));
            ByteBuffer payload = out.duplicate().limit(bytes[0]).order(ByteOrder.LITTLE_ENDIAN);
            double decode = MedianRate.callsPerSecond(seconds / 2, () -> {
                device.decodeAccumulate(codec.kind(), payload.duplicate(), elements, seed, acc);
                device.synchronize();
            });
            return new CodecThroughput(codec, elements, encode * elements, decode * elements,
                    memoryBandwidthBytesPerSecond, bytes[0]);
        }
    }
}
