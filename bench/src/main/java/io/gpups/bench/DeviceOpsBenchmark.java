package io.gpups.bench;

import io.gpups.core.codec.Codec;
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
import java.util.concurrent.TimeUnit;

/**
 * Every {@link CpuDevice} op a shard or a trainer runs, on {@code elements} float32 values (1M: 4 MiB per
 * array, one chunk) or the shapes of the MLP's first layer at batch 256. Divide bytes touched per element
 * (in each method's comment) by the time to get the achieved memory bandwidth: e.g. the Adam apply touches
 * 28 bytes per element.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class DeviceOpsBenchmark {

    @Param({"1048576"})
    public int elements;

    /** Rows of the gemm and the worker ops: a batch. */
    private static final int BATCH = 256;
    private static final int IN = 784;
    private static final int HIDDEN = 256;
    private static final int CLASSES = 10;

    private final OptimizerSpec adam = new OptimizerSpec.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, 0f);
    private final OptimizerSpec sgd = new OptimizerSpec.Sgd(1e-3f, 0f);
    private CpuDevice device;
    private DeviceBuffer param;
    private DeviceBuffer grad;
    private DeviceBuffer m;
    private DeviceBuffer v;
    private DeviceBuffer[] adamSlots;
    private ByteBuffer hostGradient;
    private ByteBuffer hostOut;
    private DeviceBuffer a;
    private DeviceBuffer b;
    private DeviceBuffer c;
    private DeviceBuffer bias;
    private DeviceBuffer logits;
    private DeviceBuffer labels;
    private DeviceBuffer gradLogits;
    private long step;

    @Setup(Level.Trial)
    public void setUp() {
        device = new CpuDevice();
        param = device.allocate(elements);
        grad = device.allocate(elements);
        m = device.allocate(elements);
        v = device.allocate(elements);
        adamSlots = new DeviceBuffer[] {m, v};
        device.fill(grad, 1e-3f, elements);
        hostGradient = ByteBuffer.allocateDirect(4 * elements).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < elements; i++) {
            hostGradient.putFloat(4 * i, 1e-3f * (1 + i % 7));
        }
        hostOut = ByteBuffer.allocateDirect(4 * elements).order(ByteOrder.LITTLE_ENDIAN);
        a = device.allocate((long) BATCH * IN);
        b = device.allocate((long) IN * HIDDEN);
        c = device.allocate((long) BATCH * HIDDEN);
        device.fill(a, 0.5f, (long) BATCH * IN);
        device.fill(b, 0.01f, (long) IN * HIDDEN);
        bias = device.allocate(HIDDEN);
        logits = device.allocate((long) BATCH * CLASSES);
        labels = device.allocate(BATCH);
        gradLogits = device.allocate((long) BATCH * CLASSES);
        float[] l = new float[BATCH];
        for (int i = 0; i < BATCH; i++) {
            l[i] = i % CLASSES;
        }
        device.upload(l, 0, labels, 0, BATCH);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (DeviceBuffer buf : new DeviceBuffer[] {param, grad, m, v, a, b, c, bias, logits, labels, gradLogits}) {
            buf.close();
        }
        device.close();
    }

    /** Adam, gradient on the device: reads p, g, m, v, writes p, m, v (28 B/elem). */
    @Benchmark
    public void adamApply() {
        device.applyOptimizer(adam, param, grad, adamSlots, elements, ++step, 1f);
    }

    /** Adam with the gradient read from a received payload in host memory, as a shard applies an asp push (28 B/elem). */
    @Benchmark
    public void adamApplyFromPayload() {
        device.decodeApplyOptimizer(Codec.Kind.NONE, hostGradient.duplicate(), elements, 0, adam, param, adamSlots, ++step, 1f);
    }

    /** sgd with weight decay 0, the triad a += s*b of gpups bench's memory ceiling (12 B/elem). */
    @Benchmark
    public void sgdTriad() {
        device.applyOptimizer(sgd, param, grad, new DeviceBuffer[0], elements, 1, 1f);
    }

    /** acc += grad, both on the device (12 B/elem). */
    @Benchmark
    public void accumulate() {
        device.accumulate(param, grad, elements);
    }

    /** acc += grad from host memory, as bsp sums a received payload (12 B/elem). */
    @Benchmark
    public void accumulateFromHost() {
        device.accumulate(param, hostGradient.duplicate(), elements);
    }

    /** x *= alpha (8 B/elem). */
    @Benchmark
    public void scale() {
        device.scale(param, 0.999f, elements);
    }

    /** x = 0 (4 B/elem). */
    @Benchmark
    public void fill() {
        device.fill(grad, 1e-3f, elements);
    }

    /** Host to device copy (8 B/elem on the CPU device). */
    @Benchmark
    public void upload() {
        device.upload(hostGradient.duplicate(), grad, 0, elements);
    }

    /** Device to host copy, as a pull answer is filled (8 B/elem on the CPU device). */
    @Benchmark
    public void download() {
        device.download(param, 0, elements, hostOut.duplicate());
    }

    /** The MLP's first layer forward at batch 256: C[256x256] = A[256x784] B[784x256] (OpenBLAS), 103 MFLOP. */
    @Benchmark
    public void gemm256x784x256() {
        device.gemm(false, false, BATCH, HIDDEN, IN, 1f, a, b, 0f, c);
    }

    /** The same layer's weight gradient: dW[784x256] = A^T[784x256] dC[256x256]. */
    @Benchmark
    public void gemmTransposedA() {
        device.gemm(true, false, IN, HIDDEN, BATCH, 1f, a, c, 0f, b);
    }

    @Benchmark
    public void addBias() {
        device.addBias(c, bias, BATCH, HIDDEN);
    }

    @Benchmark
    public void relu() {
        device.relu(c, BATCH * HIDDEN);
    }

    @Benchmark
    public void reluBackward() {
        device.reluBackward(c, c, BATCH * HIDDEN);
    }

    @Benchmark
    public void columnSums() {
        device.columnSums(c, BATCH, HIDDEN, bias);
    }

    @Benchmark
    public float softmaxCrossEntropy() {
        return device.softmaxCrossEntropy(logits, labels, BATCH, CLASSES, gradLogits);
    }

    @Benchmark
    public int countCorrect() {
        return device.countCorrect(logits, labels, BATCH, CLASSES);
    }
}
