package io.gpups.nativecpu;

import io.gpups.core.codec.Codec;
import io.gpups.core.device.BatchedUpdate;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.device.NonFiniteGuard;
import io.gpups.core.optim.OptimizerSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Non-finite decoded gradients in the fused decode kernels of the CPU device: for every codec whose decoded values
 * can be NaN, +Inf or -Inf, the decode counts them exactly (at the first element, in the vectorized body and in the
 * scalar tail) and keeps them out of the accumulator, the parameters and the optimizer state. The expected values
 * come from a plain-Java decoder of each payload layout ({@link ReferenceDecoder}) and, for the optimizer, from the
 * unguarded step over that decoded gradient with the non-finite values replaced by 0.
 */
class NonFiniteDecodeTest {

    /** Two threads, so payloads past {@link RangeSplitter#MIN_SLICE} elements are decoded in two slices. */
    private static final CpuDevice DEVICE = new CpuDevice(1, 2);

    /** Not a multiple of 4, 16 or 256: every loop has a scalar tail and the last int8/sign block is short. */
    private static final int N = 1003;
    /** Past two minimum slices: split over the device's two threads. */
    private static final int SPLIT_N = 2 * (int) RangeSplitter.MIN_SLICE + 7;

    private static final float NAN = Float.NaN;
    private static final float POS = Float.POSITIVE_INFINITY;
    private static final float NEG = Float.NEGATIVE_INFINITY;

    @AfterAll
    static void close() {
        DEVICE.close();
    }

    // ---- payloads with non-finite values where a test wants them --------------------------------------

