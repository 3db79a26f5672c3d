package io.gpups.cuda;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.RandomKSelection;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.device.NonFiniteGuard;
import io.gpups.core.optim.KernelParameters;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.optim.OptimizerSpec.OptimizerKind;
import io.gpups.nativecpu.CpuDevice;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host kernel tier: every kernel of {@code gpups_kernels.cu}, compiled unmodified for the host CUDA model
 * ({@link HostCudaModel}), run with the grid and block shapes {@link CudaDevice} computes, on a big GPU (132 SMs) and on
 * a two-block device whose grid-stride loops run long, over awkward sizes, with operands at aligned and at odd element
 * offsets (the float4 path and the scalar path), and compared with the CPU device.
 *
 * <p>Bit-exact everywhere except the sign codec's scales (a tree sum in the kernel, a sequential sum on the CPU) and
 * the residuals computed from them: those within the stated bound, and bit-exact too on data whose sums are exact.
 * Every test also checks that no kernel writes outside its operands' ranges.
 */
class ModelKernelParityTest {

    /** Sizes with every tail: one element, less than a float4, exactly one, around a block, and past 2^20. */
    static final int[] SIZES = {1, 3, 4, 255, 256, 257, 4099, (1 << 20) + 3};
    private static final long STEP = 3;
    private static final float GRAD_SCALE = 0.5f;
    private static final long SEED = 0x5eedL;

    private static CpuDevice cpu;

    @BeforeAll
    static void openCpu() {
        cpu = new CpuDevice(1);
    }

    @AfterAll
    static void closeCpu() {
        cpu.close();
    }

    /** A launch shape, a size and an element offset of every float operand (0: float4 path, 1: scalar path). */
    record Case(LaunchConfig.DeviceShape shape, int n, int offset) {
        @Override
        public String toString() {
            return (shape == ModelKernels.BIG_GPU ? "132 SMs" : "2 blocks") + ", n=" + n + ", offset " + offset;
        }
    }

    static Stream<Case> cases() {
        List<Case> cases = new ArrayList<>();
        for (LaunchConfig.DeviceShape shape : ModelKernels.SHAPES) {
            for (int n : SIZES) {
                for (int offset : new int[] {0, 1}) {
                    cases.add(new Case(shape, n, offset));
                }
            }
        }
        return cases.stream();
    }

    /** Aligned operands only: kernels whose operands CudaDevice always passes at a buffer's start. */
    static Stream<Case> alignedCases() {
        return cases().filter(c -> c.offset() == 0);
    }

    // ---- the kernel list ----------------------------------------------------------------------------

    @Test
    void theModelRunsEveryKernelOfTheSourceAndOfKernelNames() throws IOException {
        String source = Files.readString(Path.of("src/main/cuda/gpups_kernels.cu"));
        Matcher m = Pattern.compile("extern \"C\" __global__ void (\\w+)\\(").matcher(source);
        List<String> inSource = new ArrayList<>();
        while (m.find()) {
            inSource.add(m.group(1));
        }
        assertEquals(inSource, ModelKernels.names(), "host_kernels.h's table vs the __global__ functions");
        assertEquals(KernelNames.ALL.stream().sorted().toList(), ModelKernels.names().stream().sorted().toList());
        assertEquals(31, inSource.size());
    }

    // ---- server math --------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void fillAccumulateAndScaleMatchTheCpuDevice(Case c) {
        int n = c.n();
        float[] x = random(n, 1);
        float[] g = random(n, 2);

        ModelMemory fill = operand(c, x);
        ModelKernels.launchElementwise(KernelNames.FILL, n, c.shape(), fill.floatAt(c.offset()), 0.25f, (long) n);
        float[] filled = new float[n];
        Arrays.fill(filled, 0.25f);
        assertOperand("fill", c, filled, fill);

        ModelMemory acc = operand(c, x);
        ModelMemory grad = operand(c, g);
        ModelKernels.launchElementwise(KernelNames.ACCUMULATE, n, c.shape(), acc.floatAt(c.offset()),
                grad.floatAt(c.offset()), (long) n);
        try (DeviceBuffer a = cpuBuffer(x); DeviceBuffer b = cpuBuffer(g)) {
            cpu.accumulate(a, b, n);
            assertOperand("accumulate", c, cpuFloats(a, n), acc);
        }
        assertOperand("accumulate's gradient", c, g, grad);

