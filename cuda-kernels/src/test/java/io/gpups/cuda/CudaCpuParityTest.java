package io.gpups.cuda;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.RandomKSelection;
import io.gpups.core.device.BatchedUpdate;
import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.optim.OptimizerSpec;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * CUDA against CPU on the same random inputs, for every op of {@link Device} (the codecs' tolerances are stated at
 * their section). Each test is skipped with the reason
 * where CUDA is unavailable.
 *
 * <p>Tolerances, stated per op (both devices run the same header functions, so differences come only from the
 * compilers):
 * <ul>
 *   <li>exact (bit for bit): fill, accumulate, scale, relu, reluBackward, addBias, columnSums (rows added in the same
 *       order), countCorrect: one IEEE operation per element, or the same sequence of them;</li>
 *   <li>{@value #OPT_ABS} + {@value #OPT_REL} x |cpu| after 4 steps: optimizers, because nvcc contracts a*b+c into one
 *       fused multiply-add (one rounding less) where the x86-64 baseline build cannot;</li>
 *   <li>1e-6 + 1e-5 x |cpu|: softmax cross-entropy, since CUDA's expf/logf are within 2 ulp, not glibc's;</li>
 *   <li>1e-4 x (1 + |cpu|): GEMM, whose cuBLAS and OpenBLAS summation orders differ over k terms.</li>
 * </ul>
 */
class CudaCpuParityTest {

    static final double OPT_ABS = 1e-6;
    static final double OPT_REL = 1e-5;

    private Device cpu;
    private Device cuda;
    private final List<DeviceBuffer> buffers = new ArrayList<>();

    @BeforeEach
    void open() {
        cuda = TestDevices.open(TestDevices.CUDA); // skips the test with the reason where CUDA is unavailable
        cpu = TestDevices.open(TestDevices.CPU);
    }

    @AfterEach
    void close() {
        buffers.forEach(DeviceBuffer::close);
        if (cuda != null) {
            cuda.close();
        }
        if (cpu != null) {
            cpu.close();
        }
    }

    /** The same values on both devices: [0] on the CPU, [1] on CUDA. */
    private DeviceBuffer[] both(float[] values) {
        DeviceBuffer[] pair = {cpu.allocate(values.length), cuda.allocate(values.length)};
        cpu.upload(values, 0, pair[0], 0, values.length);
        cuda.upload(values, 0, pair[1], 0, values.length);
        buffers.add(pair[0]);
        buffers.add(pair[1]);
        return pair;
    }

    private float[] get(Device device, DeviceBuffer b) {
        float[] values = new float[(int) b.elements()];
        device.download(b, 0, values, 0, values.length);
        return values;
    }

    private void assertParity(DeviceBuffer[] pair, double abs, double rel, String what) {
        float[] expected = get(cpu, pair[0]);
        float[] actual = get(cuda, pair[1]);
        for (int i = 0; i < expected.length; i++) {
            double allowed = abs + rel * Math.abs(expected[i]);
            boolean ok = allowed == 0 ? Float.compare(expected[i], actual[i]) == 0
                    : Math.abs(actual[i] - expected[i]) <= allowed;
            if (!ok) {
                fail(what + ": element " + i + " cuda " + actual[i] + ", cpu " + expected[i] + ", allowed " + allowed);
            }
        }
    }

    private void exact(DeviceBuffer[] pair, String what) {
        assertParity(pair, 0, 0, what);
    }

    // ---- memory and server math ------------------------------------------------------------------

    @Test
    void fillAccumulateAndScaleAreBitForBit() {
        Random random = new Random(11);
        int n = 3_000_017; // spans several staging slots
        float[] grad = DeviceContractTest.gaussian(random, n, 2.0);
        DeviceBuffer[] acc = both(DeviceContractTest.gaussian(random, n, 1.0));
        DeviceBuffer[] g = both(grad);
        cpu.accumulate(acc[0], g[0], n);
        cuda.accumulate(acc[1], g[1], n);
        for (boolean direct : new boolean[] {true, false}) {
            cpu.accumulate(acc[0], DeviceContractTest.littleEndian(grad, direct, 4), n);
            cuda.accumulate(acc[1], DeviceContractTest.littleEndian(grad, direct, 4), n);
        }
        cpu.scale(acc[0], 0.3f, n - 5);
        cuda.scale(acc[1], 0.3f, n - 5);
        exact(acc, "accumulate x3 then scale");
        DeviceBuffer[] filled = both(new float[n]);
        cpu.fill(filled[0], -1.75f, n - 1);
        cuda.fill(filled[1], -1.75f, n - 1);
        exact(filled, "fill");
    }

    static Stream<Arguments> optimizerCases() {
        List<Arguments> cases = new ArrayList<>();
        DeviceContractTest.optimizers().forEach(spec -> {
            for (int size : new int[] {1, 1000, 1_048_579}) {
                for (DeviceContractTest.GradientSource source : DeviceContractTest.GradientSource.values()) {
                    cases.add(Arguments.of(spec, size, source));
                }
            }
        });
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} n={1} grad={2}")
    @MethodSource("optimizerCases")
    void optimizersAgreeAfterFourSteps(OptimizerSpec spec, int size, DeviceContractTest.GradientSource source) {
        Random random = new Random(7L * size + spec.kind().id);
        DeviceBuffer[] param = both(DeviceContractTest.gaussian(random, size, 1.0));
        List<DeviceBuffer[]> slots = new ArrayList<>();
        for (int s = 0; s < spec.slots(); s++) {
            DeviceBuffer[] slot = both(new float[size]);
            if (spec instanceof OptimizerSpec.Adagrad adagrad) {
                cpu.fill(slot[0], adagrad.initialAccumulator(), size);
                cuda.fill(slot[1], adagrad.initialAccumulator(), size);
            }
            slots.add(slot);
        }
        Function<Integer, DeviceBuffer[]> slotsOf = d -> slots.stream().map(s -> s[d]).toArray(DeviceBuffer[]::new);
        for (long t = 1; t <= 4; t++) {
            float[] grad = DeviceContractTest.gaussian(random, size, 2.0);
            switch (source) {
                case DEVICE -> {
                    DeviceBuffer[] g = both(grad);
                    cpu.applyOptimizer(spec, param[0], g[0], slotsOf.apply(0), size, t, 0.25f);
                    cuda.applyOptimizer(spec, param[1], g[1], slotsOf.apply(1), size, t, 0.25f);
                }
                case DIRECT_HOST, HEAP_HOST -> {
                    boolean direct = source == DeviceContractTest.GradientSource.DIRECT_HOST;
                    ByteBuffer payload = DeviceContractTest.littleEndian(grad, direct, 3);
                    cpu.decodeApplyOptimizer(Codec.Kind.NONE, payload, size, 0, spec, param[0], slotsOf.apply(0), t, 0.25f);
                    cuda.decodeApplyOptimizer(Codec.Kind.NONE, payload, size, 0, spec, param[1], slotsOf.apply(1), t, 0.25f);
                    assertEquals(3, payload.position());
                }
            }
        }
        assertParity(param, OPT_ABS, OPT_REL, spec + " param");
        for (int s = 0; s < slots.size(); s++) {
            assertParity(slots.get(s), OPT_ABS, OPT_REL, spec + " slot " + s);
        }
    }

    // ---- gradient codecs -------------------------------------------------------------------------
    //
    // Encode, stated per codec (same values, same starting residual on both devices, one step):
    //   none, fp16, bf16, randomk: payload and residual bit for bit (copies, bit operations, one addition);
    //   int8: payload bit for bit: absmax is a max, so the scale does not depend on the reduction order, and
    //         a / scale and rint are IEEE on both. The residual a - q*scale is one fused multiply-add on the GPU and
    //         two roundings on the CPU: within 2 ulp of |a|;
    //   sign: sign words bit for bit; each scale is a float sum of up to 256 magnitudes, a tree on the GPU and a
    //         sequence on the CPU: within 256 x 2^-24 of the scale (the error bound of either sum). The residual
    //         a -/+ scale moves with its block's scale difference, plus 2 ulp;
    //   topk: payload and residual bit for bit: the same sample, the same order statistic as the threshold, exact
    //         counts, and the same first survivors in index order (also when more than the capacity survive).
    // Decode (payloads from the CPU encoder): decode-accumulate bit for bit except int8 (acc + q*scale contracts
    // to a fused multiply-add: OPT tolerance); decode-and-apply within the optimizer tolerance after two steps.

    static Stream<Arguments> encodeCases() {
        List<Arguments> cases = new ArrayList<>();
        for (Codec codec : DeviceContractTest.CODECS) {
            for (int n : new int[] {1, 257, 100_003, 1_048_583}) {
                cases.add(Arguments.of(codec, n));
            }
        }
        cases.add(Arguments.of(Codec.topk(0.01f), 1_048_576));
        return cases.stream();
    }

    /** One encode on a device: [0] payload bytes, then the residual after. */
    private record Encoded(byte[] payload, float[] residual) {
    }

    private Encoded encode(Device device, Codec codec, float[] values, float[] residual, long seed) {
        int n = values.length;
        DeviceBuffer g = device.allocate(n);
        DeviceBuffer r = device.allocate(n);
        buffers.add(g);
        buffers.add(r);
        device.upload(values, 0, g, 0, n);
        device.upload(residual, 0, r, 0, n);
        ByteBuffer out = ByteBuffer.allocateDirect(codec.maxPayloadBytes(n)).order(ByteOrder.LITTLE_ENDIAN);
        int bytes = device.encode(codec, g, r, 0, n, seed, out);
        byte[] payload = new byte[bytes];
        out.get(0, payload);
        return new Encoded(payload, get(device, r));
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("encodeCases")
    void encodersAgree(Codec codec, int n) {
        Random random = new Random(n + 13L * codec.kind().id);
        float[] values = DeviceContractTest.codecValues(random, n);
        float[] residual = DeviceContractTest.gaussian(random, n, 0.25);
        long seed = RandomKSelection.seed("t", 1, n, 0);
        Encoded c = encode(cpu, codec, values, residual, seed);
        Encoded g = encode(cuda, codec, values, residual, seed);
        assertEquals(c.payload.length, g.payload.length, codec + ": payload length");
        switch (codec.kind()) {
            case NONE, FP16, BF16, RANDOMK, TOPK -> {
                assertArrayEquals(c.payload, g.payload, codec + ": payload bytes");
                assertArrayEquals(c.residual, g.residual, codec + ": residual");
            }
            case INT8 -> {
                assertArrayEquals(c.payload, g.payload, codec + ": payload bytes");
                for (int i = 0; i < n; i++) {
                    float a = values[i] + residual[i];
                    assertEquals(c.residual[i], g.residual[i], 2 * Math.ulp(a), "int8 residual " + i + " of a = " + a);
                }
            }
            case SIGN -> {
                int scaleBytes = 4 * Codec.blocks(n);
                assertArrayEquals(Arrays.copyOfRange(c.payload, scaleBytes, c.payload.length),
                        Arrays.copyOfRange(g.payload, scaleBytes, g.payload.length), "sign words");
                ByteBuffer cs = ByteBuffer.wrap(c.payload).order(ByteOrder.LITTLE_ENDIAN);
                ByteBuffer gs = ByteBuffer.wrap(g.payload).order(ByteOrder.LITTLE_ENDIAN);
                for (int b = 0; b < Codec.blocks(n); b++) {
                    float cpuScale = cs.getFloat(4 * b);
                    float cudaScale = gs.getFloat(4 * b);
                    double scaleDiff = Math.abs(cpuScale - cudaScale);
                    assertTrue(scaleDiff <= 256 * 0x1.0p-24 * cpuScale + Float.MIN_VALUE,
                            "scale of block " + b + ": cuda " + cudaScale + ", cpu " + cpuScale);
                    for (int i = b * Codec.BLOCK; i < Math.min(n, (b + 1) * Codec.BLOCK); i++) {
                        float a = values[i] + residual[i];
                        double allowed = scaleDiff + 2 * Math.ulp(Math.max(Math.abs(a), cpuScale));
                        assertEquals(c.residual[i], g.residual[i], allowed, "sign residual " + i);
                    }
                }
            }
        }
    }

    @Test
    void topkAgreesWhenMoreThanTheCapacitySurvive() {
        // Equal magnitudes: every threshold selects all n, so both devices send the first capacity() elements.
        int n = 50_000;
        Codec codec = Codec.topk(0.01f);
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (i % 3 == 0) ? -1f : 1f;
        }
        Encoded c = encode(cpu, codec, values, new float[n], 0);
        Encoded g = encode(cuda, codec, values, new float[n], 0);
        assertEquals(8 + 8 * codec.topkCapacity(n), c.payload.length);
        assertArrayEquals(c.payload, g.payload, "payload bytes");
        assertArrayEquals(c.residual, g.residual, "residual");
    }

    static Stream<Arguments> decodeCases() {
        List<Arguments> cases = new ArrayList<>();
        for (Codec codec : DeviceContractTest.CODECS) {
            for (int n : new int[] {1, 1000, 1_048_583}) {
                cases.add(Arguments.of(codec, n));
            }
        }
        return cases.stream();
    }

    /** A payload encoded on the CPU, in a heap buffer at an odd position. */
    private ByteBuffer cpuPayload(Codec codec, float[] values, long seed) {
        byte[] bytes = encode(cpu, codec, values, new float[values.length], seed).payload;
        ByteBuffer b = ByteBuffer.allocate(bytes.length + 3).order(ByteOrder.LITTLE_ENDIAN);
        b.position(3);
        b.put(bytes);
        return b.position(3);
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("decodeCases")
    void decodeAccumulateAgrees(Codec codec, int n) {
        Random random = new Random(n + 17L * codec.kind().id);
        long seed = 99;
        ByteBuffer payload = cpuPayload(codec, DeviceContractTest.gaussian(random, n, 1.0), seed);
        DeviceBuffer[] acc = both(DeviceContractTest.gaussian(random, n, 1.0));
        cpu.decodeAccumulate(codec.kind(), payload.duplicate(), n, seed, acc[0]);
        cuda.decodeAccumulate(codec.kind(), payload.duplicate(), n, seed, acc[1]);
        if (codec.kind() == Codec.Kind.INT8) {
            assertParity(acc, OPT_ABS, OPT_REL, codec + " decode-accumulate");
        } else {
            exact(acc, codec + " decode-accumulate");
        }
    }

    static Stream<Arguments> decodeApplyCases() {
        List<Arguments> cases = new ArrayList<>();
        for (Codec codec : DeviceContractTest.CODECS) {
            DeviceContractTest.optimizers().forEach(spec -> cases.add(Arguments.of(codec, spec)));
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("decodeApplyCases")
    void decodeApplyOptimizerAgreesAfterTwoSteps(Codec codec, OptimizerSpec spec) {
        int n = 100_003;
        Random random = new Random(23L * codec.kind().id + spec.kind().id);
        DeviceBuffer[] param = both(DeviceContractTest.gaussian(random, n, 1.0));
        List<DeviceBuffer[]> slots = new ArrayList<>();
        for (int s = 0; s < spec.slots(); s++) {
            DeviceBuffer[] slot = both(new float[n]);
            if (spec instanceof OptimizerSpec.Adagrad adagrad) {
                cpu.fill(slot[0], adagrad.initialAccumulator(), n);
                cuda.fill(slot[1], adagrad.initialAccumulator(), n);
            }
            slots.add(slot);
        }
        Function<Integer, DeviceBuffer[]> slotsOf = d -> slots.stream().map(s -> s[d]).toArray(DeviceBuffer[]::new);
        for (long t = 1; t <= 2; t++) {
            ByteBuffer payload = cpuPayload(codec, DeviceContractTest.gaussian(random, n, 1.0), t);
            cpu.decodeApplyOptimizer(codec.kind(), payload.duplicate(), n, t, spec, param[0], slotsOf.apply(0), t, 0.5f);
            cuda.decodeApplyOptimizer(codec.kind(), payload.duplicate(), n, t, spec, param[1], slotsOf.apply(1), t,
                    0.5f);
        }
        assertParity(param, OPT_ABS, OPT_REL, codec + " " + spec + " param");
        for (int s = 0; s < slots.size(); s++) {
            assertParity(slots.get(s), OPT_ABS, OPT_REL, codec + " " + spec + " slot " + s);
        }
    }

    // ---- batched updates ----------------------------------------------------------------------------

    /**
     * The batch of {@link DeviceContractTest#aBatchEqualsItsUpdatesOneByOneInOrder} (every optimizer and an
     * accumulator, chunks updated up to three times, sizes with float4 tails) applied by each device's
     * {@link Device#applyBatch}: on CUDA one launch per wave of {@code gpups_batch_update}, on the CPU one call per
     * update. Tolerances as the one-chunk ops: accumulation exact, optimizers within {@value #OPT_ABS} +
     * {@value #OPT_REL} x |cpu|.
     */
    @Test
    void aBatchAgreesWithTheCpu() {
        Random random = new Random(8);
        List<OptimizerSpec> kinds = DeviceContractTest.batchKinds();
        List<DeviceContractTest.BatchChunk[]> chunks = new ArrayList<>();
        for (int c = 0; c < kinds.size(); c++) {
            float[] p0 = DeviceContractTest.gaussian(random, DeviceContractTest.BATCH_SIZES[c % 4] + 100_000 * (c % 2),
                    1.0);
            chunks.add(new DeviceContractTest.BatchChunk[] {
                    DeviceContractTest.batchChunk(cpu, buffers, kinds.get(c), p0),
                    DeviceContractTest.batchChunk(cuda, buffers, kinds.get(c), p0)});
        }
        List<BatchedUpdate> onCpu = new ArrayList<>();
        List<BatchedUpdate> onCuda = new ArrayList<>();
        long[] steps = new long[kinds.size()];
        for (int c : DeviceContractTest.BATCH_ORDER) {
            ByteBuffer g = DeviceContractTest.littleEndian(
                    DeviceContractTest.gaussian(random, chunks.get(c)[0].n(), 1.0), true, 5);
            steps[c]++;
            onCpu.add(chunks.get(c)[0].update(g.duplicate(), steps[c]));
            onCuda.add(chunks.get(c)[1].update(g.duplicate(), steps[c]));
        }
        cpu.applyBatch(onCpu);
        cuda.applyBatch(onCuda);
        for (int c = 0; c < kinds.size(); c++) {
            DeviceContractTest.BatchChunk[] pair = chunks.get(c);
            String what = (kinds.get(c) == null ? "accumulate" : kinds.get(c).toString()) + " chunk " + c;
            if (kinds.get(c) == null) {
                exact(new DeviceBuffer[] {pair[0].param(), pair[1].param()}, what);
            } else {
                assertParity(new DeviceBuffer[] {pair[0].param(), pair[1].param()}, OPT_ABS, OPT_REL, what);
                for (int s = 0; s < pair[0].slots().length; s++) {
                    assertParity(new DeviceBuffer[] {pair[0].slots()[s], pair[1].slots()[s]}, OPT_ABS, OPT_REL,
                            what + " slot " + s);
                }
            }
        }
    }

    // ---- non-finite gradients ------------------------------------------------------------------------

    /** n floats with NaN and infinities on the float4 path (elements 0, n/2, n/2 + 1) and in its scalar tail (n-2, n-1). */
    private static float[] poisoned(int n) {
        float[] v = gaussian(n, 41);
        v[0] = Float.NaN;
        v[n / 2] = Float.POSITIVE_INFINITY;
        v[n / 2 + 1] = Float.NEGATIVE_INFINITY;
        v[n - 2] = Float.NEGATIVE_INFINITY;
        v[n - 1] = Float.NaN;
        return v;
    }

    /** Payloads of every codec with non-finite decoded values, and how many each holds. */
    private static List<Object[]> nonFinitePayloads(int n) {
        List<Object[]> out = new ArrayList<>();
        float[] v = poisoned(n);
        ByteBuffer f32 = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer fp16 = ByteBuffer.allocateDirect(2 * n).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer bf16 = ByteBuffer.allocateDirect(2 * n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            f32.putFloat(4 * i, v[i]);
            int bits = Float.floatToRawIntBits(v[i]);
            boolean finite = Float.isFinite(v[i]);
            fp16.putShort(2 * i, (short) (Float.isNaN(v[i]) ? 0x7e00 : !finite ? (v[i] > 0 ? 0x7c00 : 0xfc00) : 0x3c00));
            bf16.putShort(2 * i, (short) (Float.isNaN(v[i]) ? 0x7fc0 : bits >>> 16));
        }
        out.add(new Object[] {Codec.Kind.NONE, f32, 5L});
        out.add(new Object[] {Codec.Kind.FP16, fp16, 5L});
        out.add(new Object[] {Codec.Kind.BF16, bf16, 5L});
        int blocks = Codec.blocks(n);
        ByteBuffer int8 = ByteBuffer.allocateDirect(4 * blocks + n).order(ByteOrder.LITTLE_ENDIAN);
        for (int b = 0; b < blocks; b++) {
            int8.putFloat(4 * b, b == 1 ? Float.NaN : 0.01f);
        }
        for (int i = 0; i < n; i++) {
            int8.put(4 * blocks + i, (byte) (i % 7 - 3));
        }
        out.add(new Object[] {Codec.Kind.INT8, int8, (long) Math.min(Codec.BLOCK, n - Codec.BLOCK)});
        int k = 6;
        ByteBuffer topk = ByteBuffer.allocateDirect(8 + 8 * k).order(ByteOrder.LITTLE_ENDIAN);
        topk.putInt(0, k);
        for (int j = 0; j < k; j++) {
            topk.putInt(8 + 4 * j, j * (n / k));
            topk.putFloat(8 + 4 * k + 4 * j, j % 2 == 0 ? Float.POSITIVE_INFINITY : 0.5f);
        }
        out.add(new Object[] {Codec.Kind.TOPK, topk, 3L});
        return out;
    }

    @Test
    void nonFiniteGradientsAreCountedAndGuardedAsOnTheCpu() {
        int n = 1003; // 250 float4 quads and a scalar tail of 3
        OptimizerSpec adam = new OptimizerSpec.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, 1e-4f);
        for (Object[] c : nonFinitePayloads(n)) {
            Codec.Kind codec = (Codec.Kind) c[0];
            ByteBuffer payload = (ByteBuffer) c[1];
            long expected = (Long) c[2];
            DeviceBuffer[] acc = both(gaussian(n, 42));
            assertEquals(expected, cpu.decodeAccumulate(codec, payload.duplicate(), n, 0, acc[0]), codec + " cpu accumulate");
            assertEquals(expected, cuda.decodeAccumulate(codec, payload.duplicate(), n, 0, acc[1]), codec + " cuda accumulate");
            exact(acc, codec + " accumulate");
            for (io.gpups.core.device.NonFiniteGuard guard : io.gpups.core.device.NonFiniteGuard.values()) {
                DeviceBuffer[] p = both(gaussian(n, 43));
                DeviceBuffer[] m = both(gaussian(n, 44));
                DeviceBuffer[] v = both(absolute(gaussian(n, 45)));
                float[] before = get(cpu, p[0]);
                assertEquals(expected, cpu.decodeApplyOptimizer(codec, payload.duplicate(), n, 0, adam, p[0],
                        new DeviceBuffer[] {m[0], v[0]}, 3, 0.5f, guard), codec + " " + guard + " cpu count");
                assertEquals(expected, cuda.decodeApplyOptimizer(codec, payload.duplicate(), n, 0, adam, p[1],
                        new DeviceBuffer[] {m[1], v[1]}, 3, 0.5f, guard), codec + " " + guard + " cuda count");
                assertParity(p, OPT_ABS, OPT_REL, codec + " " + guard + " param");
                assertParity(m, OPT_ABS, OPT_REL, codec + " " + guard + " m");
                assertParity(v, OPT_ABS, OPT_REL, codec + " " + guard + " v");
                float[] after = get(cuda, p[1]);
                for (int i = 0; i < n; i++) {
                    assertTrue(Float.isFinite(after[i]), codec + " " + guard + ": cuda parameter " + i + " is " + after[i]);
                }
                if (guard == io.gpups.core.device.NonFiniteGuard.SKIP && codec == Codec.Kind.NONE) {
                    for (int i : new int[] {0, n / 2, n / 2 + 1, n - 2, n - 1}) {
                        assertEquals(before[i], after[i], "skipped element " + i + " is untouched");
                    }
                }
            }
        }
    }

    @Test
    void aBatchCountsEachUpdatesNonFiniteValuesAsOnTheCpu() {
        int n = 1003;
        OptimizerSpec adam = new OptimizerSpec.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, 0f);
        DeviceBuffer[] acc = both(gaussian(n, 51));
        DeviceBuffer[] p = both(gaussian(n, 52));
        DeviceBuffer[] m = both(new float[n]);
        DeviceBuffer[] v = both(new float[n]);
        DeviceBuffer[] clean = both(gaussian(n, 53));
        ByteBuffer bad = (ByteBuffer) nonFinitePayloads(n).get(0)[1];
        ByteBuffer good = DeviceContractTest.littleEndian(gaussian(n, 54), true, 0);
        long[][] counts = new long[2][];
        for (int d = 0; d < 2; d++) {
            Device on = d == 0 ? cpu : cuda;
            counts[d] = on.applyBatch(List.of(
                    new BatchedUpdate.Accumulate(acc[d], bad.duplicate(), n),
                    new BatchedUpdate.OptimizerStep(adam, p[d], new DeviceBuffer[] {m[d], v[d]}, bad.duplicate(), n, 1, 1f,
                            io.gpups.core.device.NonFiniteGuard.SKIP),
                    new BatchedUpdate.Accumulate(clean[d], good.duplicate(), n),
                    new BatchedUpdate.Accumulate(acc[d], bad.duplicate(), n)));
        }
        assertArrayEquals(new long[] {5, 5, 0, 5}, counts[0], "cpu");
        assertArrayEquals(counts[0], counts[1], "cuda");
        exact(acc, "accumulator updated twice (two waves)");
        exact(clean, "clean accumulator");
        assertParity(p, OPT_ABS, OPT_REL, "param");
    }

    private static float[] gaussian(int n, long seed) {
        return DeviceContractTest.gaussian(new Random(seed), n, 1.0);
    }

    private static float[] absolute(float[] v) {
        for (int i = 0; i < v.length; i++) {
            v[i] = Math.abs(v[i]) * 0.01f;
        }
        return v;
    }

    /**
     * More gradient bytes than one copy takes ({@link CudaDevice#BATCH_MAX_BYTES}): the CUDA device applies the batch
     * in parts, in order; accumulation stays exact, including a chunk updated in two parts.
     */
    @Test
    void aBatchLargerThanOneCopyGoesInPartsInOrder() {
        int n = 1 << 20;
        int chunks = (int) (CudaDevice.BATCH_MAX_BYTES / (4L * n)) + 2;
        Random random = new Random(12);
        List<DeviceBuffer[]> acc = new ArrayList<>();
        List<BatchedUpdate> onCpu = new ArrayList<>();
        List<BatchedUpdate> onCuda = new ArrayList<>();
        for (int c = 0; c < chunks; c++) {
            acc.add(both(DeviceContractTest.gaussian(random, n, 1.0)));
        }
        for (int k = 0; k <= chunks; k++) {
            DeviceBuffer[] target = acc.get(k % chunks); // the last update goes to chunk 0 again, in another part
            ByteBuffer g = DeviceContractTest.littleEndian(DeviceContractTest.gaussian(random, n, 1.0), false, 0);
            onCpu.add(new BatchedUpdate.Accumulate(target[0], g.duplicate(), n));
            onCuda.add(new BatchedUpdate.Accumulate(target[1], g.duplicate(), n));
        }
        cpu.applyBatch(onCpu);
        cuda.applyBatch(onCuda);
        for (int c = 0; c < chunks; c++) {
            exact(acc.get(c), "chunk " + c);
        }
    }

    // ---- worker math -----------------------------------------------------------------------------

    /**
     * The project's own SGEMM kernel (what a machine without cuBLAS 12 runs) against OpenBLAS, every transposition,
     * at sizes around its 64 x 64 tile and 16-deep K step, and with beta 0 over a C full of NaN (BLAS: C is then
     * only written).
     */
    @Test
    void theOwnGemmKernelAgreesForEveryTranspositionAndAwkwardSize() {
        String before = System.getProperty(CudaDevice.GEMM_PROPERTY);
        System.setProperty(CudaDevice.GEMM_PROPERTY, "kernel");
        try (CudaDevice kernel = CudaDevice.open(0)) {
            assertTrue(kernel.gemmDescription().startsWith("gpups_sgemm"), kernel.gemmDescription());
            Random random = new Random(11);
            int[][] shapes = {{1, 1, 1}, {1, 1, 0}, {3, 5, 7}, {63, 64, 15}, {64, 64, 16}, {65, 129, 17}, {200, 3, 300}};
            for (int[] shape : shapes) {
                int m = shape[0];
                int n = shape[1];
                int k = shape[2];
                for (boolean transA : new boolean[] {false, true}) {
                    for (boolean transB : new boolean[] {false, true}) {
                        for (float beta : new float[] {0f, 2f}) {
                            float[] a = DeviceContractTest.gaussian(random, Math.max(1, m * k), 1.0);
                            float[] b = DeviceContractTest.gaussian(random, Math.max(1, k * n), 1.0);
                            float[] c = DeviceContractTest.gaussian(random, m * n, 1.0);
                            float[] cOnGpu = c.clone();
                            if (beta == 0f) {
                                java.util.Arrays.fill(cOnGpu, Float.NaN);
                            }
                            float[] expected = gemmOn(cpu, transA, transB, m, n, k, a, b, beta, c);
                            float[] got = gemmOn(kernel, transA, transB, m, n, k, a, b, beta, cOnGpu);
                            String what = "sgemm m=" + m + " n=" + n + " k=" + k + " transA=" + transA
                                    + " transB=" + transB + " beta=" + beta;
                            for (int i = 0; i < expected.length; i++) {
                                double tolerance = 1e-4 + 1e-4 * Math.abs(expected[i]);
                                assertTrue(Math.abs(expected[i] - got[i]) <= tolerance,
                                        what + " element " + i + ": OpenBLAS " + expected[i] + ", kernel " + got[i]);
                            }
                        }
                    }
                }
            }
        } finally {
            if (before == null) {
                System.clearProperty(CudaDevice.GEMM_PROPERTY);
            } else {
                System.setProperty(CudaDevice.GEMM_PROPERTY, before);
            }
        }
    }

    private static float[] gemmOn(Device device, boolean transA, boolean transB, int m, int n, int k,
                                  float[] a, float[] b, float beta, float[] c) {
        try (DeviceBuffer da = device.allocate(a.length); DeviceBuffer db = device.allocate(b.length);
             DeviceBuffer dc = device.allocate(c.length)) {
            device.upload(a, 0, da, 0, a.length);
            device.upload(b, 0, db, 0, b.length);
            device.upload(c, 0, dc, 0, c.length);
            device.gemm(transA, transB, m, n, k, 0.5f, da, db, beta, dc);
            float[] out = new float[c.length];
            device.download(dc, 0, out, 0, out.length);
            return out;
        }
    }

    @Test
    void gemmAgreesForEveryTransposition() {
        int m = 129;
        int n = 67;
        int k = 300;
        Random random = new Random(5);
        for (boolean transA : new boolean[] {false, true}) {
            for (boolean transB : new boolean[] {false, true}) {
                DeviceBuffer[] a = both(DeviceContractTest.gaussian(random, m * k, 1.0));
                DeviceBuffer[] b = both(DeviceContractTest.gaussian(random, k * n, 1.0));
                DeviceBuffer[] c = both(DeviceContractTest.gaussian(random, m * n, 1.0));
                cpu.gemm(transA, transB, m, n, k, 0.5f, a[0], b[0], 2f, c[0]);
                cuda.gemm(transA, transB, m, n, k, 0.5f, a[1], b[1], 2f, c[1]);
                assertParity(c, 1e-4, 1e-4, "gemm transA=" + transA + " transB=" + transB);
            }
        }
    }

    @Test
    void biasReluAndColumnSumsAreBitForBit() {
        int rows = 1000;
        int cols = 33;
        Random random = new Random(6);
        float[] x = DeviceContractTest.gaussian(random, rows * cols, 1.0);
        DeviceBuffer[] dx = both(x);
        DeviceBuffer[] bias = both(DeviceContractTest.gaussian(random, cols, 1.0));
        cpu.addBias(dx[0], bias[0], rows, cols);
        cuda.addBias(dx[1], bias[1], rows, cols);
        exact(dx, "addBias");
        DeviceBuffer[] sums = both(new float[cols]);
        cpu.columnSums(dx[0], rows, cols, sums[0]);
        cuda.columnSums(dx[1], rows, cols, sums[1]);
        exact(sums, "columnSums");
        DeviceBuffer[] activation = both(x);
        cpu.relu(activation[0], rows * cols);
        cuda.relu(activation[1], rows * cols);
        exact(activation, "relu");
        cpu.reluBackward(dx[0], activation[0], rows * cols);
        cuda.reluBackward(dx[1], activation[1], rows * cols);
        exact(dx, "reluBackward");
    }

    @Test
    void softmaxCrossEntropyAndCountCorrectAgree() {
        int rows = 512;
        int cols = 10;
        Random random = new Random(8);
        float[] logits = DeviceContractTest.gaussian(random, rows * cols, 4.0);
        logits[17] = 90f;
        float[] labels = new float[rows];
        for (int r = 0; r < rows; r++) {
            labels[r] = random.nextInt(cols);
        }
        DeviceBuffer[] l = both(logits);
        DeviceBuffer[] y = both(labels);
        DeviceBuffer[] grad = both(new float[rows * cols]);
        float cpuLoss = cpu.softmaxCrossEntropy(l[0], y[0], rows, cols, grad[0]);
        float cudaLoss = cuda.softmaxCrossEntropy(l[1], y[1], rows, cols, grad[1]);
        assertEquals(cpuLoss, cudaLoss, 1e-6 + 1e-5 * Math.abs(cpuLoss), "mean loss");
        assertParity(grad, 1e-6, 1e-5, "softmax cross-entropy gradient");
        assertEquals(cpu.countCorrect(l[0], y[0], rows, cols), cuda.countCorrect(l[1], y[1], rows, cols));
    }
}
