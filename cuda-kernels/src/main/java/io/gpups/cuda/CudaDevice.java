package io.gpups.cuda;

import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.device.DeviceOutOfMemoryException;
import io.gpups.core.optim.OptimizerSpec;

import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasOperation;
import jcuda.runtime.cudaStream_t;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static jcuda.jcublas.JCublas2.cublasCreate;
import static jcuda.jcublas.JCublas2.cublasDestroy;
import static jcuda.jcublas.JCublas2.cublasSetStream;
import static jcuda.jcublas.JCublas2.cublasSgemm;

/**
 * One GPU through the JCuda driver API. Every element operation is a kernel of {@code gpups_kernels.cu} (the shared
 * headers' math); GEMM is cuBLAS. This class only checks arguments, moves bytes and launches.
 *
 * <ul>
 *   <li><b>Context and stream.</b> The device's primary context (one per GPU and process, shared by every
 *       {@code CudaDevice} on that GPU) and a stream of its own, non-blocking with respect to the legacy default
 *       stream: one {@code CudaDevice} per shard agent or trainer, so their work overlaps. Every operation is queued
 *       on that stream in call order; methods returning a value to the host wait for it. Each public method makes the
 *       context current on the calling thread first, so the one thread using the device may change over time.</li>
 *   <li><b>Copies.</b> All host<->device copies go through {@link PinnedStaging}: an upload returns once the bytes are
 *       in pinned memory (the caller may release a Netty buffer at once) and the DMA runs asynchronously.</li>
 *   <li><b>Host gradients.</b> {@link #accumulate(DeviceBuffer, ByteBuffer, int)} and the host-gradient optimizer
 *       step upload the payload into a device scratch buffer (grown as needed, kept) and run the device kernel.</li>
 *   <li><b>Out of memory.</b> A failed {@code cuMemAlloc}, pinned allocation or cuBLAS workspace allocation is a
 *       {@link DeviceOutOfMemoryException} naming the size and the free memory; the device stays usable.</li>
 *   <li><b>GEMM.</b> cuBLAS in its default math mode (full fp32, no TF32), so results match the CPU device's
 *       OpenBLAS within fp32 rounding.</li>
 * </ul>
 */
public final class CudaDevice implements Device {

    private final int ordinal;
    private final String name;
    private final String gpuName;
    private final CUdevice cuDevice;
    private final CUcontext context;
    private final CUstream stream;
    private final KernelModule kernels;
    private final cublasHandle blas;
    private final PinnedStaging staging;
    private final LaunchConfig.DeviceShape shape;
    private final Set<CudaBuffer> liveBuffers = ConcurrentHashMap.newKeySet();
    private final AtomicLong nextBufferId = new AtomicLong();
    /** Device copy of a host gradient; grown on demand. */
    private CudaBuffer hostGradientScratch;
    /** Per-row losses of softmaxCrossEntropy; grown on demand. */
    private CudaBuffer rowLossScratch;
    /** The 32-bit counter of countCorrect. */
    private CudaBuffer counterScratch;
    private volatile boolean closed;

    private CudaDevice(int ordinal, String gpuName, CUdevice cuDevice, CUcontext context, CUstream stream,
                       KernelModule kernels, cublasHandle blas, LaunchConfig.DeviceShape shape) {
        this.ordinal = ordinal;
        this.name = "cuda:" + ordinal;
        this.gpuName = gpuName;
        this.cuDevice = cuDevice;
        this.context = context;
        this.stream = stream;
        this.kernels = kernels;
        this.blas = blas;
        this.shape = shape;
        this.staging = new PinnedStaging(stream, PinnedStaging.DEFAULT_SLOTS, PinnedStaging.DEFAULT_SLOT_BYTES);
    }