    private static ByteBuffer buffer(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static float[] gaussian(int n, long seed) {
        Random random = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }

    /** n floats with NaN, +Inf, -Inf at the first element, in the middle and at the last two (the tail). */
    private static float[] poisoned(int n) {
        float[] v = gaussian(n, n);
        v[0] = NAN;
        v[n / 2] = POS;
        v[n / 2 + 1] = NEG;
        v[n - 2] = NEG;
        v[n - 1] = NAN;
        return v;
    }

    private static ByteBuffer f32(float[] v) {
        ByteBuffer b = buffer(4 * v.length);
        for (int i = 0; i < v.length; i++) {
            b.putFloat(4 * i, v[i]);
        }
        return b;
    }

    /** fp16 or bf16 halves of v; NaN and the infinities map to their own 16-bit patterns. */
    private static ByteBuffer halves(float[] v, boolean bf16) {
        ByteBuffer b = buffer(2 * v.length);
        for (int i = 0; i < v.length; i++) {
            short h;
            if (Float.isNaN(v[i])) {
                h = (short) (bf16 ? 0x7fc0 : 0x7e00);
            } else if (v[i] == POS) {
                h = (short) (bf16 ? 0x7f80 : 0x7c00);
            } else if (v[i] == NEG) {
                h = (short) (bf16 ? 0xff80 : 0xfc00);
            } else {
                h = bf16 ? (short) (Float.floatToRawIntBits(v[i]) >>> 16) : (short) 0x3c00;  // bf16 truncated; fp16 1.0
            }
            b.putShort(2 * i, h);
        }
        return b;
    }

    /** int8 or sign payload: block scales (a non-finite one poisons its block), then random quantized bytes or words. */
    private static ByteBuffer blockScaled(int n, boolean sign, float[] scales) {
        int blocks = Codec.blocks(n);
        int body = sign ? 4 * Codec.words(n) : n;
        ByteBuffer b = buffer(4 * blocks + body);
        for (int k = 0; k < blocks; k++) {
            b.putFloat(4 * k, scales[k]);
        }
        Random random = new Random(7);
        for (int i = 0; i < body; i++) {
            b.put(4 * blocks + i, (byte) random.nextInt(256));
        }
        return b;
    }

    private static float[] blockScales(int n) {
        float[] scales = new float[Codec.blocks(n)];
        for (int k = 0; k < scales.length; k++) {
            scales[k] = 0.01f * (k + 1);
        }
        scales[0] = NAN;
        scales[scales.length - 1] = POS;  // the short last block
        if (scales.length > 2) {
            scales[1] = NEG;
        }
        return scales;
    }

    /** topk: k ascending indices, k values; randomk: k values at the seed's indices. */
    private static ByteBuffer sparse(boolean topk, int n, float[] values, int[] indices) {
        int k = values.length;
        ByteBuffer b = buffer(8 + (topk ? 8 : 4) * k);
        b.putInt(0, k);
        b.putInt(4, 0);
        for (int j = 0; j < k; j++) {
            if (topk) {
                b.putInt(8 + 4 * j, indices[j]);
                b.putFloat(8 + 4 * k + 4 * j, values[j]);
            } else {
                b.putFloat(8 + 4 * j, values[j]);
            }
        }
        return b;
    }

    private static int nonFinite(float[] d) {
        int count = 0;
        for (float v : d) {
            count += Float.isFinite(v) ? 0 : 1;
        }
        return count;
    }

    /** One payload of one codec with its decode's expected count. */
    private record Case(String name, Codec.Kind kind, ByteBuffer payload, int n, long seed) {
    }

    private static List<Case> cases(int n) {
        List<Case> cases = new ArrayList<>();
        float[] v = poisoned(n);
        cases.add(new Case("none", Codec.Kind.NONE, f32(v), n, 0));
        cases.add(new Case("fp16", Codec.Kind.FP16, halves(v, false), n, 0));
        cases.add(new Case("bf16", Codec.Kind.BF16, halves(v, true), n, 0));
        cases.add(new Case("int8 scales", Codec.Kind.INT8, blockScaled(n, false, blockScales(n)), n, 0));
        cases.add(new Case("sign scales", Codec.Kind.SIGN, blockScaled(n, true, blockScales(n)), n, 0));
        int k = 9;
        int[] indices = new int[k];
        float[] values = new float[k];
        for (int j = 0; j < k; j++) {
            indices[j] = j * (n / k) + (j == k - 1 ? n - 1 - (k - 1) * (n / k) : 0);
            values[j] = 0.5f * (j + 1);
        }
        values[0] = NAN;
        values[4] = POS;
        values[k - 1] = NEG;
        cases.add(new Case("topk values", Codec.Kind.TOPK, sparse(true, n, values, indices), n, 0));
        cases.add(new Case("randomk values", Codec.Kind.RANDOMK, sparse(false, n, values, null), n, 42L));
        return cases;
    }

    private static DeviceBuffer upload(float[] values) {
        DeviceBuffer b = DEVICE.allocate(values.length);
        DEVICE.upload(values, 0, b, 0, values.length);
        return b;
    }

    private static float[] download(DeviceBuffer b, int n) {
        float[] out = new float[n];
        DEVICE.download(b, 0, out, 0, n);
        return out;
    }

    // ---- decode + accumulate ---------------------------------------------------------------------------

    @Test
    void decodeAccumulateCountsNonFiniteValuesAndLeavesTheirSumsAlone() {
        for (int n : new int[] {N, SPLIT_N}) {
            for (Case c : cases(n)) {
                float[] decoded = ReferenceDecoder.decode(c.kind(), c.payload(), n, c.seed());
                int expectedCount = nonFinite(decoded);
                assertEquals(true, expectedCount >= 3, c.name() + ": the case must hold non-finite values");
                float[] before = gaussian(n, 3);
                float[] expected = before.clone();
                for (int i = 0; i < n; i++) {
                    if (Float.isFinite(decoded[i])) {
                        expected[i] = before[i] + decoded[i];
                    }
                }
                try (DeviceBuffer acc = upload(before)) {
                    long count = DEVICE.decodeAccumulate(c.kind(), c.payload().duplicate(), n, c.seed(), acc);
                    assertEquals(expectedCount, count, c.name() + " n=" + n + ": non-finite count");
                    assertArrayEquals(expected, download(acc, n), c.name() + " n=" + n + ": accumulator");
                }
            }
        }
    }

    @Test
    void anAllNanPushLeavesTheAccumulatorBitForBit() {
        float[] nan = new float[N];
        java.util.Arrays.fill(nan, NAN);
        float[] before = gaussian(N, 5);
        before[3] = -0.0f;  // adding 0 would turn it into +0
        try (DeviceBuffer acc = upload(before)) {
            assertEquals(N, DEVICE.decodeAccumulate(Codec.Kind.NONE, f32(nan), N, 0, acc));
            float[] after = download(acc, N);
            for (int i = 0; i < N; i++) {
                assertEquals(Float.floatToRawIntBits(before[i]), Float.floatToRawIntBits(after[i]), "element " + i);
            }
        }
    }

    // ---- decode + apply optimizer -----------------------------------------------------------------------

    private static final OptimizerSpec[] OPTIMIZERS = {
            new OptimizerSpec.Sgd(0.1f, 1e-3f),
            new OptimizerSpec.Momentum(0.1f, 0.9f, 1e-4f),
            new OptimizerSpec.Nesterov(0.1f, 0.9f, 1e-4f),
            new OptimizerSpec.Adagrad(0.1f, 1e-10f, 0.1f, 1e-4f),
            new OptimizerSpec.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, 1e-4f),
            new OptimizerSpec.AdamW(1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f)};

