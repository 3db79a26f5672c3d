package io.gpups.nativecpu;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.RandomKSelection;
import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.optim.OptimizerSpec;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The codecs on the CPU device: round trips to each codec's definition, the error-feedback invariant,
 * randomk's shared indices, and fused decode-and-apply against decode-then-apply.
 */
class CodecTest {

    /**
     * Shared by the Jupiter tests and the jqwik properties of this class, which run under two engines with
     * separate lifecycles; the process's exit frees it.
     */
    private static final Device DEVICE = new CpuDeviceProvider().open(0);

    private static final Codec[] ALL = {Codec.NONE, Codec.FP16, Codec.BF16, Codec.INT8, Codec.topk(0.05f),
            Codec.randomk(0.1f), Codec.SIGN};

    /** Encodes values (+ residual) and decodes the payload back into a zero buffer. */
    private static final class RoundTrip {
        final float[] decoded;
        final float[] residual;
        final ByteBuffer payload;

        RoundTrip(Codec codec, float[] values, float[] residualIn, long seed) {
            int n = values.length;
            try (DeviceBuffer g = upload(values); DeviceBuffer r = upload(residualIn); DeviceBuffer acc = DEVICE.allocate(Math.max(1, n))) {
                ByteBuffer out = ByteBuffer.allocateDirect(Math.max(1, codec.maxPayloadBytes(n))).order(ByteOrder.LITTLE_ENDIAN);
                int bytes = DEVICE.encode(codec, g, r, 0, n, seed, out);
                assertTrue(bytes <= codec.maxPayloadBytes(n), codec + ": " + bytes + " > max " + codec.maxPayloadBytes(n));
                payload = out.duplicate().limit(bytes).order(ByteOrder.LITTLE_ENDIAN);
                long nonFinite = n > 0 ? DEVICE.decodeAccumulate(codec.kind(), payload.duplicate(), n, seed, acc) : 0;
                decoded = download(acc, n);
                // The device counts non-finite decoded values and keeps them out of the sum; what the codec made of
                // those elements (an fp16 overflow is an infinity) is read from the payload by the plain decoder.
                float[] reference = n > 0 ? ReferenceDecoder.decode(codec.kind(), payload, n, seed) : new float[0];
                int expectedNonFinite = 0;
                for (int i = 0; i < n; i++) {
                    if (!Float.isFinite(reference[i])) {
                        assertEquals(0f, decoded[i], codec + ": element " + i + " is not finite and must not be added");
                        decoded[i] = reference[i];
                        expectedNonFinite++;
                    }
                }
                assertEquals(expectedNonFinite, nonFinite, codec + ": non-finite decoded values");
                residual = download(r, n);
            }
        }
    }

    private static DeviceBuffer upload(float[] values) {
        DeviceBuffer b = DEVICE.allocate(Math.max(1, values.length));
        DEVICE.upload(values, 0, b, 0, values.length);
        return b;
    }

    private static float[] download(DeviceBuffer b, int n) {
        float[] out = new float[n];
        DEVICE.download(b, 0, out, 0, n);
        return out;
    }

