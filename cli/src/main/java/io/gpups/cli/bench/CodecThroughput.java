package io.gpups.cli.bench;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.RandomKSelection;
import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

/**
 * Encode and decode throughput of one codec on a device, beside the device's memory bandwidth measured in
 * the same run with its own kernels: {@code acc += x} over the same number of elements (read 8, write 4
 * bytes per element, a STREAM-like add). Each rate is the median of timed repetitions of at least
 * {@code seconds / 3} each.
 *
 * @param elements                       elements per encode or decode
 * @param encodeElementsPerSecond        gradient elements encoded per second (with error feedback where the codec has it)
 * @param decodeElementsPerSecond        elements decoded and accumulated per second
 * @param memoryBandwidthBytesPerSecond  the add's bytes moved per second
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

    public static CodecThroughput measure(Device device, Codec codec, int elements, double seconds) {
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
            double encode = rate(seconds / 3, () -> bytes[0] = device.encode(codec, gradient, residual, 0, elements, seed, out));
            ByteBuffer payload = out.duplicate().limit(bytes[0]).order(ByteOrder.LITTLE_ENDIAN);
            double decode = rate(seconds / 3, () -> device.decodeAccumulate(codec.kind(), payload.duplicate(), elements, seed, acc));
            double add = rate(seconds / 3, () -> device.accumulate(acc, gradient, elements));
            return new CodecThroughput(codec, elements, encode * elements, decode * elements, add * elements * 12.0, bytes[0]);
        }
    }

    /** Calls per second of {@code op}: the median of five timed batches, each about {@code seconds / 5}. */
    private static double rate(double seconds, Runnable op) {
        op.run();
        long calls = 1;
        long t0 = System.nanoTime();
        op.run();
        double once = Math.max(1e-7, (System.nanoTime() - t0) / 1e9);
        calls = Math.max(1, (long) (seconds / 5 / once));
        double[] rates = new double[5];
        for (int r = 0; r < rates.length; r++) {
            long start = System.nanoTime();
            for (long c = 0; c < calls; c++) {
                op.run();
            }
            rates[r] = calls / ((System.nanoTime() - start) / 1e9);
        }
        java.util.Arrays.sort(rates);
        return rates[2];
    }
}