    /** Opens GPU {@code ordinal}; CUDA must be available (see {@link CudaDeviceProvider}). */
    static CudaDevice open(int ordinal) {
        CUdevice dev = new CUdevice();
        CudaErrors.check(cuDeviceGet(dev, ordinal), "cuDeviceGet(" + ordinal + ")");
        CUcontext ctx = new CUcontext();
        CudaErrors.check(cuDevicePrimaryCtxRetain(ctx, dev), "cuDevicePrimaryCtxRetain(cuda:" + ordinal + ")");
        CUstream stream = null;
        KernelModule module = null;
        cublasHandle handle = null;
        try {
            CudaErrors.check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent(cuda:" + ordinal + ")");
            byte[] nameBytes = new byte[256];
            CudaErrors.check(cuDeviceGetName(nameBytes, nameBytes.length, dev), "cuDeviceGetName");
            String gpuName = cString(nameBytes);
            int arch = 10 * attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
                    + attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
            LaunchConfig.DeviceShape shape = new LaunchConfig.DeviceShape(
                    attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
                    attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR),
                    attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK));
            stream = new CUstream();
            CudaErrors.check(cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
            module = new KernelModule("cuda:" + ordinal + " " + gpuName, arch);
            handle = new cublasHandle();
            CudaErrors.checkBlas(cublasCreate(handle), "cublasCreate");
            CudaErrors.checkBlas(cublasSetStream(handle, new cudaStream_t(stream)), "cublasSetStream");
            return new CudaDevice(ordinal, gpuName, dev, ctx, stream, module, handle, shape);
        } catch (RuntimeException | Error e) {
            if (handle != null) {
                cublasDestroy(handle);
            }
            if (module != null) {
                module.close();
            }
            if (stream != null) {
                cuStreamDestroy(stream);
            }
            cuDevicePrimaryCtxRelease(dev);
            throw e;
        }
    }

    private static int attribute(CUdevice dev, int attribute) {
        int[] value = new int[1];
        CudaErrors.check(cuDeviceGetAttribute(value, attribute, dev), "cuDeviceGetAttribute(" + attribute + ")");
        return value[0];
    }

    private static String cString(byte[] bytes) {
        int end = 0;
        while (end < bytes.length && bytes[end] != 0) {
            end++;
        }
        return new String(bytes, 0, end, StandardCharsets.US_ASCII);
    }

    @Override
    public String name() {
        return name;
    }

    /** The GPU's product name, e.g. {@code NVIDIA H100 80GB HBM3}. */
    public String gpuName() {
        return gpuName;
    }

    public int ordinal() {
        return ordinal;
    }

    /**
     * The GPU's theoretical memory bandwidth in bytes/s: 2 (double data rate) x memory clock x bus width, from
     * {@code CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE} (kHz) and {@code GLOBAL_MEMORY_BUS_WIDTH} (bits).
     */
    public double peakMemoryBandwidth() {
        enter();
        double clockHz = attribute(cuDevice, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE) * 1e3;
        double busBytes = attribute(cuDevice, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH) / 8.0;
        return 2 * clockHz * busBytes;
    }

    // ---- memory -------------------------------------------------------------------------------------

    @Override
    public CudaBuffer allocate(long elements) {
        enter();
        if (elements < 0 || elements > Long.MAX_VALUE / Float.BYTES) {
            throw new IllegalArgumentException("cannot allocate " + elements + " floats");
        }
        long bytes = Math.max(1, elements) * Float.BYTES;
        CUdeviceptr pointer = new CUdeviceptr();
        int result = cuMemAlloc(pointer, bytes);
        if (result == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
            long[] free = new long[1];
            long[] total = new long[1];
            cuMemGetInfo(free, total);
            throw new DeviceOutOfMemoryException(name + ": cannot allocate " + elements + " floats (" + bytes
                    + " bytes): CUDA_ERROR_OUT_OF_MEMORY, " + free[0] + " of " + total[0] + " bytes free");
        }
        CudaErrors.check(result, "cuMemAlloc(" + bytes + " bytes)");
        // Zero-filled like every device's buffers; ordered before any later use on the stream.
        int zero = cuMemsetD32Async(pointer, 0, Math.max(1, elements), stream);
        if (zero != CUresult.CUDA_SUCCESS) {
            cuMemFree(pointer);
            CudaErrors.check(zero, "cuMemsetD32Async");
        }
        CudaBuffer buffer = new CudaBuffer(this, nextBufferId.incrementAndGet(), elements, pointer);
        liveBuffers.add(buffer);
        return buffer;
    }

    /** Frees a buffer's memory once the stream's work that may use it is done. */
    void free(CudaBuffer buffer, CUdeviceptr pointer) {
        liveBuffers.remove(buffer);
        if (closed) {
            return; // freed with the device
        }
        cuCtxSetCurrent(context);
        cuStreamSynchronize(stream);
        cuMemFree(pointer);
    }

    @Override
    public void upload(ByteBuffer src, DeviceBuffer dst, long dstOffset, int count) {
        CudaBuffer d = range("dst", dst, dstOffset, count);
        long bytes = checkHost(src, "src", count);
        staging.upload(src, d.at(dstOffset), bytes);
    }

    @Override
    public void download(DeviceBuffer src, long srcOffset, int count, ByteBuffer dst) {
        CudaBuffer s = range("src", src, srcOffset, count);
        long bytes = checkHost(dst, "dst", count);
        if (dst.isReadOnly()) {
            throw new IllegalArgumentException("dst is a read-only buffer");
        }
        staging.download(s.at(srcOffset), bytes, dst);
    }

    @Override
    public void upload(float[] src, int srcOffset, DeviceBuffer dst, long dstOffset, int count) {
        CudaBuffer d = range("dst", dst, dstOffset, count);
        checkArrayRange("src", src, srcOffset, count);
        staging.upload(src, srcOffset, d.at(dstOffset), count);
    }

    @Override
    public void download(DeviceBuffer src, long srcOffset, float[] dst, int dstOffset, int count) {
        CudaBuffer s = range("src", src, srcOffset, count);
        checkArrayRange("dst", dst, dstOffset, count);
        staging.download(s.at(srcOffset), dst, dstOffset, count);
    }

    @Override
    public void fill(DeviceBuffer dst, float value, long count) {
        CudaBuffer d = range("dst", dst, 0, count);
        launch(KernelNames.FILL, count, ptr(d), arg(value), arg(count));
    }

    // ---- server math --------------------------------------------------------------------------------

    @Override
    public void accumulate(DeviceBuffer acc, ByteBuffer hostGradient, int count) {
        CudaBuffer a = range("acc", acc, 0, count);
        CudaBuffer g = stageHostGradient(hostGradient, count);
        launch(KernelNames.ACCUMULATE, count, ptr(a), ptr(g), arg((long) count));
    }

    @Override
    public void accumulate(DeviceBuffer acc, DeviceBuffer grad, int count) {
        CudaBuffer a = range("acc", acc, 0, count);
        CudaBuffer g = range("grad", grad, 0, count);
        launch(KernelNames.ACCUMULATE, count, ptr(a), ptr(g), arg((long) count));
    }

    @Override
    public void scale(DeviceBuffer x, float alpha, int count) {
        CudaBuffer b = range("x", x, 0, count);
        launch(KernelNames.SCALE, count, ptr(b), arg(alpha), arg((long) count));
    }

    @Override
    public void applyOptimizer(OptimizerSpec spec, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer[] slots,
                               int count, long step, float gradScale) {
        checkOptimizer(spec, slots, step);
        CudaBuffer g = range("grad", grad, 0, count);
        apply(spec, param, g, slots, count, step, gradScale);
    }

    @Override
    public void applyOptimizer(OptimizerSpec spec, DeviceBuffer param, ByteBuffer hostGradient, DeviceBuffer[] slots,
                               int count, long step, float gradScale) {
        checkOptimizer(spec, slots, step);
        range("param", param, 0, count);
        CudaBuffer g = stageHostGradient(hostGradient, count);
        apply(spec, param, g, slots, count, step, gradScale);
    }

    /**
     * Launches the optimizer kernel. Its last argument is the kernel's parameter struct ({@code gpups/optimizers.cuh}):
     * only float fields, passed by value as a float array in declaration order.
     */
    private void apply(OptimizerSpec spec, DeviceBuffer param, CudaBuffer grad, DeviceBuffer[] slots, int count,
                       long step, float gradScale) {
        CudaBuffer p = range("param", param, 0, count);
        CudaBuffer[] s = new CudaBuffer[slots.length];
        for (int i = 0; i < slots.length; i++) {
            s[i] = range("slot " + i, slots[i], 0, count);
        }
        long n = count;
        switch (spec.kind()) {
            case SGD -> {
                OptimizerSpec.Sgd o = (OptimizerSpec.Sgd) spec;
                launch(KernelNames.SGD, n, ptr(p), ptr(grad), arg(n),
                        struct(o.lr(), o.weightDecay(), gradScale));
            }
            case MOMENTUM -> {
                OptimizerSpec.Momentum o = (OptimizerSpec.Momentum) spec;
                launch(KernelNames.MOMENTUM, n, ptr(p), ptr(s[0]), ptr(grad), arg(n),
                        struct(o.lr(), o.momentum(), o.weightDecay(), gradScale));
            }
            case NESTEROV -> {
                OptimizerSpec.Nesterov o = (OptimizerSpec.Nesterov) spec;
                launch(KernelNames.NESTEROV, n, ptr(p), ptr(s[0]), ptr(grad), arg(n),
                        struct(o.lr(), o.momentum(), o.weightDecay(), gradScale));
            }
            case ADAGRAD -> {
                OptimizerSpec.Adagrad o = (OptimizerSpec.Adagrad) spec;
                launch(KernelNames.ADAGRAD, n, ptr(p), ptr(s[0]), ptr(grad), arg(n),
                        struct(o.lr(), o.eps(), o.weightDecay(), gradScale));
            }
            case ADAM -> {
                OptimizerSpec.Adam o = (OptimizerSpec.Adam) spec;
                launch(KernelNames.ADAM, n, ptr(p), ptr(s[0]), ptr(s[1]), ptr(grad), arg(n),
                        struct(o.lr(), o.beta1(), o.beta2(), o.eps(), o.weightDecay(),
                                biasCorrection(o.beta1(), step), biasCorrection(o.beta2(), step), gradScale));
            }
            case ADAMW -> {
                OptimizerSpec.AdamW o = (OptimizerSpec.AdamW) spec;
                launch(KernelNames.ADAMW, n, ptr(p), ptr(s[0]), ptr(s[1]), ptr(grad), arg(n),
                        struct(o.lr(), o.beta1(), o.beta2(), o.eps(), o.weightDecay(),
                                biasCorrection(o.beta1(), step), biasCorrection(o.beta2(), step), gradScale));
            }
            default -> throw new IllegalArgumentException("unsupported optimizer " + spec.kind());
        }
    }

    /**
     * {@code 1 - beta^step} in double, rounded to float: the host half of the Adam bias correction
     * ({@code optimizers.cuh}, "Numerics"). It must stay the CPU device's {@code CpuDevice.biasCorrection}; the
     * parity test compares the two devices' Adam results.
     */
    static float biasCorrection(float beta, long step) {
        return (float) (1.0 - Math.pow(beta, step));
    }

    private void checkOptimizer(OptimizerSpec spec, DeviceBuffer[] slots, long step) {
        enter();
        if (spec == null) {
            throw new IllegalArgumentException("optimizer spec is null");
        }
        if (step < 1) {
            throw new IllegalArgumentException("optimizer step is 1-based, got " + step);
        }
        if (slots == null || slots.length != spec.slots()) {
            throw new IllegalArgumentException(spec.kind().cliName() + " needs " + spec.slots() + " slot buffer(s), got "
                    + (slots == null ? "null" : String.valueOf(slots.length)));
        }
    }

    /** The host gradient copied into the scratch buffer (through pinned staging), ordered before later kernels. */
    private CudaBuffer stageHostGradient(ByteBuffer hostGradient, int count) {
        long bytes = checkHost(hostGradient, "hostGradient", count);
        hostGradientScratch = scratch(hostGradientScratch, count);
        staging.upload(hostGradient, hostGradientScratch.at(0), bytes);
        return hostGradientScratch;
    }

    /** {@code current} when it holds {@code elements}, else a larger replacement (doubling, to amortize). */
    private CudaBuffer scratch(CudaBuffer current, long elements) {
        if (current != null && current.elements() >= elements) {
            return current;
        }
        long size = Math.max(elements, current == null ? 1024 : 2 * current.elements());
        if (current != null) {
            current.close();
        }
        return allocate(size);
    }

    // ---- worker math --------------------------------------------------------------------------------

    /**
     * {@inheritDoc}
     *
     * <p>cuBLAS is column-major; a row-major matrix is its transpose in column-major. So row-major
     * {@code C = op(A) op(B)} is column-major {@code C^T = op(B)^T op(A)^T}: the same call with A and B swapped and
     * m and n swapped, each operand keeping its own transpose flag and leading dimension.
     */
    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k,
                     float alpha, DeviceBuffer a, DeviceBuffer b, float beta, DeviceBuffer c) {
        enter();
        if (m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("gemm dimensions must be >= 0, got m=" + m + " n=" + n + " k=" + k);
        }
        CudaBuffer da = range("A", a, 0, (long) m * k);
        CudaBuffer db = range("B", b, 0, (long) k * n);
        CudaBuffer dc = range("C", c, 0, (long) m * n);
        if (m == 0 || n == 0) {
            return;
        }
        int lda = Math.max(1, transA ? m : k);
        int ldb = Math.max(1, transB ? k : n);
        CudaErrors.checkBlas(cublasSgemm(blas,
                        transB ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N,
                        transA ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N,
                        n, m, k, Pointer.to(new float[] {alpha}), db.at(0), ldb, da.at(0), lda,
                        Pointer.to(new float[] {beta}), dc.at(0), n),
                "cublasSgemm(m=" + m + " n=" + n + " k=" + k + ")");
    }

    @Override
    public void addBias(DeviceBuffer x, DeviceBuffer bias, int rows, int cols) {
        checkShape("addBias", rows, cols);
        CudaBuffer dx = range("x", x, 0, (long) rows * cols);
        CudaBuffer db = range("bias", bias, 0, cols);
        launch(KernelNames.ADD_BIAS, (long) rows * cols, ptr(dx), ptr(db), arg(rows), arg(cols));
    }

    @Override
    public void relu(DeviceBuffer x, int count) {
        CudaBuffer dx = range("x", x, 0, count);
        launch(KernelNames.RELU, count, ptr(dx), arg((long) count));
    }

    @Override
    public void reluBackward(DeviceBuffer grad, DeviceBuffer activation, int count) {
        CudaBuffer g = range("grad", grad, 0, count);
        CudaBuffer act = range("activation", activation, 0, count);
        launch(KernelNames.RELU_BACKWARD, count, ptr(g), ptr(act), arg((long) count));
    }

    /**
     * {@inheritDoc}
     *
     * <p>{@code gradLogits} may be {@code logits} itself. One thread per row writes its gradient and loss; the host
     * sums the row losses in double in row order, as the CPU device does. A row whose label is not a class index (or
     * whose logits are not finite) has loss NaN: the call then fails naming the row, after the other rows' gradients
     * were written (the CPU device checks labels before writing anything).
     */
    @Override
    public float softmaxCrossEntropy(DeviceBuffer logits, DeviceBuffer labels, int rows, int cols,
                                     DeviceBuffer gradLogits) {
        checkShape("softmaxCrossEntropy", rows, cols);
        if (rows == 0 || cols == 0) {
            throw new IllegalArgumentException("softmaxCrossEntropy needs rows > 0 and cols > 0, got rows=" + rows
                    + " cols=" + cols);
        }
        long size = (long) rows * cols;
        CudaBuffer l = range("logits", logits, 0, size);
        CudaBuffer y = range("labels", labels, 0, rows);
        CudaBuffer g = range("gradLogits", gradLogits, 0, size);
        rowLossScratch = scratch(rowLossScratch, rows);
        launch(KernelNames.SOFTMAX_XENT, rows, ptr(l), ptr(y), arg(rows), arg(cols), ptr(g), ptr(rowLossScratch));
        float[] losses = new float[rows];
        staging.download(rowLossScratch.at(0), losses, 0, rows);
        double sum = 0;
        for (int r = 0; r < rows; r++) {
            if (Float.isNaN(losses[r])) {
                float[] label = new float[1];
                staging.download(y.at(r), label, 0, 1);
                throw new IllegalArgumentException("row " + r + " has loss NaN: its label " + label[0]
                        + " is not a class index in [0, " + cols + ") or its logits are not finite");
            }
            sum += losses[r];
        }
        return (float) (sum / rows);
    }

    @Override
    public void columnSums(DeviceBuffer x, int rows, int cols, DeviceBuffer out) {
        checkShape("columnSums", rows, cols);
        CudaBuffer dx = range("x", x, 0, (long) rows * cols);
        CudaBuffer o = range("out", out, 0, cols);
        launch(KernelNames.COLUMN_SUMS, cols, ptr(dx), arg(rows), arg(cols), ptr(o));
    }

    @Override
    public int countCorrect(DeviceBuffer logits, DeviceBuffer labels, int rows, int cols) {
        checkShape("countCorrect", rows, cols);
        if (rows > 0 && cols == 0) {
            throw new IllegalArgumentException("countCorrect needs cols > 0 for " + rows + " rows");
        }
        CudaBuffer l = range("logits", logits, 0, (long) rows * cols);
        CudaBuffer y = range("labels", labels, 0, rows);
        if (rows == 0) {
            return 0;
        }
        counterScratch = scratch(counterScratch, 1);
        CudaErrors.check(cuMemsetD32Async(counterScratch.at(0), 0, 1, stream), "cuMemsetD32Async(counter)");
        launch(KernelNames.COUNT_CORRECT, rows, ptr(l), ptr(y), arg(rows), arg(cols), ptr(counterScratch));
        ByteBuffer result = ByteBuffer.allocate(Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        staging.download(counterScratch.at(0), Integer.BYTES, result);
        return result.getInt(0);
    }

    @Override
    public void synchronize() {
        enter();
        CudaErrors.check(cuStreamSynchronize(stream), name + ": cuStreamSynchronize");
    }

    /**
     * Waits for the stream, frees every buffer still open, the staging memory, the cuBLAS handle, the module and the
     * stream, and releases the primary context. Later calls fail; closing twice is harmless.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        cuCtxSetCurrent(context);
        cuStreamSynchronize(stream);
        closed = true;
        for (CudaBuffer buffer : new ArrayList<>(liveBuffers)) {
            CUdeviceptr p = buffer.isClosed() ? null : buffer.at(0);
            buffer.close(); // closed: only forgets the pointer
            if (p != null) {
                cuMemFree(p);
            }
        }
        liveBuffers.clear();
        staging.close();
        cublasDestroy(blas);
        kernels.close();
        cuStreamDestroy(stream);
        cuDevicePrimaryCtxRelease(cuDevice);
    }

    @Override
    public String toString() {
        return "CudaDevice[" + name + " " + gpuName + ", " + shape.multiprocessors() + " SMs, liveBuffers="
                + liveBuffers.size() + "]";
    }

    // ---- launching ----------------------------------------------------------------------------------

    /** Queues kernel {@code kernel} over {@code elements} items (grid-stride) on the stream; nothing for 0 items. */
    private void launch(String kernel, long elements, NativePointerObject... args) {
        if (elements <= 0) {
            return;
        }
        CUfunction f = kernels.function(kernel);
        LaunchConfig config = LaunchConfig.forElements(elements, shape);
        CudaErrors.check(cuLaunchKernel(f, config.blocks(), 1, 1, config.threadsPerBlock(), 1, 1, 0, stream,
                Pointer.to(args), null), "cuLaunchKernel(" + kernel + ", " + elements + " items)");
    }

    private static Pointer ptr(CudaBuffer buffer) {
        return Pointer.to(buffer.at(0));
    }

    private static Pointer arg(float value) {
        return Pointer.to(new float[] {value});
    }

    private static Pointer arg(long value) {
        return Pointer.to(new long[] {value});
    }

    private static Pointer arg(int value) {
        return Pointer.to(new int[] {value});
    }

    /** A by-value struct of float fields, in declaration order. */
    private static Pointer struct(float... fields) {
        return Pointer.to(fields);
    }

    // ---- checks -------------------------------------------------------------------------------------

    /** Fails on a closed device and makes this device's context current on the calling thread. */
    private void enter() {
        if (closed) {
            throw new IllegalStateException(name + " is closed");
        }
        CudaErrors.check(cuCtxSetCurrent(context), "cuCtxSetCurrent(" + name + ")");
    }

    /** The buffer as this device's own, after checking {@code [offset, offset + count)} lies inside it. */
    private CudaBuffer range(String role, DeviceBuffer buffer, long offset, long count) {
        enter();
        if (!(buffer instanceof CudaBuffer own) || own.device() != this) {
            throw new IllegalArgumentException(role + ": " + buffer + " does not belong to " + name);
        }
        if (own.isClosed()) {
            throw new IllegalStateException(role + ": " + own + " is closed");
        }
        if (offset < 0 || count < 0) {
            throw new IllegalArgumentException(role + ": offset " + offset + " and count " + count + " must be >= 0");
        }
        if (offset > own.elements() - count) {
            throw new IllegalArgumentException(role + ": offset " + offset + " + count " + count + " exceeds the "
                    + own.elements() + " floats of " + own);
        }
        return own;
    }

    private static long checkHost(ByteBuffer buffer, String role, int count) {
        if (buffer == null) {
            throw new IllegalArgumentException(role + " buffer is null");
        }
        if (count < 0) {
            throw new IllegalArgumentException(role + ": count must be >= 0, got " + count);
        }
        long bytes = (long) count * Float.BYTES;
        if (bytes > buffer.remaining()) {
            throw new IllegalArgumentException(role + ": count " + count + " floats (" + bytes
                    + " bytes) exceeds the " + buffer.remaining() + " bytes remaining in the buffer");
        }
        return bytes;
    }

    private static void checkArrayRange(String role, float[] array, int offset, int count) {
        if (array == null) {
            throw new IllegalArgumentException(role + " array is null");
        }
        if (offset < 0 || count < 0 || offset > array.length - count) {
            throw new IllegalArgumentException(role + ": offset " + offset + " + count " + count
                    + " does not fit an array of " + array.length + " floats");
        }
    }

    private static void checkShape(String op, int rows, int cols) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException(op + ": rows and cols must be >= 0, got rows=" + rows + " cols=" + cols);
        }
    }
}
