package io.gpups.nativecpu;

import io.gpups.core.codec.Codec;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.device.NonFiniteGuard;
import io.gpups.core.optim.OptimizerReference;
import io.gpups.core.optim.OptimizerSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Lion on the CPU device against {@link OptimizerReference#lion}, its formula in float as written in
 * {@link OptimizerSpec}'s javadoc (Java's float arithmetic rounds every operation, as the kernels' host build does),
 * so the results must be the same bits; and against closed forms: sign(0) = 0, the first step from zero momentum,
 * and the non-finite guards.
 */
class LionTest {

    private static final CpuDevice DEVICE = new CpuDevice(1, 3);
    private static final OptimizerSpec.Lion LION = new OptimizerSpec.Lion(0.01f, 0.9f, 0.99f, 0.05f);

    @AfterAll
    static void close() {
        DEVICE.close();
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 7, 1000, 70_003})
    void fourStepsAreTheReferenceBitForBit(int n) {
        Random random = new Random(n);
        float[] p = gaussian(random, n);
        float[] m = new float[n];
        try (DeviceBuffer param = upload(p); DeviceBuffer slot = DEVICE.allocate(n)) {
            for (long t = 1; t <= 4; t++) {
                float[] grad = gaussian(random, n);
                if (t % 2 == 1) {
                    try (DeviceBuffer g = upload(grad)) {
                        DEVICE.applyOptimizer(LION, param, g, new DeviceBuffer[] {slot}, n, t, 0.5f);
                    }
                } else {
                    assertEquals(0L, DEVICE.decodeApplyOptimizer(Codec.Kind.NONE, payload(grad), n, 0, LION, param,
                            new DeviceBuffer[] {slot}, t, 0.5f));
                }
                OptimizerReference.lion(LION, p, m, grad, 0.5f);
            }
            assertArrayEquals(p, download(param, n), "parameters");
            assertArrayEquals(m, download(slot, n), "momentum");
        }
    }

    @Test
    void theFirstStepFromZeroMomentumMovesEachParameterByLrAgainstItsGradient() {
        OptimizerSpec.Lion noDecay = new OptimizerSpec.Lion(0.25f, 0.9f, 0.99f, 0f);
        float[] p = {1f, 1f, 1f};
        try (DeviceBuffer param = upload(p); DeviceBuffer slot = DEVICE.allocate(3)) {
            DEVICE.decodeApplyOptimizer(Codec.Kind.NONE, payload(new float[] {3f, -1e-3f, 0f}), 3, 0, noDecay, param,
                    new DeviceBuffer[] {slot}, 1, 1f);
            // c = 0.1 * g: its sign is the gradient's, and sign(0) = 0 leaves the third parameter where it was.
            assertArrayEquals(new float[] {0.75f, 1.25f, 1f}, download(param, 3));
            assertArrayEquals(new float[] {(1f - 0.99f) * 3f, (1f - 0.99f) * -1e-3f, 0f}, download(slot, 3));
        }
    }

    @Test
    void aZeroInterpolationLeavesOnlyTheDecoupledWeightDecay() {
        // m = 0 and g = 0 (or -0): c = 0, sign(0) = 0, and m stays 0.
        float[] p = {2f, -4f};
        try (DeviceBuffer param = upload(p); DeviceBuffer slot = DEVICE.allocate(2)) {
            DEVICE.decodeApplyOptimizer(Codec.Kind.NONE, payload(new float[] {0f, -0f}), 2, 0, LION, param,
                    new DeviceBuffer[] {slot}, 1, 1f);
            assertArrayEquals(new float[] {2f - 0.01f * (0.05f * 2f), -4f - 0.01f * (0.05f * -4f)}, download(param, 2));
            assertArrayEquals(new float[2], download(slot, 2));
        }
    }

    @Test
    void nonFiniteGradientsAreSkippedOrTakenAsZero() {
        float[] grad = {Float.NaN, Float.POSITIVE_INFINITY, 1f};
        for (NonFiniteGuard guard : NonFiniteGuard.values()) {
            float[] p = {1f, 1f, 1f};
            float[] m = {0.5f, -0.5f, 0f};
            try (DeviceBuffer param = upload(p); DeviceBuffer slot = upload(m)) {
                long nonFinite = DEVICE.decodeApplyOptimizer(Codec.Kind.NONE, payload(grad), 3, 0, LION, param,
                        new DeviceBuffer[] {slot}, 1, 1f, guard);
                assertEquals(2L, nonFinite, guard.name());
                float[] expectedP = p.clone();
                float[] expectedM = m.clone();
                float[] asZero = {0f, 0f, 1f};
                OptimizerReference.lion(LION, expectedP, expectedM, asZero, 1f);
                if (guard == NonFiniteGuard.SKIP) {
                    System.arraycopy(p, 0, expectedP, 0, 2);
                    System.arraycopy(m, 0, expectedM, 0, 2);
                }
                assertArrayEquals(expectedP, download(param, 3), guard.name());
                assertArrayEquals(expectedM, download(slot, 3), guard.name());
            }
        }
    }

    @Test
    void theDefaultsAreThePapers() {
        assertEquals(new OptimizerSpec.Lion(1e-4f, 0.9f, 0.99f, 0f), OptimizerSpec.defaults("lion", 1e-4f));
        assertEquals(OptimizerSpec.OptimizerKind.LION, OptimizerSpec.OptimizerKind.ofId(6));
    }

    private static float[] gaussian(Random random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) random.nextGaussian();
        }
        return x;
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

    private static ByteBuffer payload(float[] values) {
        ByteBuffer b = ByteBuffer.allocateDirect(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.flip();
    }
}