    /** Parameters and slots (slots non-zero, so a skipped element is told from a stepped one with gradient 0). */
    private static DeviceBuffer[] state(OptimizerSpec spec, int n) {
        DeviceBuffer[] s = new DeviceBuffer[1 + spec.slots()];
        s[0] = upload(gaussian(n, 11));
        for (int k = 1; k < s.length; k++) {
            float[] slot = gaussian(n, 11 + k);
            for (int i = 0; i < n; i++) {
                slot[i] = Math.abs(slot[i]) * 0.01f;  // adagrad's and adam's second moments are >= 0
            }
            s[k] = upload(slot);
        }
        return s;
    }

    private static float[][] read(DeviceBuffer[] s, int n) {
        float[][] out = new float[s.length][];
        for (int k = 0; k < s.length; k++) {
            out[k] = download(s[k], n);
        }
        return out;
    }

    private static void close(DeviceBuffer[] s) {
        for (DeviceBuffer b : s) {
            b.close();
        }
    }

    private static DeviceBuffer[] slots(DeviceBuffer[] s) {
        return java.util.Arrays.copyOfRange(s, 1, s.length);
    }

    @Test
    void decodeApplyCountsNonFiniteGradientsAndSkipsOrZeroesTheirElements() {
        long step = 3;
        for (int n : new int[] {N, SPLIT_N}) {
            for (Case c : cases(n)) {
                float[] decoded = ReferenceDecoder.decode(c.kind(), c.payload(), n, c.seed());
                int expectedCount = nonFinite(decoded);
                float[] zeroed = decoded.clone();
                for (int i = 0; i < n; i++) {
                    zeroed[i] = Float.isFinite(zeroed[i]) ? zeroed[i] : 0f;
                }
                for (OptimizerSpec spec : OPTIMIZERS) {
                    DeviceBuffer[] reference = state(spec, n);
                    DeviceBuffer[] skip = state(spec, n);
                    DeviceBuffer[] zero = state(spec, n);
                    try (DeviceBuffer grad = upload(zeroed)) {
                        float[][] before = read(skip, n);
                        DEVICE.applyOptimizer(spec, reference[0], grad, slots(reference), n, step, 0.5f);
                        float[][] stepped = read(reference, n);
                        String what = c.name() + " n=" + n + " " + spec.kind();
                        assertEquals(expectedCount, DEVICE.decodeApplyOptimizer(c.kind(), c.payload().duplicate(), n,
                                c.seed(), spec, skip[0], slots(skip), step, 0.5f, NonFiniteGuard.SKIP), what + " skip: count");
                        assertEquals(expectedCount, DEVICE.decodeApplyOptimizer(c.kind(), c.payload().duplicate(), n,
                                c.seed(), spec, zero[0], slots(zero), step, 0.5f, NonFiniteGuard.ZERO), what + " zero: count");
                        float[][] skipped = read(skip, n);
                        float[][] zeroedState = read(zero, n);
                        for (int k = 0; k < skipped.length; k++) {
                            float[] expected = stepped[k].clone();
                            for (int i = 0; i < n; i++) {
                                if (!Float.isFinite(decoded[i])) {
                                    expected[i] = before[k][i];
                                }
                            }
                            assertArrayEquals(expected, skipped[k], what + " skip: buffer " + k);
                            assertArrayEquals(stepped[k], zeroedState[k], what + " zero: buffer " + k);
                        }
                    } finally {
                        close(reference);
                        close(skip);
                        close(zero);
                    }
                }
            }
        }
    }