    private static float[] gaussian(int n, long seed, float scale) {
        Random random = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) random.nextGaussian() * scale;
        }
        return v;
    }

    // ---- fp16 and bf16 -----------------------------------------------------------------------------

    @Test
    void fp16RoundTripsEveryFiniteHalfAndRoundsTiesToEven() {
        // Every finite half value, encoded and decoded, comes back exactly.
        float[] halves = new float[63488];
        int n = 0;
        for (int h = 0; h < 0x10000; h++) {
            if (((h >> 10) & 0x1f) != 0x1f) {
                halves[n++] = halfToFloat(h);
            }
        }
        RoundTrip exact = new RoundTrip(Codec.FP16, Arrays.copyOf(halves, n), new float[n], 0);
        assertArrayEquals(Arrays.copyOf(halves, n), exact.decoded);
        // Midpoints between neighbouring positive halves go to the one with an even last bit.
        float[] mid = new float[0x7bff];
        float[] expected = new float[0x7bff];
        for (int h = 0; h < 0x7bff; h++) {
            mid[h] = (float) (((double) halfToFloat(h) + halfToFloat(h + 1)) / 2);
            expected[h] = halfToFloat((h & 1) == 0 ? h : h + 1);
        }
        assertArrayEquals(expected, new RoundTrip(Codec.FP16, mid, new float[mid.length], 0).decoded);
        // Overflow: 65519 rounds down to the largest half, 65520 up to infinity.
        float[] big = new RoundTrip(Codec.FP16, new float[] {65519f, 65520f, -1e30f, Float.NaN}, new float[4], 0).decoded;
        assertEquals(65504f, big[0]);
        assertEquals(Float.POSITIVE_INFINITY, big[1]);
        assertEquals(Float.NEGATIVE_INFINITY, big[2]);
        assertTrue(Float.isNaN(big[3]));
    }

    @Property(tries = 300)
    void bf16IsTheNearestBf16TiesToEven(@ForAll("floats") float x) {
        float got = new RoundTrip(Codec.BF16, new float[] {x}, new float[1], 0).decoded[0];
        if (Float.isNaN(x)) {
            assertTrue(Float.isNaN(got));
            return;
        }
        int bits = Float.floatToRawIntBits(x);
        float lo = Float.intBitsToFloat(bits & 0xffff0000);
        float hi = Float.intBitsToFloat((bits & 0xffff0000) + 0x10000);
        double dLo = Math.abs((double) x - lo);
        double dHi = Math.abs((double) x - hi);
        float want = dLo < dHi ? lo : dHi < dLo ? hi : (((bits >>> 16) & 1) == 0 ? lo : hi);
        assertEquals(want, got, 0f, "bf16 of " + x);
    }

    // ---- int8, sign ----------------------------------------------------------------------------------

    @Property(tries = 100)
    void int8ErrorIsAtMostHalfAScalePerElement(@ForAll("values") float[] v) {
        RoundTrip t = new RoundTrip(Codec.INT8, v, new float[v.length], 0);
        for (int b = 0; b < Codec.blocks(v.length); b++) {
            float absmax = 0;
            for (int i = b * 256; i < Math.min(v.length, b * 256 + 256); i++) {
                absmax = Math.max(absmax, Math.abs(v[i]));
            }
            float scale = absmax / 127f;
            assertEquals(scale, t.payload.getFloat(4 * b), "scale of block " + b);
            for (int i = b * 256; i < Math.min(v.length, b * 256 + 256); i++) {
                assertTrue(Math.abs(v[i] - t.decoded[i]) <= scale / 2 * (1 + 1e-5f) + Float.MIN_VALUE,
                        "element " + i + ": " + v[i] + " decoded as " + t.decoded[i] + ", scale " + scale);
                assertEquals(v[i] - t.decoded[i], t.residual[i], Math.ulp(v[i]) * 2, "residual " + i);
            }
        }
    }

    @Property(tries = 100)
    void signSendsTheSignScaledByTheBlocksMeanMagnitude(@ForAll("values") float[] v) {
        RoundTrip t = new RoundTrip(Codec.SIGN, v, new float[v.length], 0);
        for (int b = 0; b < Codec.blocks(v.length); b++) {
            int begin = b * 256;
            int end = Math.min(v.length, begin + 256);
            double sum = 0;
            for (int i = begin; i < end; i++) {
                sum += Math.abs(v[i]);
            }
            float mean = (float) (sum / (end - begin));
            for (int i = begin; i < end; i++) {
                float want = v[i] < 0 ? -t.payload.getFloat(4 * b) : t.payload.getFloat(4 * b);
                assertEquals(want, t.decoded[i], 0f, "element " + i);
                assertEquals(mean, Math.abs(t.decoded[i]), Math.max(1e-30f, mean * 1e-5f), "scale of block " + b);
            }
        }
    }

    // ---- top-k, randomk -----------------------------------------------------------------------------

    /**
     * NaN in top-k's input is never sent and counts as the smallest magnitude in the threshold's sample: the payload is
     * the one for the same values with each NaN as 0 (the GPU path sorts a NaN-free sample to the same threshold).
     */
    @Test
    void topkTreatsNaNAsZeroSoTheThresholdIsDefined() {
        int n = 50_000;
        Codec codec = Codec.topk(0.05f);
        float[] withNaN = gaussian(n, 9, 1f);
        float[] withZero = withNaN.clone();
        java.util.Random random = new java.util.Random(4);
        for (int i = 0; i < n; i++) {
            if (random.nextInt(10) < 3) {
                withNaN[i] = Float.NaN;
                withZero[i] = 0f;
            }
        }
        RoundTrip nan = new RoundTrip(codec, withNaN, new float[n], 0);
        RoundTrip zero = new RoundTrip(codec, withZero, new float[n], 0);
        assertEquals(zero.payload, nan.payload, "the same indices and values are sent");
        for (int i = 0; i < n; i++) {
            if (Float.isNaN(withNaN[i])) {
                assertTrue(Float.isNaN(nan.residual[i]), "a NaN stays in the residual, unsent: element " + i);
            }
        }
    }

    @Test
    void topkSendsTheLargestMagnitudesAndNearlyTheExactTopK() {
        int n = 200_000;
        Codec codec = Codec.topk(0.01f);
        float[] v = gaussian(n, 5, 1f);
        RoundTrip t = new RoundTrip(codec, v, new float[n], 0);
        int k = t.payload.getInt(0);
        assertTrue(k >= 0.8 * codec.targetK(n) && k <= codec.topkCapacity(n), "k " + k + " for target " + codec.targetK(n));
        float minSent = Float.MAX_VALUE;
        float maxKept = 0;
        int sent = 0;
        for (int i = 0; i < n; i++) {
            if (t.decoded[i] != 0) {
                sent++;
                assertEquals(v[i], t.decoded[i], "a sent value is the value itself");
                assertEquals(0f, t.residual[i], "and leaves the residual");
                minSent = Math.min(minSent, Math.abs(v[i]));
            } else {
                assertEquals(v[i], t.residual[i], "an unsent value stays in the residual");
                maxKept = Math.max(maxKept, Math.abs(v[i]));
            }
        }
        assertEquals(k, sent);
        assertTrue(minSent >= maxKept, "every sent magnitude (min " + minSent + ") >= every kept one (max " + maxKept + ")");
        // Reference: the exact top-k by a full sort. The sampled threshold finds a superset or subset of it.
        float[] mags = new float[n];
        for (int i = 0; i < n; i++) {
            mags[i] = Math.abs(v[i]);
        }
        Arrays.sort(mags);
        float exactThreshold = mags[n - codec.targetK(n)];
        int overlap = 0;
        for (int i = 0; i < n; i++) {
            if (Math.abs(v[i]) >= exactThreshold && t.decoded[i] != 0) {
                overlap++;
            }
        }
        assertTrue(overlap >= 0.8 * Math.min(k, codec.targetK(n)), "overlap with the exact top-k: " + overlap);
    }

    @Test
    void randomkIndicesAreTheSeededOnesOnBothSides() {
        int n = 10_007;
        Codec codec = Codec.randomk(0.05f);
        long seed = RandomKSelection.seed("layer0.weight", 3, 17, 1);
        float[] v = gaussian(n, 9, 1f);
        RoundTrip t = new RoundTrip(codec, v, new float[n], seed);
        RandomKSelection sel = RandomKSelection.of(seed, n, codec.targetK(n));
        boolean[] picked = new boolean[n];
        for (int j = 0; j < sel.k(); j++) {
            int i = (int) sel.index(j);
            assertTrue(!picked[i], "index " + i + " picked twice");
            picked[i] = true;
            assertEquals(v[i], t.payload.getFloat(8 + 4 * j), "value " + j + " is element " + i);
        }
        for (int i = 0; i < n; i++) {
            assertEquals(picked[i] ? v[i] : 0f, t.decoded[i], "decoded " + i);
            assertEquals(picked[i] ? 0f : v[i], t.residual[i], "residual " + i);
        }
        assertEquals(8 + 4 * codec.targetK(n), t.payload.limit());
    }

    // ---- error feedback --------------------------------------------------------------------------------

    @Test
    void transmittedPlusResidualEqualsTheSumOfGradients() {
        int n = 3000;
        for (Codec codec : new Codec[] {Codec.INT8, Codec.SIGN, Codec.topk(0.01f), Codec.randomk(0.02f)}) {
            double[] sumGrad = new double[n];
            double[] sumSent = new double[n];
            try (DeviceBuffer r = DEVICE.allocate(n); DeviceBuffer g = DEVICE.allocate(n); DeviceBuffer acc = DEVICE.allocate(n)) {
                ByteBuffer out = ByteBuffer.allocateDirect(codec.maxPayloadBytes(n)).order(ByteOrder.LITTLE_ENDIAN);
                for (int step = 0; step < 60; step++) {
                    float[] grad = gaussian(n, 100 + step, 0.01f + step * 0.001f);
                    DEVICE.upload(grad, 0, g, 0, n);
                    long seed = RandomKSelection.seed("w", 0, step, 0);
                    int bytes = DEVICE.encode(codec, g, r, 0, n, seed, out);
                    DEVICE.fill(acc, 0f, n);
                    DEVICE.decodeAccumulate(codec.kind(), out.duplicate().limit(bytes), n, seed, acc);
                    float[] sent = download(acc, n);
                    for (int i = 0; i < n; i++) {
                        sumGrad[i] += grad[i];
                        sumSent[i] += sent[i];
                    }
                }
                float[] residual = download(r, n);
                for (int i = 0; i < n; i++) {
                    assertEquals(sumGrad[i], sumSent[i] + residual[i], 1e-4, codec + " element " + i);
                }
            }
        }
    }

    // ---- fused decode+apply ----------------------------------------------------------------------------

    @Test
    void fusedDecodeApplyEqualsDecodeThenApply() {
        int n = 1000;
        for (Codec codec : ALL) {
            for (OptimizerSpec spec : new OptimizerSpec[] {OptimizerSpec.defaults("adam", 1e-3f),
                    new OptimizerSpec.Momentum(0.1f, 0.9f, 1e-4f), new OptimizerSpec.Adagrad(0.1f, 1e-10f, 0.1f, 0f)}) {
                float[] v = gaussian(n, 3, 1f);
                RoundTrip t = new RoundTrip(codec, v, new float[n], 77);
                float[] fused = applyTwice(spec, (param, slots, step) ->
                        DEVICE.decodeApplyOptimizer(codec.kind(), t.payload.duplicate(), n, 77, spec, param, slots, step, 0.5f));
                float[] separate = applyTwice(spec, (param, slots, step) -> {
                    try (DeviceBuffer grad = upload(t.decoded)) {
                        DEVICE.applyOptimizer(spec, param, grad, slots, n, step, 0.5f);
                    }
                });
                assertArrayEquals(separate, fused, codec + " with " + spec.kind());
            }
        }
    }

    private interface Step {
        void apply(DeviceBuffer param, DeviceBuffer[] slots, long step);
    }

    private static float[] applyTwice(OptimizerSpec spec, Step step) {
        int n = 1000;
        DeviceBuffer param = upload(gaussian(n, 4, 0.1f));
        DeviceBuffer[] slots = new DeviceBuffer[spec.slots()];
        for (int i = 0; i < slots.length; i++) {
            slots[i] = DEVICE.allocate(n);
        }
        try {
            step.apply(param, slots, 1);
            step.apply(param, slots, 2);
            return download(param, n);
        } finally {
            param.close();
            for (DeviceBuffer s : slots) {
                s.close();
            }
        }
    }

    // ---- generators ----------------------------------------------------------------------------------

    @Property(tries = 60)
    void everyCodecRoundTripsAnySizeWithinItsBound(@ForAll("values") float[] v) {
        for (Codec codec : ALL) {
            RoundTrip t = new RoundTrip(codec, v, new float[v.length], 11);
            for (int i = 0; i < v.length; i++) {
                float d = t.decoded[i];
                switch (codec.kind()) {
                    case NONE -> assertEquals(v[i], d, 0f, "none restores element " + i);
                    case FP16 -> assertTrue(Float.isInfinite(d) || Math.abs(d - v[i]) <= Math.max(Math.abs(v[i]) / 1024f, 6e-8f),
                            "fp16 of " + v[i] + " is " + d);
                    case BF16 -> assertTrue(Math.abs(d - v[i]) <= Math.max(Math.abs(v[i]) / 128f, 0x1.0p-133f), "bf16 of " + v[i] + " is " + d);
                    default -> assertEquals(v[i], d + t.residual[i], 2 * Math.max(Math.ulp(v[i]), Math.ulp(d)),
                            codec + ": decoded + residual restores element " + i);
                }
            }
        }
    }

    @Provide
    Arbitrary<float[]> values() {
        Arbitrary<Float> element = Arbitraries.oneOf(
                Arbitraries.floats().between(-1e3f, 1e3f),
                Arbitraries.of(0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, 1e-40f, 1e30f, -1e30f, 0.5f, 1.5f, 2.5f),
                Arbitraries.floats().between(-1f, 1f).map(f -> f * 1e-6f));
        return element.array(float[].class).ofMinSize(0).ofMaxSize(700)
                .edgeCases(e -> e.add(new float[0], new float[1], new float[255], new float[257], new float[31], new float[33]));
    }

    @Provide
    Arbitrary<Float> floats() {
        return Arbitraries.oneOf(
                Arbitraries.integers().map(Float::intBitsToFloat).filter(f -> !Float.isInfinite(f) && Math.abs(f) < 3e38f),
                Arbitraries.of(0f, -0f, Float.MIN_VALUE, 1.00390625f, 1.01171875f, Float.NaN));
    }

    /** IEEE binary16 to float, straight from the definition. */
    static float halfToFloat(int h) {
        int sign = (h & 0x8000) != 0 ? -1 : 1;
        int e = (h >> 10) & 0x1f;
        int m = h & 0x3ff;
        if (e == 0) {
            return sign * m * 0x1.0p-24f;
        }
        return sign * (1 + m / 1024f) * (float) Math.pow(2, e - 15);
    }
}
