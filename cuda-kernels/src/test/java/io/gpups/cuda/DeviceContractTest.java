package io.gpups.cuda;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.RandomKSelection;
import io.gpups.core.device.BatchedUpdate;
import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.optim.OptimizerReference;
import io.gpups.core.optim.OptimizerSpec;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * What every {@link Device} must do, checked against plain-Java references and closed forms: one suite, run once per
 * device kind by its two subclasses, {@link CpuDeviceContractTest} and {@link CudaDeviceContractTest} (a subclass per
 * kind rather than JUnit's {@code @ParameterizedClass}, so that Surefire reports and counts each kind on its own
 * line). The CPU device always runs it; the CUDA device runs it when this machine has a usable GPU, and otherwise
 * every one of its tests is skipped with the reason (see {@link TestDevices}).
 * Device-specific tests live in {@code CpuDeviceTest} (native) and {@link CudaDeviceTest}; CUDA against CPU on the
 * same inputs is {@link CudaCpuParityTest}.
 *
 * <p>Tolerance, unless a test says otherwise: {@code |actual - expected| <= 1e-6 + 1e-5 * |expected|}, where
 * expected is computed in double. Float32 rounding of a few operations per element stays far inside this.
 */
abstract class DeviceContractTest {

    static final double ABSOLUTE_TOLERANCE = 1e-6;
    static final double RELATIVE_TOLERANCE = 1e-5;

    /** {@link TestDevices#CPU} or {@link TestDevices#CUDA}. */
    protected abstract String kind();

    protected Device device;
    private final List<DeviceBuffer> buffers = new ArrayList<>();

    @BeforeEach
    void openDevice() {
        device = TestDevices.open(kind());
    }

    @AfterEach
    void closeDevice() {
        buffers.forEach(DeviceBuffer::close);
        if (device != null) {
            device.close();
        }
    }

    // ---- optimizers against the reference -------------------------------------------------------

    enum GradientSource { DEVICE, DIRECT_HOST, HEAP_HOST }

