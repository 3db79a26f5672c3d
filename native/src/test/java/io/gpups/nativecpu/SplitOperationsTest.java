package io.gpups.nativecpu;

import io.gpups.core.codec.Codec;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.optim.OptimizerSpec;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Large elementwise operations split over threads ({@link RangeSplitter}) give the same bits as on one thread,
 * tails and unaligned payloads included.
 */
class SplitOperationsTest {

    /** Four slices on four threads, with a tail that is not a multiple of the slice alignment. */
    private static final int COUNT = (int) (4 * RangeSplitter.MIN_SLICE + 37);

    private static CpuDevice single;
    private static CpuDevice split;

    @BeforeAll
    static void open() {
        single = new CpuDevice(1, 1);
        split = new CpuDevice(1, 4);
        assertEquals(4, split.threads());
    }

    @AfterAll
    static void close() {
        single.close();
        split.close();
    }

    @Test
    void slicesCoverTheRangeOnAlignedBoundaries() {
        try (RangeSplitter splitter = new RangeSplitter(3)) {
            assertEquals(1, splitter.slices(RangeSplitter.MIN_SLICE * 2 - 1));
            assertEquals(2, splitter.slices(RangeSplitter.MIN_SLICE * 2));
            assertEquals(3, splitter.slices(Long.MAX_VALUE));
            List<long[]> seen = Collections.synchronizedList(new ArrayList<>());
            long count = 3 * RangeSplitter.MIN_SLICE + 5;
            splitter.run(count, (offset, n) -> seen.add(new long[] {offset, n}));
            seen.sort((a, b) -> Long.compare(a[0], b[0]));
            assertEquals(3, seen.size());
            long next = 0;
            for (long[] slice : seen) {
                assertEquals(next, slice[0], "slices are contiguous");
                assertEquals(0, slice[0] % RangeSplitter.ALIGNMENT, "slice start " + slice[0] + " is aligned");
                next = slice[0] + slice[1];
            }
            assertEquals(count, next);
        }
    }

    @Test
    void aFailingSliceFailsTheCallAfterEverySliceIsDone() {
        try (RangeSplitter splitter = new RangeSplitter(2)) {
            int[] finished = new int[1];
            IllegalStateException thrown = assertThrows(IllegalStateException.class, () ->
                    splitter.run(2 * RangeSplitter.MIN_SLICE, (offset, n) -> {
                        if (offset > 0) {
                            throw new IllegalStateException("slice at " + offset);
                        }
                        synchronized (finished) {
                            finished[0]++;
                        }
                    }));
            assertEquals("slice at " + RangeSplitter.MIN_SLICE, thrown.getMessage());
            assertEquals(1, finished[0]);
        }
    }

    @Test
    void oneThreadNeedsNoPool() {
        try (RangeSplitter splitter = new RangeSplitter(1)) {
            Thread caller = Thread.currentThread();
            splitter.run(10 * RangeSplitter.MIN_SLICE, (offset, n) -> {
                assertSame(caller, Thread.currentThread());
                assertEquals(10 * RangeSplitter.MIN_SLICE, n);
            });
        }
        assertThrows(IllegalArgumentException.class, () -> new RangeSplitter(0));
    }

    @Test
    void fillAndScaleMatchTheClosedForm() {
        try (DeviceBuffer x = split.allocate(COUNT)) {
            split.fill(x, 3f, COUNT);
            split.scale(x, 0.5f, COUNT);
            float[] out = new float[COUNT];
            split.download(x, 0, out, 0, COUNT);
            for (int i = 0; i < COUNT; i++) {
                if (out[i] != 1.5f) {
                    throw new AssertionError("element " + i + ": " + out[i] + ", expected 1.5");
                }
            }
        }
    }

    @Test
    void accumulateMatchesOneThread() {
        float[] a = random(1);
        float[] g = random(2);
        assertSplitMatches(a, (device, acc) -> {
            try (DeviceBuffer grad = upload(device, g)) {
                device.accumulate(acc, grad, COUNT);
            }
            device.accumulate(acc, payload(g, 3), COUNT);
            return null;
        });
    }

