package io.gpups.bench;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.RandomKSelection;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.nativecpu.CpuDevice;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Every gradient codec on the {@link CpuDevice}, over one 4 MiB chunk (1M elements) of Gaussian gradients:
 * the worker's encode (with error feedback where the codec has it), the shard's decode fused into
 * accumulation (bsp) and into the Adam apply (asp).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class CodecBenchmark {

    @Param({"fp16", "bf16", "int8", "topk:0.01", "randomk:0.01", "sign"})
    public String codec;

    @Param({"1048576"})
    public int elements;

    private final OptimizerSpec adam = new OptimizerSpec.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, 0f);
    private Codec parsed;
    private CpuDevice device;
    private DeviceBuffer gradient;
    private DeviceBuffer residual;
    private DeviceBuffer acc;
    private DeviceBuffer param;
    private DeviceBuffer[] slots;
    private ByteBuffer out;
    private ByteBuffer payload;
    private long seed;
    private long step;

    @Setup(Level.Trial)
    public void setUp() {
        parsed = Codec.parse(codec);
        device = new CpuDevice();
        float[] values = new float[elements];
        Random random = new Random(1);
        for (int i = 0; i < elements; i++) {
            values[i] = (float) random.nextGaussian() * 1e-2f;
        }
        gradient = device.allocate(elements);
        residual = device.allocate(elements);
        acc = device.allocate(elements);
        param = device.allocate(elements);
        slots = new DeviceBuffer[] {device.allocate(elements), device.allocate(elements)};
        device.upload(values, 0, gradient, 0, elements);
        seed = RandomKSelection.seed("bench", 0, 0, 0);
        out = ByteBuffer.allocateDirect(parsed.maxPayloadBytes(elements)).order(ByteOrder.LITTLE_ENDIAN);
        int bytes = device.encode(parsed, gradient, residual, 0, elements, seed, out);
        payload = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
        payload.put(out.duplicate().limit(bytes)).flip();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (DeviceBuffer b : new DeviceBuffer[] {gradient, residual, acc, param, slots[0], slots[1]}) {
            b.close();
        }
        device.close();
    }

    /** Worker side: one chunk encoded, returning the payload's length. */
    @Benchmark
    public int encode() {
        return device.encode(parsed, gradient, residual, 0, elements, seed, out);
    }

    /** Shard side under bsp: acc += decode(payload). */
    @Benchmark
    public void decodeAccumulate() {
        device.decodeAccumulate(parsed.kind(), payload.duplicate(), elements, seed, acc);
    }

    /** Shard side under asp: Adam with the gradient decoded in the same pass. */
    @Benchmark
    public void decodeApplyAdam() {
        device.decodeApplyOptimizer(parsed.kind(), payload.duplicate(), elements, seed, adam, param, slots, ++step, 1f);
    }
}