    static Stream<OptimizerSpec> optimizers() {
        return Stream.of(
                new OptimizerSpec.Sgd(0.05f, 0.01f),
                new OptimizerSpec.Momentum(0.05f, 0.9f, 0.01f),
                new OptimizerSpec.Nesterov(0.05f, 0.9f, 0.01f),
                new OptimizerSpec.Adagrad(0.1f, 1e-8f, 0.1f, 0.01f),
                new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0.01f),
                new OptimizerSpec.AdamW(0.01f, 0.9f, 0.999f, 1e-8f, 0.05f),
                new OptimizerSpec.Lion(0.01f, 0.9f, 0.99f, 0.05f));
    }

    static Stream<Arguments> optimizerCases() {
        List<Arguments> cases = new ArrayList<>();
        optimizers().forEach(spec -> {
            for (int size : new int[] {1, 7, 1000, (1 << 16) + 3}) {
                for (GradientSource source : GradientSource.values()) {
                    cases.add(Arguments.of(spec, size, source));
                }
            }
        });
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} n={1} grad={2}")
    @MethodSource("optimizerCases")
    void optimizerMatchesTheReference(OptimizerSpec spec, int size, GradientSource source) {
        Random random = new Random(31L * size + spec.kind().id);
        float gradScale = 0.25f;
        float[] p0 = gaussian(random, size, 1.0);
        double[] expected = toDouble(p0);
        double[][] expectedSlots = new double[spec.slots()][size];
        DeviceBuffer param = upload(p0);
        DeviceBuffer[] slots = new DeviceBuffer[spec.slots()];
        for (int s = 0; s < slots.length; s++) {
            slots[s] = allocate(size);
        }
        if (spec instanceof OptimizerSpec.Adagrad adagrad) {
            device.fill(slots[0], adagrad.initialAccumulator(), size);
            Arrays.fill(expectedSlots[0], adagrad.initialAccumulator());
        }
        for (long t = 1; t <= 4; t++) {
            float[] grad = gaussian(random, size, 2.0);
            switch (source) {
                case DEVICE -> device.applyOptimizer(spec, param, upload(grad), slots, size, t, gradScale);
                case DIRECT_HOST -> {
                    ByteBuffer payload = littleEndian(grad, true, 3);
                    device.decodeApplyOptimizer(Codec.Kind.NONE, payload, size, 0, spec, param, slots, t, gradScale);
                    assertEquals(3, payload.position(), "position of the host gradient must not move");
                }
                case HEAP_HOST -> device.decodeApplyOptimizer(Codec.Kind.NONE, littleEndian(grad, false, 1), size, 0,
                        spec, param, slots, t, gradScale);
            }
            OptimizerReference.step(spec, expected, expectedSlots, grad, t, gradScale);
        }
        assertClose(expected, download(param), "param after 4 steps of " + spec);
        for (int s = 0; s < slots.length; s++) {
            assertClose(expectedSlots[s], download(slots[s]), "slot " + s + " after 4 steps of " + spec);
        }
    }

    // ---- optimizers in closed form --------------------------------------------------------------

    @Test
    void sgdAfterKnownGradientsIsTheInitialValueMinusLrTimesTheirSum() {
        // Small integers and powers of two: every intermediate is exact in float32.
        float lr = 0.5f;
        float[] p0 = {10f, -4f, 0f, 3f};
        float[][] grads = {{1f, 2f, -3f, 0f}, {4f, -1f, 1f, 2f}, {-2f, 0f, 6f, 1f}};
        DeviceBuffer param = upload(p0);
        for (int t = 0; t < grads.length; t++) {
            device.applyOptimizer(new OptimizerSpec.Sgd(lr, 0f), param, upload(grads[t]), new DeviceBuffer[0], 4,
                    t + 1, 1f);
        }
        float[] actual = download(param);
        for (int i = 0; i < p0.length; i++) {
            float sum = grads[0][i] + grads[1][i] + grads[2][i];
            assertEquals(p0[i] - lr * sum, actual[i], 0f, "element " + i);
        }
    }

    @Test
    void gradScaleOfAQuarterOverFourPushesEqualsOneUnscaledStep() {
        float[] grad = {1f, -2f, 0.5f};
        DeviceBuffer acc = allocate(3);
        for (int w = 0; w < 4; w++) {
            device.accumulate(acc, upload(grad), 3);
        }
        DeviceBuffer param = upload(new float[] {1f, 1f, 1f});
        device.applyOptimizer(new OptimizerSpec.Sgd(0.5f, 0f), param, acc, new DeviceBuffer[0], 3, 1, 0.25f);
        float[] actual = download(param);
        for (int i = 0; i < 3; i++) {
            assertEquals(1f - 0.5f * grad[i], actual[i], 0f);
        }
    }

    @Test
    void adamFirstStepMovesEveryElementByLrTimesTheSignOfItsGradient() {
        // Step 1: m_hat = g and v_hat = g^2, so the step is lr * g / (|g| + eps) = lr * sign(g) up to eps/|g|.
        float lr = 0.001f;
        float[] p0 = {0.5f, -0.25f, 2f, 0f, -3f};
        float[] grad = {0.3f, -7f, 1e-2f, 123f, -0.05f};
        DeviceBuffer param = upload(p0);
        DeviceBuffer[] slots = {allocate(5), allocate(5)};
        device.applyOptimizer(new OptimizerSpec.Adam(lr, 0.9f, 0.999f, 1e-8f, 0f), param, upload(grad), slots, 5, 1,
                1f);
        float[] actual = download(param);
        for (int i = 0; i < p0.length; i++) {
            double moved = (double) p0[i] - actual[i];
            assertEquals(lr * Math.signum(grad[i]), moved, 1e-7, "element " + i);
        }
    }

    @Test
    void momentumAfterTwoStepsMatchesTheClosedForm() {
        // v1 = g1, p1 = p0 - lr g1; v2 = mu g1 + g2, p2 = p0 - lr ((1 + mu) g1 + g2).
        float lr = 0.1f;
        float mu = 0.9f;
        float[] p0 = {1f, -2f, 0.5f};
        float[] g1 = {0.5f, 1f, -2f};
        float[] g2 = {-1f, 0.25f, 3f};
        DeviceBuffer param = upload(p0);
        DeviceBuffer[] slots = {allocate(3)};
        OptimizerSpec spec = new OptimizerSpec.Momentum(lr, mu, 0f);
        device.applyOptimizer(spec, param, upload(g1), slots, 3, 1, 1f);
        device.applyOptimizer(spec, param, upload(g2), slots, 3, 2, 1f);
        float[] actual = download(param);
        for (int i = 0; i < 3; i++) {
            double expected = p0[i] - (double) lr * ((1 + (double) mu) * g1[i] + g2[i]);
            assertEquals(expected, actual[i], 1e-6, "element " + i);
        }
    }

    @Test
    void nesterovFirstStepIsLrTimesOnePlusMuTimesTheGradient() {
        float[] p0 = {1f, -1f};
        float[] grad = {2f, -0.5f};
        DeviceBuffer param = upload(p0);
        device.applyOptimizer(new OptimizerSpec.Nesterov(0.1f, 0.5f, 0f), param, upload(grad),
                new DeviceBuffer[] {allocate(2)}, 2, 1, 1f);
        float[] actual = download(param);
        for (int i = 0; i < 2; i++) {
            assertEquals(p0[i] - 0.1 * 1.5 * grad[i], actual[i], 1e-6);
        }
    }

    @Test
    void adamwWithZeroGradientOnlyDecaysTheParameter() {
        float lr = 0.1f;
        float wd = 0.5f;
        float[] p0 = {4f, -2f, 0f};
        DeviceBuffer param = upload(p0);
        device.applyOptimizer(new OptimizerSpec.AdamW(lr, 0.9f, 0.999f, 1e-8f, wd), param, upload(new float[3]),
                new DeviceBuffer[] {allocate(3), allocate(3)}, 3, 1, 1f);
        float[] actual = download(param);
        for (int i = 0; i < 3; i++) {
            assertEquals(p0[i] * (1 - lr * wd), actual[i], 1e-6);
        }
    }

    @Test
    void optimizerChecksItsArguments() {
        DeviceBuffer param = allocate(10);
        DeviceBuffer grad = allocate(10);
        OptimizerSpec adam = new OptimizerSpec.Adam(0.1f, 0.9f, 0.999f, 1e-8f, 0f);
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.applyOptimizer(adam, param, grad, new DeviceBuffer[] {allocate(10)}, 10, 1, 1f)), "2", "1");
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.applyOptimizer(adam, param, grad, new DeviceBuffer[] {allocate(10), allocate(5)}, 10, 1,
                        1f)), "5", "10");
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.applyOptimizer(adam, param, grad, new DeviceBuffer[] {allocate(10), allocate(10)}, 10, 0,
                        1f)), "0");
        ByteBuffer shortPayload = littleEndian(new float[4], true, 0);
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.decodeApplyOptimizer(Codec.Kind.NONE, shortPayload, 10, 0, new OptimizerSpec.Sgd(0.1f, 0f),
                        param, new DeviceBuffer[0], 1, 1f)), "10", "16");
    }

    // ---- memory and server math ----------------------------------------------------------------

    @Test
    void newBuffersAreZeroFilled() {
        assertArrayEquals(new float[1000], download(allocate(1000)));
    }

    @ParameterizedTest(name = "direct={0}")
    @ValueSource(booleans = {true, false})
    void uploadAndDownloadThroughHostBuffersRespectPositions(boolean direct) {
        float[] values = gaussian(new Random(1), 100, 1.0);
        ByteBuffer src = littleEndian(values, direct, 5);
        DeviceBuffer buffer = allocate(120);
        device.upload(src, buffer, 10, 100);
        assertEquals(5, src.position());

        ByteBuffer dst = (direct ? ByteBuffer.allocateDirect(7 + 400) : ByteBuffer.allocate(7 + 400))
                .order(ByteOrder.LITTLE_ENDIAN);
        dst.position(7);
        device.download(buffer, 10, 100, dst);
        assertEquals(7, dst.position());
        for (int i = 0; i < 100; i++) {
            assertEquals(values[i], dst.getFloat(7 + 4 * i), "element " + i);
        }
        float[] all = download(buffer);
        for (int i = 0; i < 10; i++) {
            assertEquals(0f, all[i]);
            assertEquals(0f, all[110 + i]);
        }
    }

    @Test
    void floatArrayRoundTripWithOffsets() {
        float[] values = gaussian(new Random(2), 50, 1.0);
        DeviceBuffer buffer = allocate(60);
        device.upload(values, 20, buffer, 5, 30);
        float[] back = new float[40];
        device.download(buffer, 5, back, 3, 30);
        for (int i = 0; i < 30; i++) {
            assertEquals(values[20 + i], back[3 + i]);
        }
    }

    @Test
    void fillSetsOnlyTheFirstCountElements() {
        DeviceBuffer buffer = allocate(10);
        device.fill(buffer, 2.5f, 7);
        assertArrayEquals(new float[] {2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 0f, 0f, 0f}, download(buffer));
    }

    @Test
    void accumulateFromDeviceDirectAndHeapHostBuffers() {
        float[] a = {1f, 2f, 3f, 4f, 5f};
        float[] b = {0.5f, -1f, 2f, 0f, 8f};
        DeviceBuffer acc = upload(a);
        device.accumulate(acc, upload(b), 5);
        ByteBuffer direct = littleEndian(b, true, 1);
        device.accumulate(acc, direct, 5);
        assertEquals(1, direct.position());
        device.accumulate(acc, littleEndian(b, false, 2), 4);
        float[] actual = download(acc);
        for (int i = 0; i < 5; i++) {
            assertEquals(a[i] + (i < 4 ? 3 : 2) * b[i], actual[i], 0f, "element " + i);
        }
    }

    @Test
    void accumulateReadsAReadOnlyHostPayload() {
        DeviceBuffer acc = allocate(3);
        device.accumulate(acc, littleEndian(new float[] {1f, 2f, 3f}, true, 0).asReadOnlyBuffer(), 3);
        device.accumulate(acc, littleEndian(new float[] {1f, 2f, 3f}, false, 0).asReadOnlyBuffer(), 3);
        assertArrayEquals(new float[] {2f, 4f, 6f}, download(acc));
    }

    @Test
    void scaleMultipliesTheFirstCountElements() {
        DeviceBuffer x = upload(new float[] {1f, -2f, 4f});
        device.scale(x, 0.5f, 2);
        assertArrayEquals(new float[] {0.5f, -1f, 4f}, download(x));
    }

    @Test
    void badSizesNameTheNumbers() {
        DeviceBuffer buffer = allocate(8);
        ByteBuffer twelveBytes = littleEndian(new float[3], true, 0);
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.accumulate(buffer, twelveBytes, 4)), "4", "16", "12");
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.upload(littleEndian(new float[20], true, 0), buffer, 0, 9)), "9", "8");
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.upload(littleEndian(new float[20], true, 0), buffer, 5, 4)), "5", "4", "8");
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.download(buffer, 0, 8, ByteBuffer.allocateDirect(31))), "8", "32", "31");
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.upload(new float[4], 2, buffer, 0, 3)), "2", "3", "4");
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.scale(buffer, 2f, 9)), "9", "8");
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.fill(buffer, 1f, -1)), "-1");
    }

    // ---- gradient codecs -----------------------------------------------------------------------
    //
    // Each codec against its definition (io.gpups.core.codec.Codec), through the device's own encode and decode:
    // a = source + residual is formed in float32 here exactly as on the device (one IEEE addition), so the checks
    // below compare against the same a.

    static final Codec[] CODECS = {Codec.NONE, Codec.FP16, Codec.BF16, Codec.INT8, Codec.SIGN, Codec.topk(0.05f),
            Codec.randomk(0.1f)};

    static Stream<Codec> codecs() {
        return Stream.of(CODECS);
    }

    static Stream<Codec> errorFeedbackCodecs() {
        return codecs().filter(Codec::errorFeedback);
    }

    static Stream<Arguments> codecSizes() {
        List<Arguments> cases = new ArrayList<>();
        for (Codec codec : CODECS) {
            // 1; a warp's word short; a block plus one; not a multiple of 32; several sign words and blocks; large.
            for (int n : new int[] {1, 31, 257, 1000, 70_003}) {
                cases.add(Arguments.of(codec, n));
            }
        }
        return cases.stream();
    }

    /** Where the chunk sits inside the source and residual buffers: encode takes an offset. */
    private static final int CHUNK_OFFSET = 5;
    /** The payload's position in host buffers: odd, as a Netty frame may put it. */
    private static final int PAYLOAD_POSITION = 3;

    /** One encode and one decode-accumulate into zeros on this device. */
    private final class CodecRun {
        final float[] a;
        final float[] residualIn;
        final ByteBuffer payload;
        final float[] decoded;
        final float[] residualOut;
        /** What the decode counted as non-finite (those values are not added, so decoded holds 0 there). */
        final long nonFinite;

        CodecRun(Codec codec, float[] values, float[] residualIn, long seed, boolean direct) {
            int n = values.length;
            this.residualIn = residualIn;
            a = new float[n];
            for (int i = 0; i < n; i++) {
                a[i] = values[i] + residualIn[i];
            }
            DeviceBuffer source = allocate(n + CHUNK_OFFSET + 2);
            DeviceBuffer residual = allocate(n + CHUNK_OFFSET + 2);
            device.upload(values, 0, source, CHUNK_OFFSET, n);
            device.upload(residualIn, 0, residual, CHUNK_OFFSET, n);
            int max = codec.maxPayloadBytes(n);
            int size = PAYLOAD_POSITION + max + 16;
            ByteBuffer out = (direct ? ByteBuffer.allocateDirect(size) : ByteBuffer.allocate(size))
                    .order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < size; i++) {
                out.put(i, (byte) 0x5A);
            }
            out.position(PAYLOAD_POSITION);
            int bytes = device.encode(codec, source, residual, CHUNK_OFFSET, n, seed, out);
            assertEquals(PAYLOAD_POSITION, out.position(), codec + ": the position of out must not move");
            assertTrue(bytes <= max, codec + ": " + bytes + " bytes > maxPayloadBytes " + max);
            if (direct) {
                for (int i = PAYLOAD_POSITION + max; i < size; i++) {
                    assertEquals((byte) 0x5A, out.get(i), codec + ": byte " + i + " past the payload was written");
                }
            }
            payload = out.duplicate().position(PAYLOAD_POSITION).limit(PAYLOAD_POSITION + bytes).slice()
                    .order(ByteOrder.LITTLE_ENDIAN);
            DeviceBuffer acc = allocate(n);
            ByteBuffer readable = payload.duplicate().order(ByteOrder.LITTLE_ENDIAN);
            nonFinite = device.decodeAccumulate(codec.kind(), readable, n, seed, acc);
            assertEquals(0, readable.position(), codec + ": the position of the payload must not move");
            decoded = download(acc);
            float[] r = download(residual);
            residualOut = Arrays.copyOfRange(r, CHUNK_OFFSET, CHUNK_OFFSET + n);
            float[] s = download(source);
            assertArrayEquals(values, Arrays.copyOfRange(s, CHUNK_OFFSET, CHUNK_OFFSET + n), "source is unchanged");
            assertEquals(0f, r[CHUNK_OFFSET - 1], 0f, "residual before the chunk is untouched");
            assertEquals(0f, r[CHUNK_OFFSET + n], 0f, "residual after the chunk is untouched");
        }
    }

    /** Gaussian values with a few that test the rounding rules (ties, subnormals, fp16 overflow) mixed in. */
    static float[] codecValues(Random random, int n) {
        float[] v = gaussian(random, n, 1.0);
        float[] special = {0f, -0f, 1e-40f, -3e-39f, 65519f, -70000f, 1.00390625f, 1.01171875f, 2.5f, 1e-6f};
        for (int j = 0; j < special.length && j * 97 < n; j++) {
            v[j * 97] = special[j];
        }
        return v;
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("codecSizes")
    void encodeThenDecodeMeetsTheCodecsDefinition(Codec codec, int n) {
        Random random = new Random(n * 7L + codec.kind().id);
        float[] values = codecValues(random, n);
        float[] residual = gaussian(random, n, 0.25);
        long seed = RandomKSelection.seed("layer.weight", 2, 9, 1);
        CodecRun run = new CodecRun(codec, values, residual, seed, true);
        float[] a = codec.errorFeedback() ? run.a : values;
        if (!codec.errorFeedback()) {
            assertArrayEquals(residual, run.residualOut, codec + " leaves the residual alone");
        }
        ByteBuffer p = run.payload;
        switch (codec.kind()) {
            case NONE -> {
                assertEquals(4 * n, p.limit());
                for (int i = 0; i < n; i++) {
                    assertEquals(values[i], p.getFloat(4 * i), 0f, "payload element " + i);
                    assertEquals(values[i], run.decoded[i], 0f, "decoded element " + i);
                }
            }
            case FP16, BF16 -> {
                assertEquals(2 * n, p.limit());
                int infinite = 0;
                for (int i = 0; i < n; i++) {
                    float want = codec.kind() == Codec.Kind.FP16 ? nearestHalf(values[i]) : nearestBf16(values[i]);
                    if (!Float.isFinite(want)) {
                        // An overflow to infinity is the codec's value; the decode counts it and never adds it.
                        infinite++;
                        want = 0f;
                    }
                    assertEquals(want, run.decoded[i], 0f, codec + " of " + values[i] + " (element " + i + ")");
                }
                assertEquals(infinite, run.nonFinite, codec + ": non-finite decoded values counted");
            }
            case INT8 -> {
                assertEquals(4 * Codec.blocks(n) + n, p.limit());
                for (int b = 0; b < Codec.blocks(n); b++) {
                    float absmax = 0f;
                    for (int i = b * Codec.BLOCK; i < Math.min(n, (b + 1) * Codec.BLOCK); i++) {
                        absmax = Math.max(absmax, Math.abs(a[i]));
                    }
                    float scale = p.getFloat(4 * b);
                    assertEquals(absmax / 127f, scale, 0f, "scale of block " + b);
                    for (int i = b * Codec.BLOCK; i < Math.min(n, (b + 1) * Codec.BLOCK); i++) {
                        assertTrue(Math.abs(a[i] - run.decoded[i]) <= scale / 2 * (1 + 1e-6f) + Float.MIN_VALUE,
                                "element " + i + ": " + a[i] + " decoded as " + run.decoded[i] + ", scale " + scale);
                        assertResidual(a[i], run.decoded[i], run.residualOut[i], i);
                    }
                }
            }
            case SIGN -> {
                assertEquals(4 * Codec.blocks(n) + 4 * Codec.words(n), p.limit());
                for (int b = 0; b < Codec.blocks(n); b++) {
                    int begin = b * Codec.BLOCK;
                    int end = Math.min(n, begin + Codec.BLOCK);
                    double sum = 0;
                    for (int i = begin; i < end; i++) {
                        sum += Math.abs(a[i]);
                    }
                    float scale = p.getFloat(4 * b);
                    // The sum of up to 256 magnitudes in float32, in an order each device chooses.
                    assertEquals(sum / (end - begin), scale, 256 * 0x1.0p-24 * sum / (end - begin) + Float.MIN_VALUE,
                            "scale of block " + b);
                    for (int i = begin; i < end; i++) {
                        assertEquals(a[i] < 0f ? -scale : scale, run.decoded[i], 0f, "element " + i + " of " + a[i]);
                        assertResidual(a[i], run.decoded[i], run.residualOut[i], i);
                    }
                }
            }
            case TOPK -> {
                int k = p.getInt(0);
                assertEquals(0, p.getInt(4), "reserved word");
                assertEquals(8 + 8 * k, p.limit());
                assertTrue(k >= Math.min(n, (int) (0.8 * codec.targetK(n))) && k <= codec.topkCapacity(n),
                        "k " + k + " for target " + codec.targetK(n) + ", capacity " + codec.topkCapacity(n));
                long previous = -1;
                for (int j = 0; j < k; j++) {
                    long index = Integer.toUnsignedLong(p.getInt(8 + 4 * j));
                    assertTrue(index > previous && index < n, "index " + index + " after " + previous);
                    assertEquals(a[(int) index], p.getFloat(8 + 4 * k + 4 * j), 0f, "value of index " + index);
                    previous = index;
                }
                float minSent = Float.POSITIVE_INFINITY;
                float maxKept = 0f;
                int sent = 0;
                for (int i = 0; i < n; i++) {
                    if (run.residualOut[i] == 0f && a[i] != 0f) {
                        sent++;
                        assertEquals(a[i], run.decoded[i], 0f, "a sent value is a itself, element " + i);
                        minSent = Math.min(minSent, Math.abs(a[i]));
                    } else {
                        assertEquals(a[i], run.residualOut[i], 0f, "an unsent value stays in the residual, " + i);
                        assertEquals(0f, run.decoded[i], 0f, "and decodes as 0, element " + i);
                        maxKept = Math.max(maxKept, Math.abs(a[i]));
                    }
                }
                assertEquals(k, sent);
                assertTrue(minSent >= maxKept, "sent magnitudes (min " + minSent + ") >= kept (max " + maxKept + ")");
            }
            case RANDOMK -> {
                int k = codec.targetK(n);
                assertEquals(k, p.getInt(0));
                assertEquals(8 + 4 * k, p.limit());
                RandomKSelection selection = RandomKSelection.of(seed, n, k);
                boolean[] picked = new boolean[n];
                for (int j = 0; j < k; j++) {
                    int i = (int) selection.index(j);
                    picked[i] = true;
                    assertEquals(a[i], p.getFloat(8 + 4 * j), 0f, "value " + j + " is element " + i);
                }
                for (int i = 0; i < n; i++) {
                    assertEquals(picked[i] ? a[i] : 0f, run.decoded[i], 0f, "decoded " + i);
                    assertEquals(picked[i] ? 0f : a[i], run.residualOut[i], 0f, "residual " + i);
                }
            }
        }
    }

    /** residual = a - decoded, up to the rounding of that one subtraction (or of a fused multiply-add). */
    private static void assertResidual(float a, float decoded, float residual, int i) {
        double allowed = 2 * Math.ulp(Math.max(Math.abs(a), Math.abs(decoded)));
        assertEquals((double) a - decoded, residual, allowed, "residual of element " + i);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("codecs")
    void heapAndDirectHostBuffersGiveTheSamePayloadAndDecode(Codec codec) {
        int n = 1000;
        Random random = new Random(12 + codec.kind().id);
        float[] values = codecValues(random, n);
        float[] residual = gaussian(random, n, 0.25);
        CodecRun direct = new CodecRun(codec, values, residual, 5, true);
        CodecRun heap = new CodecRun(codec, values, residual, 5, false);
        assertEquals(direct.payload, heap.payload, codec + ": payload bytes");
        assertArrayEquals(direct.decoded, heap.decoded);
        assertArrayEquals(direct.residualOut, heap.residualOut);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("errorFeedbackCodecs")
    void whatWasSentPlusTheResidualIsTheSumOfTheGradients(Codec codec) {
        int n = 3000;
        double[] sumGrad = new double[n];
        double[] sumSent = new double[n];
        DeviceBuffer g = allocate(n);
        DeviceBuffer r = allocate(n);
        DeviceBuffer acc = allocate(n);
        ByteBuffer out = ByteBuffer.allocateDirect(codec.maxPayloadBytes(n)).order(ByteOrder.LITTLE_ENDIAN);
        for (int step = 0; step < 40; step++) {
            float[] grad = gaussian(new Random(100 + step), n, 0.01 + step * 0.001);
            device.upload(grad, 0, g, 0, n);
            long seed = RandomKSelection.seed("w", 0, step, 0);
            int bytes = device.encode(codec, g, r, 0, n, seed, out);
            device.fill(acc, 0f, n);
            device.decodeAccumulate(codec.kind(), out.duplicate().limit(bytes), n, seed, acc);
            float[] sent = download(acc);
            for (int i = 0; i < n; i++) {
                sumGrad[i] += grad[i];
                sumSent[i] += sent[i];
            }
        }
        float[] residual = download(r);
        for (int i = 0; i < n; i++) {
            assertEquals(sumGrad[i], sumSent[i] + residual[i], 1e-4, codec + " element " + i);
        }
    }

    static Stream<Arguments> codecOptimizerCases() {
        List<Arguments> cases = new ArrayList<>();
        for (Codec codec : CODECS) {
            optimizers().forEach(spec -> cases.add(Arguments.of(codec, spec)));
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("codecOptimizerCases")
    void fusedDecodeAndApplyEqualsDecodeThenApply(Codec codec, OptimizerSpec spec) {
        int n = 1000;
        Random random = new Random(41L * codec.kind().id + spec.kind().id);
        float[] p0 = gaussian(random, n, 0.5);
        // Two steps with different payloads (and randomk seeds): a sparse step must leave no entry behind.
        ByteBuffer[] payloads = new ByteBuffer[2];
        float[][] decoded = new float[2][];
        for (int t = 0; t < 2; t++) {
            CodecRun run = new CodecRun(codec, gaussian(random, n, 1.0), new float[n], 70 + t, t == 0);
            payloads[t] = run.payload;
            decoded[t] = run.decoded;
        }
        DeviceBuffer fusedParam = upload(p0);
        DeviceBuffer separateParam = upload(p0);
        DeviceBuffer[] fusedSlots = new DeviceBuffer[spec.slots()];
        DeviceBuffer[] separateSlots = new DeviceBuffer[spec.slots()];
        for (int s = 0; s < spec.slots(); s++) {
            fusedSlots[s] = allocate(n);
            separateSlots[s] = allocate(n);
        }
        for (int t = 0; t < 2; t++) {
            device.decodeApplyOptimizer(codec.kind(), payloads[t].duplicate(), n, 70 + t, spec, fusedParam, fusedSlots,
                    t + 1, 0.5f);
            device.applyOptimizer(spec, separateParam, upload(decoded[t]), separateSlots, n, t + 1, 0.5f);
        }
        assertClose(toDouble(download(separateParam)), download(fusedParam), codec + " " + spec + " param");
        for (int s = 0; s < spec.slots(); s++) {
            assertClose(toDouble(download(separateSlots[s])), download(fusedSlots[s]), codec + " " + spec + " slot " + s);
        }
    }

    @Test
    void codecArgumentsAreChecked() {
        DeviceBuffer g = allocate(300);
        ByteBuffer out = ByteBuffer.allocateDirect(Codec.NONE.maxPayloadBytes(300));
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.encode(null, g, g, 0, 300, 0, out)), "codec");
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.encode(Codec.INT8, g, null, 0, 300, 0, out)), "residual");
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.encode(Codec.FP16, g, null, 1, 300, 0, out)), "source", "300");
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.encode(Codec.INT8, g, allocate(300), 0, 300, 0, out.duplicate().limit(100))),
                String.valueOf(Codec.INT8.maxPayloadBytes(300)), "100");
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.encode(Codec.FP16, g, null, 0, 300, 0, out.asReadOnlyBuffer())), "read-only");
        assertEquals(0, device.encode(Codec.topk(0.1f), g, allocate(300), 0, 0, 0, ByteBuffer.allocate(0)));
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.decodeApplyOptimizer(Codec.Kind.FP16, ByteBuffer.allocate(600), 300, 0,
                        new OptimizerSpec.Adam(0.1f, 0.9f, 0.999f, 1e-8f, 0f), g, new DeviceBuffer[] {allocate(300)}, 1,
                        1f)), "adam", "2");
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.decodeAccumulate(Codec.Kind.FP16, ByteBuffer.allocate(600), 301, 0, g)), "301");
    }

    /** The binary16 value nearest to x, ties to even: x rounded to a multiple of its binade's quantum. */
    static float nearestHalf(float x) {
        if (Float.isNaN(x)) {
            return x;
        }
        int exponent = Math.max(Math.getExponent(x), -14);
        double quantum = Math.scalb(1.0, exponent - 10);
        double rounded = Math.rint(x / quantum) * quantum;
        return Math.abs(rounded) > 65504 ? Math.copySign(Float.POSITIVE_INFINITY, x) : (float) rounded;
    }

    /** The bfloat16 value nearest to x, ties to even. */
    static float nearestBf16(float x) {
        if (Float.isNaN(x)) {
            return x;
        }
        int exponent = Math.max(Math.getExponent(x), -126);
        double quantum = Math.scalb(1.0, exponent - 7);
        double rounded = Math.rint(x / quantum) * quantum;
        return Math.abs(rounded) > Float.MAX_VALUE ? Math.copySign(Float.POSITIVE_INFINITY, x) : (float) rounded;
    }

    // ---- worker math ---------------------------------------------------------------------------

    static Stream<Arguments> gemmCases() {
        List<Arguments> cases = new ArrayList<>();
        for (boolean transA : new boolean[] {false, true}) {
            for (boolean transB : new boolean[] {false, true}) {
                cases.add(Arguments.of(transA, transB, 5, 7, 3));
                cases.add(Arguments.of(transA, transB, 33, 17, 65));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "transA={0} transB={1} m={2} n={3} k={4}")
    @MethodSource("gemmCases")
    void gemmMatchesANaiveTripleLoop(boolean transA, boolean transB, int m, int n, int k) {
        Random random = new Random(m * 1000L + n * 10L + k + (transA ? 1 : 0) + (transB ? 2 : 0));
        float[] a = gaussian(random, m * k, 1.0);
        float[] b = gaussian(random, k * n, 1.0);
        float[] c = gaussian(random, m * n, 1.0);
        float alpha = 1.5f;
        float beta = 0.5f;
        double[] expected = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int l = 0; l < k; l++) {
                    double aij = transA ? a[l * m + i] : a[i * k + l];
                    double bij = transB ? b[j * k + l] : b[l * n + j];
                    sum += aij * bij;
                }
                expected[i * n + j] = alpha * sum + beta * c[i * n + j];
            }
        }
        DeviceBuffer dc = upload(c);
        device.gemm(transA, transB, m, n, k, alpha, upload(a), upload(b), beta, dc);
        // k products of unit-scale values: float32 error grows like sqrt(k) * 2^-24 * |terms|.
        assertClose(expected, download(dc), 1e-4, 1e-4, "gemm");
    }

    @Test
    void gemmChecksBufferSizes() {
        assertMessageHas(assertThrows(IllegalArgumentException.class,
                () -> device.gemm(false, false, 4, 4, 4, 1f, allocate(16), allocate(15), 0f, allocate(16))),
                "16", "15");
    }

    @Test
    void addBiasAddsTheBiasToEveryRow() {
        DeviceBuffer x = upload(new float[] {1f, 2f, 3f, 4f, 5f, 6f});
        device.addBias(x, upload(new float[] {10f, 20f, 30f}), 2, 3);
        assertArrayEquals(new float[] {11f, 22f, 33f, 14f, 25f, 36f}, download(x));
    }

    @Test
    void reluAndItsBackward() {
        float[] values = {-2f, -0f, 0f, 0.5f, 3f, -1e-30f};
        DeviceBuffer x = upload(values);
        device.relu(x, values.length);
        assertArrayEquals(new float[] {0f, 0f, 0f, 0.5f, 3f, 0f}, download(x));

        DeviceBuffer grad = upload(new float[] {1f, 2f, 3f, 4f, 5f, 6f});
        device.reluBackward(grad, upload(values), values.length);
        assertArrayEquals(new float[] {0f, 0f, 0f, 4f, 5f, 0f}, download(grad));
    }

    @Test
    void columnSumsAddUpEachColumn() {
        int rows = 37;
        int cols = 11;
        float[] x = gaussian(new Random(3), rows * cols, 1.0);
        double[] expected = new double[cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                expected[c] += x[r * cols + c];
            }
        }
        DeviceBuffer out = upload(new float[cols + 1]);
        device.columnSums(upload(x), rows, cols, out);
        assertClose(expected, Arrays.copyOf(download(out), cols), 1e-5, 1e-5, "column sums");
    }

    @Test
    void softmaxCrossEntropyMatchesADoubleReference() {
        int rows = 64;
        int cols = 10;
        Random random = new Random(4);
        float[] logits = gaussian(random, rows * cols, 3.0);
        logits[5] = 80f; // large logits must not overflow
        float[] labels = new float[rows];
        for (int r = 0; r < rows; r++) {
            labels[r] = random.nextInt(cols);
        }
        double loss = 0;
        double[] expectedGrad = new double[rows * cols];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < cols; c++) {
                max = Math.max(max, logits[r * cols + c]);
            }
            double sum = 0;
            for (int c = 0; c < cols; c++) {
                sum += Math.exp(logits[r * cols + c] - max);
            }
            int label = (int) labels[r];
            loss += Math.log(sum) - (logits[r * cols + label] - max);
            for (int c = 0; c < cols; c++) {
                double p = Math.exp(logits[r * cols + c] - max) / sum;
                expectedGrad[r * cols + c] = (p - (c == label ? 1 : 0)) / rows;
            }
        }
        DeviceBuffer grad = allocate(rows * cols);
        float actualLoss = device.softmaxCrossEntropy(upload(logits), upload(labels), rows, cols, grad);
        assertEquals(loss / rows, actualLoss, 1e-5 * Math.abs(loss / rows));
        assertClose(expectedGrad, download(grad), 1e-7, 1e-4, "softmax cross-entropy gradient");
    }

    @Test
    void softmaxCrossEntropyOfEqualLogitsIsLnOfTheClassCount() {
        int rows = 3;
        int cols = 7;
        float[] logits = new float[rows * cols];
        Arrays.fill(logits, 1.25f);
        DeviceBuffer logitsOnDevice = upload(logits);
        // In place: the gradient overwrites the logits.
        float loss = device.softmaxCrossEntropy(logitsOnDevice, upload(new float[] {0f, 6f, 3f}), rows, cols,
                logitsOnDevice);
        assertEquals(Math.log(cols), loss, 1e-6);
        float[] grad = download(logitsOnDevice);
        int[] labels = {0, 6, 3};
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                double expected = (1.0 / cols - (c == labels[r] ? 1 : 0)) / rows;
                assertEquals(expected, grad[r * cols + c], 1e-7, "row " + r + " col " + c);
            }
        }
    }

    @Test
    void countCorrectComparesTheFirstArgMaxWithTheLabel() {
        float[] logits = {
                0f, 5f, 1f,   // arg-max 1
                3f, 3f, 0f,   // tie: the first, 0
                -1f, -2f, -0.5f, // arg-max 2
                9f, 0f, 0f};  // arg-max 0
        float[] labels = {1f, 1f, 2f, 2f};
        assertEquals(2, device.countCorrect(upload(logits), upload(labels), 4, 3));
    }

    // ---- buffer ownership and lifecycle --------------------------------------------------------

    @Test
    void useAfterCloseIsAnIllegalStateNamingTheBuffer() {
        DeviceBuffer buffer = device.allocate(5);
        buffer.close();
        buffer.close(); // harmless
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> device.fill(buffer, 1f, 5));
        assertMessageHas(e, buffer.toString(), "closed");
    }

    @Test
    void closingTheDeviceFreesItsBuffersAndRefusesFurtherWork() {
        Device other = TestDevices.open(kind());
        DeviceBuffer buffer = other.allocate(5);
        other.close();
        other.close(); // harmless
        buffer.close(); // already freed by the device: still harmless
        assertThrows(IllegalStateException.class, () -> other.allocate(1));
    }

    @Test
    void aBufferOfAnotherDeviceIsRefused() {
        try (Device other = TestDevices.open(kind()); DeviceBuffer foreign = other.allocate(4)) {
            assertMessageHas(assertThrows(IllegalArgumentException.class, () -> device.scale(foreign, 2f, 4)),
                    "does not belong");
        }
    }

    @Test
    void aLabelThatIsNotAClassIndexFailsNamingTheRow() {
        DeviceBuffer logits = upload(new float[6]);
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> device.softmaxCrossEntropy(logits, upload(new float[] {1f, 3f}), 2, 3, allocate(6)));
        assertMessageHas(e, "row 1", "[0, 3)");
        assertThrows(RuntimeException.class,
                () -> device.softmaxCrossEntropy(logits, upload(new float[] {0.5f, 1f}), 2, 3, allocate(6)));
    }

    @Test
    void largeCopiesThroughDirectBuffersArriveWhole() {
        // 5M floats: more than any staging a device may use (the CUDA device's ring holds 4 x 4 MiB).
        int n = 5_000_000 + 3;
        float[] values = gaussian(new Random(9), n, 1.0);
        DeviceBuffer buffer = allocate(n);
        device.upload(littleEndian(values, true, 0), buffer, 0, n);
        ByteBuffer back = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        device.download(buffer, 0, n, back);
        for (int i = 0; i < n; i += 9973) {
            assertEquals(values[i], back.getFloat(4 * i), "element " + i);
        }
        assertEquals(values[n - 1], back.getFloat(4 * (n - 1)));
        assertArrayEquals(values, download(buffer));
    }

    // ---- batched updates ----------------------------------------------------------------------------

    /** A chunk of a batch test: an accumulator (spec null) or parameters with their optimizer's slots. */
    record BatchChunk(OptimizerSpec spec, int n, DeviceBuffer param, DeviceBuffer[] slots) {

        /** This chunk's update with {@code gradient} as a batch entry; {@code step} is 1-based. */
        BatchedUpdate update(ByteBuffer gradient, long step) {
            return spec == null ? new BatchedUpdate.Accumulate(param, gradient, n)
                    : new BatchedUpdate.OptimizerStep(spec, param, slots, gradient, n, step, 0.5f);
        }

        /** The same update through the one-chunk call. */
        void applyAlone(Device device, ByteBuffer gradient, long step) {
            if (spec == null) {
                device.decodeAccumulate(Codec.Kind.NONE, gradient, n, 0, param);
            } else {
                device.decodeApplyOptimizer(Codec.Kind.NONE, gradient, n, 0, spec, param, slots, step, 0.5f);
            }
        }
    }

    /** A chunk on {@code on} holding {@code p0}, with zeroed slots (adagrad's at its initial accumulator). */
    static BatchChunk batchChunk(Device on, List<DeviceBuffer> owned, OptimizerSpec spec, float[] p0) {
        DeviceBuffer param = on.allocate(p0.length);
        owned.add(param);
        on.upload(p0, 0, param, 0, p0.length);
        DeviceBuffer[] slots = new DeviceBuffer[spec == null ? 0 : spec.slots()];
        for (int s = 0; s < slots.length; s++) {
            slots[s] = on.allocate(p0.length);
            owned.add(slots[s]);
        }
        if (spec instanceof OptimizerSpec.Adagrad adagrad) {
            on.fill(slots[0], adagrad.initialAccumulator(), p0.length);
        }
        return new BatchChunk(spec, p0.length, param, slots);
    }

    /** Every optimizer, then null for an accumulator. */
    static List<OptimizerSpec> batchKinds() {
        List<OptimizerSpec> kinds = new ArrayList<>(optimizers().toList());
        kinds.add(null);
        return kinds;
    }

    /**
     * Which chunk each update of the batch tests goes to: every chunk once, then chunks 0, 3 and 6 again and chunk 3 a
     * third time, so some updates must wait for an earlier one to the same chunk.
     */
    static final int[] BATCH_ORDER = {0, 1, 2, 3, 4, 5, 6, 0, 3, 6, 3};
    /** Chunk sizes: one element, fewer than four, a tail of 3 after whole float4s, and several blocks. */
    static final int[] BATCH_SIZES = {1, 3, 1000, 4099};

    @Test
    void aBatchEqualsItsUpdatesOneByOneInOrder() {
        Random random = new Random(5);
        List<OptimizerSpec> kinds = batchKinds();
        List<BatchChunk> batched = new ArrayList<>();
        List<BatchChunk> alone = new ArrayList<>();
        for (int c = 0; c < kinds.size(); c++) {
            float[] p0 = gaussian(random, BATCH_SIZES[c % BATCH_SIZES.length], 1.0);
            batched.add(batchChunk(device, buffers, kinds.get(c), p0));
            alone.add(batchChunk(device, buffers, kinds.get(c), p0));
        }
        List<BatchedUpdate> updates = new ArrayList<>();
        long[] steps = new long[kinds.size()];
        for (int k = 0; k < BATCH_ORDER.length; k++) {
            int c = BATCH_ORDER[k];
            float[] g = gaussian(random, batched.get(c).n(), 1.0);
            steps[c]++;
            updates.add(batched.get(c).update(littleEndian(g, k % 2 == 0, 3), steps[c]));
            alone.get(c).applyAlone(device, littleEndian(g, true, 0), steps[c]);
        }
        device.applyBatch(updates);
        for (BatchedUpdate u : updates) {
            assertEquals(3, u.gradient().position(), "the position of a batched gradient must not move");
        }
        // The same kernels' loops over the same values: bit for bit.
        for (int c = 0; c < kinds.size(); c++) {
            String what = (kinds.get(c) == null ? "accumulate" : kinds.get(c).toString()) + " chunk " + c;
            assertArrayEquals(download(alone.get(c).param()), download(batched.get(c).param()), what);
            for (int s = 0; s < batched.get(c).slots().length; s++) {
                assertArrayEquals(download(alone.get(c).slots()[s]), download(batched.get(c).slots()[s]),
                        what + " slot " + s);
            }
        }
    }

    @Test
    void anEmptyBatchAndEmptyUpdatesDoNothing() {
        DeviceBuffer acc = upload(new float[] {1, 2});
        device.applyBatch(List.of());
        device.applyBatch(List.of(new BatchedUpdate.Accumulate(acc, ByteBuffer.allocate(0), 0)));
        assertArrayEquals(new float[] {1, 2}, download(acc));
    }

    @Test
    void aBatchChecksEveryGradientBeforeApplyingAny() {
        DeviceBuffer acc = upload(new float[] {1, 2, 3, 4});
        List<BatchedUpdate> updates = List.of(
                new BatchedUpdate.Accumulate(acc, littleEndian(new float[] {1, 1, 1, 1}, true, 0), 4),
                new BatchedUpdate.Accumulate(acc, littleEndian(new float[] {1, 1, 1}, false, 0), 4));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> device.applyBatch(updates));
        assertMessageHas(e, "update 1 gradient", "count 4", "16 bytes", "12 bytes");
        assertArrayEquals(new float[] {1, 2, 3, 4}, download(acc), "nothing applied");
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> device.applyBatch(Arrays.asList(updates.get(0), null)));
        assertMessageHas(bad, "update 1 of the batch is null");
    }

    // ---- helpers -------------------------------------------------------------------------------

    protected DeviceBuffer allocate(long elements) {
        DeviceBuffer b = device.allocate(elements);
        buffers.add(b);
        return b;
    }

    protected DeviceBuffer upload(float[] values) {
        DeviceBuffer b = allocate(values.length);
        device.upload(values, 0, b, 0, values.length);
        return b;
    }

    protected float[] download(DeviceBuffer b) {
        float[] values = new float[(int) b.elements()];
        device.download(b, 0, values, 0, values.length);
        return values;
    }

    /** The floats little-endian at byte {@code position} of a (direct or heap) buffer positioned there. */
    static ByteBuffer littleEndian(float[] values, boolean direct, int position) {
        int size = position + 4 * values.length + 3;
        ByteBuffer b = (direct ? ByteBuffer.allocateDirect(size) : ByteBuffer.allocate(size))
                .order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < values.length; i++) {
            b.putFloat(position + 4 * i, values[i]);
        }
        b.position(position).limit(position + 4 * values.length);
        return b;
    }

    static float[] gaussian(Random random, int n, double sigma) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * sigma);
        }
        return v;
    }

    static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }

    static void assertClose(double[] expected, float[] actual, String what) {
        assertClose(expected, actual, ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE, what);
    }

    static void assertClose(double[] expected, float[] actual, double absolute, double relative, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double allowed = absolute + relative * Math.abs(expected[i]);
            if (!(Math.abs(actual[i] - expected[i]) <= allowed)) {
                fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i] + " within " + allowed);
            }
        }
    }

    static void assertMessageHas(Exception e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "message '" + e.getMessage() + "' should contain " + part);
        }
    }
}