    @Test
    void everyOptimizerMatchesOneThreadWithDeviceAndPayloadGradients() {
        float[] g = random(5);
        List<OptimizerSpec> specs = List.of(new OptimizerSpec.Sgd(0.1f, 0.01f), new OptimizerSpec.Momentum(0.1f, 0.9f, 0f),
                new OptimizerSpec.Nesterov(0.1f, 0.9f, 0.01f), new OptimizerSpec.Adagrad(0.1f, 1e-8f, 0.1f, 0f),
                new OptimizerSpec.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f), new OptimizerSpec.AdamW(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f),
                new OptimizerSpec.Lion(1e-3f, 0.9f, 0.99f, 0.01f));
        for (OptimizerSpec spec : specs) {
            assertSplitMatches(random(4), (device, p) -> {
                DeviceBuffer[] slots = new DeviceBuffer[spec.slots()];
                for (int i = 0; i < slots.length; i++) {
                    slots[i] = device.allocate(COUNT);
                }
                try (DeviceBuffer grad = upload(device, g)) {
                    device.applyOptimizer(spec, p, grad, slots, COUNT, 1, 0.5f);
                    device.decodeApplyOptimizer(Codec.Kind.NONE, payload(g, 1), COUNT, 0, spec, p, slots, 2, 0.5f);
                    device.decodeApplyOptimizer(Codec.Kind.NONE, payload(g, 2), COUNT, 0, spec, p, slots, 3, 1f);
                    device.decodeApplyOptimizer(Codec.Kind.BF16, halfPayload(g, true), COUNT, 0, spec, p, slots, 4, 1f);
                    device.decodeApplyOptimizer(Codec.Kind.FP16, halfPayload(g, false), COUNT, 0, spec, p, slots, 5, 1f);
                } finally {
                    for (DeviceBuffer slot : slots) {
                        slot.close();
                    }
                }
                return null;
            });
        }
    }

    @Test
    void halfPrecisionDecodeAccumulateMatchesOneThread() {
        float[] g = random(7);
        assertSplitMatches(new float[COUNT], (device, acc) -> {
            device.decodeAccumulate(Codec.Kind.BF16, halfPayload(g, true), COUNT, 0, acc);
            device.decodeAccumulate(Codec.Kind.FP16, halfPayload(g, false), COUNT, 0, acc);
            device.decodeAccumulate(Codec.Kind.NONE, payload(g, 0), COUNT, 0, acc);
            return null;
        });
    }

    /** Runs {@code op} on a buffer holding {@code initial} on both devices and compares the results bit for bit. */
    private static void assertSplitMatches(float[] initial, BiFunction<CpuDevice, DeviceBuffer, Void> op) {
        float[] expected = run(single, initial, op);
        float[] actual = run(split, initial, op);
        assertArrayEquals(expected, actual, 0f);
        assertTrue(differsFrom(initial, actual), "the operation changed the buffer");
    }

    private static float[] run(CpuDevice device, float[] initial, BiFunction<CpuDevice, DeviceBuffer, Void> op) {
        try (DeviceBuffer x = upload(device, initial)) {
            op.apply(device, x);
            float[] out = new float[COUNT];
            device.download(x, 0, out, 0, COUNT);
            return out;
        }
    }

    private static boolean differsFrom(float[] a, float[] b) {
        for (int i = 0; i < a.length; i++) {
            if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) {
                return true;
            }
        }
        return false;
    }

    private static DeviceBuffer upload(CpuDevice device, float[] values) {
        DeviceBuffer b = device.allocate(values.length);
        device.upload(values, 0, b, 0, values.length);
        return b;
    }

    /** The values as float32 little-endian in a direct buffer, starting {@code skew} bytes in (unaligned). */
    private static ByteBuffer payload(float[] values, int skew) {
        ByteBuffer b = ByteBuffer.allocateDirect(skew + 4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        b.position(skew);
        for (float v : values) {
            b.putFloat(v);
        }
        b.position(skew);
        return b;
    }

    /** bf16 (the high half of each float) or fp16 payload, one byte in. */
    private static ByteBuffer halfPayload(float[] values, boolean bf16) {
        ByteBuffer b = ByteBuffer.allocateDirect(1 + 2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        b.position(1);
        for (float v : values) {
            b.putShort(bf16 ? (short) (Float.floatToRawIntBits(v) >>> 16) : toHalf(v));
        }
        b.position(1);
        return b;
    }

    /** float to IEEE half by truncation; flushes to zero below half's normal range (enough for test data). */
    private static short toHalf(float v) {
        int bits = Float.floatToRawIntBits(v);
        int sign = (bits >>> 16) & 0x8000;
        int exponent = ((bits >>> 23) & 0xff) - 127 + 15;
        if (exponent <= 0) {
            return (short) sign;
        }
        return (short) (sign | (Math.min(exponent, 30) << 10) | ((bits >>> 13) & 0x3ff));
    }

    private static float[] random(long seed) {
        Random r = new Random(seed);
        float[] out = new float[COUNT];
        for (int i = 0; i < COUNT; i++) {
            out[i] = (float) r.nextGaussian();
        }
        return out;
    }
}