    @Test
    void aFiniteGradientIsCountedAsNothingAndSteppedAsWithoutAGuard() {
        float[] g = gaussian(N, 21);
        OptimizerSpec spec = OPTIMIZERS[4];
        DeviceBuffer[] plain = state(spec, N);
        DeviceBuffer[] guarded = state(spec, N);
        try (DeviceBuffer grad = upload(g)) {
            DEVICE.applyOptimizer(spec, plain[0], grad, slots(plain), N, 1, 1f);
            assertEquals(0, DEVICE.decodeApplyOptimizer(Codec.Kind.NONE, f32(g), N, 0, spec, guarded[0], slots(guarded),
                    1, 1f, NonFiniteGuard.SKIP));
            float[][] a = read(plain, N);
            float[][] b = read(guarded, N);
            for (int k = 0; k < a.length; k++) {
                assertArrayEquals(a[k], b[k], "buffer " + k);
            }
        } finally {
            close(plain);
            close(guarded);
        }
    }

    // ---- the batch ---------------------------------------------------------------------------------------

    @Test
    void aBatchReturnsEachUpdatesCount() {
        OptimizerSpec spec = OPTIMIZERS[4];
        float[] clean = gaussian(N, 31);
        float[] onePosInf = clean.clone();
        onePosInf[N - 1] = POS;
        float[] poisoned = poisoned(N);
        DeviceBuffer[] a = state(spec, N);
        DeviceBuffer[] b = state(spec, N);
        try (DeviceBuffer acc = upload(gaussian(N, 32)); DeviceBuffer acc2 = upload(gaussian(N, 33))) {
            float[] accBefore = download(acc, N);
            List<BatchedUpdate> updates = List.of(
                    new BatchedUpdate.Accumulate(acc, f32(poisoned), N),
                    new BatchedUpdate.OptimizerStep(spec, a[0], slots(a), f32(onePosInf), N, 1, 1f, NonFiniteGuard.SKIP),
                    new BatchedUpdate.Accumulate(acc2, f32(clean), N),
                    new BatchedUpdate.OptimizerStep(spec, b[0], slots(b), f32(poisoned), N, 1, 1f, NonFiniteGuard.ZERO));
            assertArrayEquals(new long[] {5, 1, 0, 5}, DEVICE.applyBatch(updates));
            float[] accAfter = download(acc, N);
            assertEquals(accBefore[0], accAfter[0]);
            assertEquals(accBefore[N - 1], accAfter[N - 1]);
            for (float[] buffer : read(a, N)) {
                assertEquals(true, Float.isFinite(buffer[N - 1]));
            }
            for (float[] buffer : read(b, N)) {
                for (float x : buffer) {
                    assertEquals(true, Float.isFinite(x));
                }
            }
        } finally {
            close(a);
            close(b);
        }
    }
}