        ModelMemory scaled = operand(c, x);
        ModelKernels.launchElementwise(KernelNames.SCALE, n, c.shape(), scaled.floatAt(c.offset()), -1.75f, (long) n);
        try (DeviceBuffer a = cpuBuffer(x)) {
            cpu.scale(a, -1.75f, n);
            assertOperand("scale", c, cpuFloats(a, n), scaled);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void optimizerKernelsMatchTheCpuDevice(Case c) {
        int n = c.n();
        for (OptimizerKind kind : OptimizerKind.values()) {
            OptimizerSpec spec = spec(kind);
            float[] p = random(n, 3);
            float[][] slots = slots(kind, n);
            float[] g = random(n, 4);
            ModelMemory param = operand(c, p);
            ModelMemory[] slotMemory = operands(c, slots);
            ModelMemory grad = operand(c, g);
            List<Object> args = stateArguments(kind, c, param, slotMemory);
            args.add(grad.floatAt(c.offset()));
            args.add((long) n);
            args.add(paddedParams(spec));
            ModelKernels.launchElementwise(KernelNames.OPTIMIZER, n, c.shape(), args.toArray());

            try (CpuState state = new CpuState(p, slots); DeviceBuffer gb = cpuBuffer(g)) {
                cpu.applyOptimizer(spec, state.param, gb, state.slots, n, STEP, GRAD_SCALE);
                state.assertMatches(kind.cliName(), c, param, slotMemory);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void fusedDecodeKernelsMatchTheCpuDevice(Case c) {
        int n = c.n();
        for (Codec codec : new Codec[] {Codec.NONE, Codec.FP16, Codec.BF16, Codec.INT8, Codec.SIGN}) {
            ByteBuffer payload = cpuPayload(codec, random(n, 5), n);
            ModelMemory staged = staged(payload);
            float[] x = random(n, 6);

            ModelMemory acc = operand(c, x);
            ModelMemory nonFinite = counters(1);
            ModelKernels.launchElementwise(KernelNames.DECODE_ACCUMULATE, n, c.shape(), acc.floatAt(c.offset()),
                    staged.at(0), (long) n, codec.kind().id, nonFinite.at(0));
            assertEquals(0L, nonFinite.buffer().getLong(0), "finite values: no non-finite count");
            try (DeviceBuffer a = cpuBuffer(x)) {
                cpu.decodeAccumulate(codec.kind(), payload, n, SEED, a);
                assertOperand("decode-accumulate " + codec, c, cpuFloats(a, n), acc);
            }

            for (OptimizerKind kind : OptimizerKind.values()) {
                OptimizerSpec spec = spec(kind);
                float[] p = random(n, 7);
                float[][] slots = slots(kind, n);
                ModelMemory param = operand(c, p);
                ModelMemory[] slotMemory = operands(c, slots);
                List<Object> args = stateArguments(kind, c, param, slotMemory);
                args.add(staged.at(0));
                args.add((long) n);
                args.add(codec.kind().id);
                args.add(paddedParams(spec));
                args.add(NonFiniteGuard.SKIP.id);
                args.add(nonFinite.at(0));
                ModelKernels.launchElementwise(KernelNames.DECODE_OPTIMIZER, n, c.shape(), args.toArray());
                try (CpuState state = new CpuState(p, slots)) {
                    cpu.decodeApplyOptimizer(codec.kind(), payload, n, SEED, spec, state.param, state.slots, STEP,
                            GRAD_SCALE);
                    state.assertMatches("decode " + codec + " + " + kind.cliName(), c, param, slotMemory);
                }
            }
        }
    }

    /**
     * Sparse payloads: added into a buffer (decode-accumulate), and decode-and-apply as CudaDevice does it: stored into
     * a zeroed scratch, the plain optimizer kernel over it, then cleared again.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void sparseScatterMatchesTheCpuDevice(Case c) {
        int n = c.n();
        for (Codec codec : new Codec[] {Codec.topk(0.05f), Codec.randomk(0.1f)}) {
            ByteBuffer payload = cpuPayload(codec, random(n, 8), n);
            int k = payload.getInt(payload.position());
            RandomKSelection selection = codec.kind() == Codec.Kind.RANDOMK ? RandomKSelection.of(SEED, n, k)
                    : new RandomKSelection(n, Math.max(k, 1), 0, 1);
            ModelMemory staged = staged(payload);
            float[] x = random(n, 9);

            ModelMemory acc = operand(c, x);
            scatter(c, acc.floatAt(c.offset()), staged, n, codec, k, selection, 0);
            try (DeviceBuffer a = cpuBuffer(x)) {
                cpu.decodeAccumulate(codec.kind(), payload, n, SEED, a);
                assertOperand("scatter-add " + codec, c, cpuFloats(a, n), acc);
            }

            OptimizerSpec spec = spec(OptimizerKind.ADAM);
            float[] p = random(n, 10);
            float[][] slots = slots(OptimizerKind.ADAM, n);
            ModelMemory param = operand(c, p);
            ModelMemory[] slotMemory = operands(c, slots);
            ModelMemory scratch = operand(c, new float[n]);
            scatter(c, scratch.floatAt(c.offset()), staged, n, codec, k, selection, 1);
            ModelKernels.launchElementwise(KernelNames.OPTIMIZER, n, c.shape(), OptimizerKind.ADAM.id,
                    param.floatAt(c.offset()), slotMemory[0].floatAt(c.offset()), slotMemory[1].floatAt(c.offset()),
                    scratch.floatAt(c.offset()), (long) n, paddedParams(spec));
            scatter(c, scratch.floatAt(c.offset()), staged, n, codec, k, selection, 2);
            assertOperand("the sparse scratch, cleared", c, new float[n], scratch);
            try (CpuState state = new CpuState(p, slots)) {
                cpu.decodeApplyOptimizer(codec.kind(), payload, n, SEED, spec, state.param, state.slots, STEP,
                        GRAD_SCALE);
                state.assertMatches("decode " + codec + " + adam", c, param, slotMemory);
            }
        }
    }

    /** {@code n} 64-bit non-finite counters, zeroed (a kernel adds to them). */
    private static ModelMemory counters(int n) {
        ModelMemory m = ModelMemory.bytes(8L * n);
        for (int i = 0; i < n; i++) {
            m.buffer().putLong(8 * i, 0L);
        }
        return m;
    }

    private static void scatter(Case c, long dst, ModelMemory staged, int n, Codec codec, int k,
                                RandomKSelection selection, int mode) {
        ModelKernels.launch(KernelNames.SPARSE_SCATTER, k, c.shape(), dst, staged.at(0), (long) n, codec.kind().id,
                (long) k, selection.start(), selection.stride(), mode, counters(1).at(0));
    }

    /**
     * One launch of the batch kernel over an accumulation and a step of every optimizer, each entry a different count
     * (n - entry), laid out and launched as CudaDevice.applyBatchPart does, against the one-update CPU calls.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void batchUpdateMatchesTheCpuDevice(Case c) {
        OptimizerKind[] kinds = OptimizerKind.values();
        int entries = 1 + kinds.length;
        int[] counts = new int[entries];
        long tableBytes = align((long) BatchEntryLayout.BYTES * entries, 256);
        long[] gradientOffsets = new long[entries];
        long gradientBytes = 0;
        for (int e = 0; e < entries; e++) {
            counts[e] = Math.max(1, c.n() - e);
            gradientOffsets[e] = gradientBytes;
            gradientBytes += align(4L * counts[e], 16);
        }
        ModelMemory batch = ModelMemory.bytes(tableBytes + gradientBytes);
        float[][] gradients = new float[entries][];
        float[][] params = new float[entries][];
        float[][][] slots = new float[entries][][];
        ModelMemory[] paramMemory = new ModelMemory[entries];
        ModelMemory[][] slotMemory = new ModelMemory[entries][];
        for (int e = 0; e < entries; e++) {
            Case entry = new Case(c.shape(), counts[e], c.offset());
            OptimizerKind kind = e == 0 ? null : kinds[e - 1];
            gradients[e] = random(counts[e], 20 + e);
            params[e] = random(counts[e], 30 + e);
            slots[e] = kind == null ? new float[0][] : slots(kind, counts[e]);
            paramMemory[e] = operand(entry, params[e]);
            slotMemory[e] = operands(entry, slots[e]);
            ByteBuffer table = batch.buffer();
            int at = BatchEntryLayout.BYTES * e;
            table.putLong(at + BatchEntryLayout.PARAM_OFFSET, paramMemory[e].floatAt(c.offset()));
            table.putLong(at + BatchEntryLayout.SLOT0_OFFSET,
                    slotMemory[e].length > 0 ? slotMemory[e][0].floatAt(c.offset()) : 0L);
            table.putLong(at + BatchEntryLayout.SLOT1_OFFSET,
                    slotMemory[e].length > 1 ? slotMemory[e][1].floatAt(c.offset()) : 0L);
            table.putLong(at + BatchEntryLayout.GRADIENT_OFFSET, gradientOffsets[e]);
            table.putLong(at + BatchEntryLayout.COUNT_OFFSET, counts[e]);
            table.putInt(at + BatchEntryLayout.KIND_OFFSET, kind == null ? BatchEntryLayout.KIND_ACCUMULATE : kind.id);
            table.putInt(at + BatchEntryLayout.GUARD_OFFSET, NonFiniteGuard.SKIP.id);
            float[] h = kind == null ? new float[KernelParameters.MAX_FLOATS] : paddedParams(spec(kind));
            for (int f = 0; f < KernelParameters.MAX_FLOATS; f++) {
                table.putFloat(at + BatchEntryLayout.PARAMS_OFFSET + Float.BYTES * f, h[f]);
            }
            for (int i = 0; i < counts[e]; i++) {
                table.putFloat((int) (tableBytes + gradientOffsets[e] + 4L * i), gradients[e][i]);
            }
        }
        long largest = Arrays.stream(counts).max().orElseThrow();
        LaunchConfig perRow = LaunchConfig.forElements((largest + 3) / 4, c.shape());
        long share = Math.max(1, LaunchConfig.residentBlocks(perRow.threadsPerBlock(), c.shape()) / entries);
        int blocks = (int) Math.min(perRow.blocks(), share);
        ModelKernels.launch(KernelNames.BATCH_UPDATE, blocks, entries, perRow.threadsPerBlock(), batch.at(0),
                batch.at(tableBytes), counters(entries).at(0));

        for (int e = 0; e < entries; e++) {
            Case entry = new Case(c.shape(), counts[e], c.offset());
            ByteBuffer g = floatBytes(gradients[e]);
            try (CpuState state = new CpuState(params[e], slots[e])) {
                String what;
                if (e == 0) {
                    cpu.accumulate(state.param, g, counts[e]);
                    what = "batched accumulate";
                } else {
                    cpu.decodeApplyOptimizer(Codec.Kind.NONE, g, counts[e], 0, spec(kinds[e - 1]), state.param,
                            state.slots, STEP, GRAD_SCALE);
                    what = "batched " + kinds[e - 1].cliName();
                }
                state.assertMatches(what, entry, paramMemory[e], slotMemory[e]);
            }
        }
    }

    // ---- encoding on the worker -----------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void halfPrecisionEncodesMatchTheCpuDevice(Case c) {
        int n = c.n();
        float[] g = random(n, 11);
        g[0] = 65520f;  // rounds to infinity in fp16
        if (n > 2) {
            g[1] = 1e-8f;  // a subnormal half
            g[2] = -0f;
        }
        for (Codec codec : new Codec[] {Codec.FP16, Codec.BF16}) {
            ModelMemory source = operand(c, g);
            ModelMemory out = ModelMemory.bytes(2L * n);
            ModelKernels.launch(codec == Codec.FP16 ? KernelNames.ENCODE_FP16 : KernelNames.ENCODE_BF16, n, c.shape(),
                    source.floatAt(c.offset()), (long) n, out.at(0));
            assertBytes(codec + " payload", cpuEncode(codec, g, c.offset(), n).payload, out.bytes(0, 2 * n));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void int8EncodeMatchesTheCpuDeviceByteForByte(Case c) {
        int n = c.n();
        float[] g = random(n, 12);
        float[] r = random(n, 13);
        ModelMemory source = operand(c, g);
        ModelMemory residual = operand(c, r);
        ModelMemory out = ModelMemory.bytes(Codec.INT8.maxPayloadBytes(n));
        ModelKernels.launch(KernelNames.ENCODE_INT8, LaunchConfig.forBlocks(Codec.blocks(n), Codec.BLOCK, c.shape()),
                source.floatAt(c.offset()), residual.floatAt(c.offset()), (long) n, out.at(0));
        Encoded expected = cpuEncode(Codec.INT8, g, r, c.offset(), n);
        assertBytes("int8 payload", expected.payload, out.bytes(0, Codec.INT8.maxPayloadBytes(n)));
        assertOperand("int8 residual", c, expected.residual, residual);
    }

    /**
     * sign: the sign words are the CPU device's exactly; a block scale is a tree sum of |a| here and a sequential sum
     * there, so it may differ by the two sums' rounding, at most 256 x 2^-24 of it, and the residual a -+ scale by the
     * scale's difference plus one rounding. On data whose sums are exact (multiples of 1/8 below 2^10) all is
     * bit-exact.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void signEncodeMatchesTheCpuDeviceWithinTheTreeSumsRounding(Case c) {
        int n = c.n();
        for (boolean exactSums : new boolean[] {false, true}) {
            float[] g = exactSums ? dyadic(n, 14) : random(n, 14);
            float[] r = exactSums ? dyadic(n, 15) : random(n, 15);
            ModelMemory source = operand(c, g);
            ModelMemory residual = operand(c, r);
            int bytes = Codec.SIGN.maxPayloadBytes(n);
            ModelMemory out = ModelMemory.bytes(bytes);
            ModelKernels.launch(KernelNames.ENCODE_SIGN,
                    LaunchConfig.forBlocks(Codec.blocks(n), Codec.BLOCK, c.shape()),
                    source.floatAt(c.offset()), residual.floatAt(c.offset()), (long) n, out.at(0));
            Encoded expected = cpuEncode(Codec.SIGN, g, r, c.offset(), n);
            byte[] actual = out.bytes(0, bytes);
            int blocks = Codec.blocks(n);
            assertBytes("sign words", Arrays.copyOfRange(expected.payload, 4 * blocks, bytes),
                    Arrays.copyOfRange(actual, 4 * blocks, bytes));
            ByteBuffer e = ByteBuffer.wrap(expected.payload).order(ByteOrder.LITTLE_ENDIAN);
            ByteBuffer a = ByteBuffer.wrap(actual).order(ByteOrder.LITTLE_ENDIAN);
            float[] scaleError = new float[blocks];
            for (int b = 0; b < blocks; b++) {
                float want = e.getFloat(4 * b);
                float got = a.getFloat(4 * b);
                scaleError[b] = Math.abs(want - got);
                if (exactSums) {
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), "scale of block " + b);
                } else {
                    assertTrue(scaleError[b] <= want * 0x1p-16f, "scale of block " + b + ": " + got + " vs " + want);
                }
            }
            float[] res = residual.floats(c.offset(), n);
            for (int i = 0; i < n; i++) {
                float want = expected.residual[i];
                if (exactSums) {
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(res[i]), "residual " + i);
                } else {
                    float bound = scaleError[i / Codec.BLOCK] + Math.ulp(want) + Math.ulp(res[i]);
                    assertTrue(Math.abs(res[i] - want) <= bound, "residual " + i + ": " + res[i] + " vs " + want);
                }
            }
            residual.assertUntouchedOutside("sign residual", c.offset(), n);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void randomkEncodeMatchesTheCpuDevice(Case c) {
        int n = c.n();
        Codec codec = Codec.randomk(0.1f);
        float[] g = random(n, 16);
        float[] r = random(n, 17);
        ModelMemory source = operand(c, g);
        ModelMemory residual = operand(c, r);
        int k = codec.targetK(n);
        RandomKSelection selection = RandomKSelection.of(SEED, n, k);
        ModelMemory out = ModelMemory.bytes(codec.maxPayloadBytes(n));
        ModelKernels.launchElementwise(KernelNames.ACCUMULATE, n, c.shape(), residual.floatAt(c.offset()),
                source.floatAt(c.offset()), (long) n);
        ModelKernels.launch(KernelNames.ENCODE_RANDOMK, k, c.shape(), residual.floatAt(c.offset()), (long) n, (long) k,
                selection.start(), selection.stride(), out.at(0));
        Encoded expected = cpuEncode(codec, g, r, c.offset(), n);
        assertBytes("randomk payload", expected.payload, out.bytes(0, 8 + 4 * k));
        assertOperand("randomk residual", c, expected.residual, residual);
    }

    /**
     * top-k as CudaDevice.encodeTopk runs it: accumulate, sample, a threshold from the sorted sample, counts per block
     * (recounted as the host decides), compaction. The payload and residual are the CPU device's exactly.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void topkEncodeMatchesTheCpuDevice(Case c) {
        int n = c.n();
        Codec codec = Codec.topk(0.05f);
        float[] g = random(n, 18);
        float[] r = random(n, 19);
        ModelMemory source = operand(c, g);
        ModelMemory residual = operand(c, r);
        long a = residual.floatAt(c.offset());
        ModelMemory out = ModelMemory.bytes(codec.maxPayloadBytes(n));

        int target = codec.targetK(n);
        int capacity = codec.topkCapacity(n);
        int m = Math.min(n, CudaDevice.TOPK_SAMPLE);
        long tiles = (n + 255) / 256;
        long resident = LaunchConfig.residentBlocks(256, c.shape());
        long tilesPerBlock = (tiles + resident - 1) / resident;
        int grid = (int) ((tiles + tilesPerBlock - 1) / tilesPerBlock);
        LaunchConfig config = LaunchConfig.forBlocks(grid, 256, c.shape());
        ModelMemory sample = ModelMemory.floats(m);
        ModelMemory blockCounts = ModelMemory.bytes(4L * grid);

        ModelKernels.launchElementwise(KernelNames.ACCUMULATE, n, c.shape(), a, source.floatAt(c.offset()), (long) n);
        ModelKernels.launch(KernelNames.TOPK_SAMPLE, m, c.shape(), a, (long) n, (long) m, sample.at(0));
        float[] sums = residual.floats(c.offset(), n);
        float[] sorted = sample.floats(0, m);
        for (int j = 0; j < m; j++) {
            assertEquals(Math.abs(sums[(int) ((long) j * n / m)]), sorted[j], "sample " + j);
        }
        Arrays.sort(sorted);
        double fraction = (double) target / n;
        float threshold = 0f;
        long selected = 0;
        for (int attempt = 0; attempt < 4; attempt++) {
            long rank = m - (long) Math.ceil(fraction * m);
            threshold = sorted[(int) Math.max(0, Math.min(m - 1, rank))];
            ModelKernels.launch(KernelNames.TOPK_COUNT, config, a, (long) n, threshold, tilesPerBlock,
                    blockCounts.at(0));
            selected = 0;
            for (int b = 0; b < grid; b++) {
                selected += Integer.toUnsignedLong(blockCounts.intAt(4L * b));
            }
            long passing = 0;
            for (float v : sums) {
                passing += Math.abs(v) >= threshold && Math.abs(v) > 0 ? 1 : 0;
            }
            assertEquals(passing, selected, "top-k count at threshold " + threshold);
            if (selected >= (long) (0.8 * target) && selected <= capacity) {
                break;
            }
            fraction = Math.min(1.0, fraction * target / Math.max(selected, 1));
        }
        int k = (int) Math.min(selected, capacity);
        ModelKernels.launch(KernelNames.TOPK_COMPACT, config, a, (long) n, threshold, tilesPerBlock, blockCounts.at(0),
                k, out.at(0));
        Encoded expected = cpuEncode(codec, g, r, c.offset(), n);
        assertBytes("top-k payload", expected.payload, out.bytes(0, 8 + 8 * k));
        assertOperand("top-k residual", c, expected.residual, residual);
    }

    // ---- worker math --------------------------------------------------------------------------------

    /** rows x cols matrices of the sizes above (and one of 1027 x 1021, about 2^20), on both launch shapes. */
    static Stream<Object[]> matrices() {
        int[][] shapes = {{1, 1}, {1, 3}, {2, 2}, {5, 51}, {16, 16}, {1, 257}, {4099, 1}, {1027, 1021}};
        List<Object[]> out = new ArrayList<>();
        for (LaunchConfig.DeviceShape shape : ModelKernels.SHAPES) {
            for (int[] s : shapes) {
                out.add(new Object[] {new Case(shape, s[0] * s[1], 0), s[0], s[1]});
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void reluKernelsMatchTheCpuDevice(Case c) {
        int n = c.n();
        float[] x = random(n, 21);
        float[] g = random(n, 22);
        ModelMemory mx = operand(c, x);
        ModelKernels.launch(KernelNames.RELU, n, c.shape(), mx.floatAt(c.offset()), (long) n);
        ModelMemory mg = operand(c, g);
        ModelKernels.launch(KernelNames.RELU_BACKWARD, n, c.shape(), mg.floatAt(c.offset()), mx.floatAt(c.offset()),
                (long) n);
        try (DeviceBuffer bx = cpuBuffer(x); DeviceBuffer bg = cpuBuffer(g)) {
            cpu.relu(bx, n);
            cpu.reluBackward(bg, bx, n);
            assertOperand("relu", c, cpuFloats(bx, n), mx);
            assertOperand("relu backward", c, cpuFloats(bg, n), mg);
        }
    }

    @ParameterizedTest(name = "{0}: {1} x {2}")
    @MethodSource("matrices")
    void matrixKernelsMatchTheCpuDevice(Case c, int rows, int cols) {
        int n = rows * cols;
        float[] x = random(n, 23);
        float[] bias = random(cols, 24);
        float[] labels = new float[rows];
        Random random = new Random(25);
        for (int r = 0; r < rows; r++) {
            int argmax = 0;
            for (int k = 1; k < cols; k++) {
                argmax = x[r * cols + k] > x[r * cols + argmax] ? k : argmax;
            }
            labels[r] = r % 2 == 0 ? argmax : random.nextInt(cols);
        }

        ModelMemory mx = operand(c, x);
        ModelMemory mb = operand(c, bias);
        ModelKernels.launch(KernelNames.ADD_BIAS, n, c.shape(), mx.floatAt(0), mb.floatAt(0), rows, cols);
        ModelMemory sums = ModelMemory.floats(cols);
        ModelKernels.launch(KernelNames.COLUMN_SUMS, cols, c.shape(), mx.floatAt(0), rows, cols, sums.at(0));
        ModelMemory ml = operand(c, labels);
        ModelMemory grad = ModelMemory.floats(n);
        ModelMemory rowLoss = ModelMemory.floats(rows);
        ModelKernels.launch(KernelNames.SOFTMAX_XENT, rows, c.shape(), mx.floatAt(0), ml.floatAt(0), rows, cols,
                grad.at(0), rowLoss.at(0));
        ModelMemory correct = ModelMemory.bytes(4);
        correct.putInt(0, 0);
        ModelKernels.launch(KernelNames.COUNT_CORRECT, rows, c.shape(), mx.floatAt(0), ml.floatAt(0), rows, cols,
                correct.at(0));

        try (DeviceBuffer bx = cpuBuffer(x); DeviceBuffer bb = cpuBuffer(bias); DeviceBuffer bl = cpuBuffer(labels);
             DeviceBuffer bs = cpu.allocate(cols); DeviceBuffer bg = cpu.allocate(n)) {
            cpu.addBias(bx, bb, rows, cols);
            assertOperand("add bias", c, cpuFloats(bx, n), mx);
            cpu.columnSums(bx, rows, cols, bs);
            assertOperand("column sums", new Case(c.shape(), cols, 0), cpuFloats(bs, cols), sums);
            float loss = cpu.softmaxCrossEntropy(bx, bl, rows, cols, bg);
            assertOperand("softmax gradient", c, cpuFloats(bg, n), grad);
            double sum = 0;
            for (float l : rowLoss.floats(0, rows)) {
                sum += l;
            }
            assertEquals(Float.floatToRawIntBits(loss), Float.floatToRawIntBits((float) (sum / rows)), "mean loss");
            assertEquals(cpu.countCorrect(bx, bl, rows, cols), correct.intAt(0), "correct rows");
        }
    }

    // ---- data and comparisons -----------------------------------------------------------------------

    static float[] random(int n, long seed) {
        Random random = new Random(seed * 1_000_003L + n);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) random.nextGaussian();
        }
        return x;
    }

    /** Multiples of 1/8 in (-8, 8): a block's sums of |a| are exact in float, in any order. */
    static float[] dyadic(int n, long seed) {
        Random random = new Random(seed * 1_000_003L + n);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (random.nextInt(127) - 63) / 8f;
        }
        return x;
    }

    private static OptimizerSpec spec(OptimizerKind kind) {
        return OptimizerSpec.of(kind, switch (kind) {
            case SGD -> new float[] {0.1f, 0.01f};
            case MOMENTUM, NESTEROV -> new float[] {0.05f, 0.9f, 0.01f};
            case ADAGRAD -> new float[] {0.1f, 1e-8f, 0.1f, 0.01f};
            case ADAM, ADAMW -> new float[] {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f};
            case LION -> new float[] {1e-3f, 0.9f, 0.99f, 0.01f};
        });
    }

    /** The optimizer kernels' leading arguments: the kind's id, the parameters, then two slots (0 past its count). */
    private static List<Object> stateArguments(OptimizerKind kind, Case c, ModelMemory param, ModelMemory[] slots) {
        List<Object> args = new ArrayList<>();
        args.add(kind.id);
        args.add(param.floatAt(c.offset()));
        for (int s = 0; s < 2; s++) {
            args.add(s < slots.length ? slots[s].floatAt(c.offset()) : 0L);
        }
        return args;
    }

    /** The kind's parameter struct padded to OptimizerParams, as CudaDevice passes it. */
    private static float[] paddedParams(OptimizerSpec spec) {
        return Arrays.copyOf(KernelParameters.of(spec, STEP, GRAD_SCALE), KernelParameters.MAX_FLOATS);
    }

    /** State slots as a running optimizer has them: any momentum, a positive Adagrad sum, a non-negative Adam v. */
    private static float[][] slots(OptimizerKind kind, int n) {
        float[][] slots = new float[kind.slots][];
        for (int s = 0; s < kind.slots; s++) {
            slots[s] = random(n, 40 + s);
            boolean positive = kind == OptimizerKind.ADAGRAD || (s == 1);
            if (positive) {
                for (int i = 0; i < n; i++) {
                    slots[s][i] = Math.abs(slots[s][i]) + 0.01f;
                }
            }
        }
        return slots;
    }

    /** An operand in model memory: the values at element c.offset(), the sentinel around them. */
    private static ModelMemory operand(Case c, float[] values) {
        ModelMemory m = ModelMemory.floats(c.offset() + values.length + 4);
        m.putFloats(c.offset(), values);
        return m;
    }

    private static ModelMemory[] operands(Case c, float[][] values) {
        ModelMemory[] out = new ModelMemory[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = operand(c, values[i]);
        }
        return out;
    }

    /** A payload at the start of model memory, as CudaDevice stages it (a scratch buffer's start). */
    private static ModelMemory staged(ByteBuffer payload) {
        ModelMemory m = ModelMemory.bytes(payload.remaining());
        m.putBytes(0, payload);
        return m;
    }

    private static void assertOperand(String what, Case c, float[] expected, ModelMemory actual) {
        float[] got = actual.floats(c.offset(), expected.length);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(got[i])) {
                throw new AssertionError(what + " (" + c + "): element " + i + " is " + got[i] + " (0x"
                        + Integer.toHexString(Float.floatToRawIntBits(got[i])) + "), the CPU device's " + expected[i]
                        + " (0x" + Integer.toHexString(Float.floatToRawIntBits(expected[i])) + ")");
            }
        }
        actual.assertUntouchedOutside(what + " (" + c + ")", c.offset(), expected.length);
    }

    private static void assertBytes(String what, byte[] expected, byte[] actual) {
        assertEquals(expected.length, actual.length, what + " length");
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] != actual[i]) {
                throw new AssertionError(what + ": byte " + i + " of " + expected.length + " is " + actual[i]
                        + ", the CPU device's " + expected[i]);
            }
        }
    }

    private static DeviceBuffer cpuBuffer(float[] values) {
        DeviceBuffer b = cpu.allocate(values.length);
        cpu.upload(values, 0, b, 0, values.length);
        return b;
    }

    private static float[] cpuFloats(DeviceBuffer b, int n) {
        float[] out = new float[n];
        cpu.download(b, 0, out, 0, n);
        return out;
    }

    private static ByteBuffer floatBytes(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.flip();
    }

    private static long align(long value, int alignment) {
        return (value + alignment - 1) / alignment * alignment;
    }

    /** The CPU device's payload of {@code codec} for gradient {@code g} (a zero residual), limited to its length. */
    private static ByteBuffer cpuPayload(Codec codec, float[] g, int n) {
        Encoded e = cpuEncode(codec, g, new float[n], 0, n);
        return ByteBuffer.wrap(e.payload).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static Encoded cpuEncode(Codec codec, float[] g, int offset, int n) {
        return cpuEncode(codec, g, new float[n], offset, n);
    }

    /** The CPU device's encode of g (residual r) placed at {@code offset} of its buffers, as the worker slices them. */
    private static Encoded cpuEncode(Codec codec, float[] g, float[] r, int offset, int n) {
        try (DeviceBuffer source = cpu.allocate(offset + n); DeviceBuffer residual = cpu.allocate(offset + n)) {
            cpu.upload(g, 0, source, offset, n);
            cpu.upload(r, 0, residual, offset, n);
            ByteBuffer out = ByteBuffer.allocate(codec.maxPayloadBytes(n)).order(ByteOrder.LITTLE_ENDIAN);
            int bytes = cpu.encode(codec, source, residual, offset, n, SEED, out);
            byte[] payload = new byte[bytes];
            out.get(0, payload);
            float[] res = new float[n];
            cpu.download(residual, offset, res, 0, n);
            return new Encoded(payload, res);
        }
    }

    record Encoded(byte[] payload, float[] residual) {
    }

    /** Parameters and slots on the CPU device, compared after a step with the model's. */
    private static final class CpuState implements AutoCloseable {
        final DeviceBuffer param;
        final DeviceBuffer[] slots;
        private final int n;

        CpuState(float[] p, float[][] slotValues) {
            this.n = p.length;
            this.param = cpuBuffer(p);
            this.slots = new DeviceBuffer[slotValues.length];
            for (int s = 0; s < slotValues.length; s++) {
                slots[s] = cpuBuffer(slotValues[s]);
            }
        }

        void assertMatches(String what, Case c, ModelMemory param, ModelMemory[] slotMemory) {
            assertOperand(what + " parameters", c, cpuFloats(this.param, n), param);
            for (int s = 0; s < slots.length; s++) {
                assertOperand(what + " slot " + s, c, cpuFloats(slots[s], n), slotMemory[s]);
            }
        }

        @Override
        public void close() {
            param.close();
            for (DeviceBuffer s : slots) {
                s.close();
            }
        }
    }
}
