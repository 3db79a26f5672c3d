package io.gpups.cuda;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.CodecPayloads;
import io.gpups.core.codec.RandomKSelection;
import io.gpups.core.device.BatchedUpdate;
import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceArguments;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.device.DeviceOutOfMemoryException;
import io.gpups.core.device.NonFiniteGuard;
import io.gpups.core.optim.KernelParameters;
import io.gpups.core.optim.OptimizerSpec;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUpointer_attribute;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
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
import static jcuda.driver.JCudaDriver.cuPointerGetAttribute;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

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
 *   <li><b>Host gradients.</b> {@link #accumulate(DeviceBuffer, ByteBuffer, int)} uploads the payload into a device
 *       scratch buffer (grown as needed, kept) and runs the device kernel.</li>
 *   <li><b>Optimizers.</b> Two kernels serve every kind of the kind table ({@code gpups/optimizers.cuh}):
 *       {@code gpups_optimizer} over a device gradient and {@code gpups_decode_optimizer} over a payload, each taking
 *       the kind's id, two slot pointers (null past the kind's count) and the parameter struct padded to
 *       {@link KernelParameters#MAX_FLOATS} floats.</li>
 *   <li><b>Out of memory.</b> A failed {@code cuMemAlloc}, pinned allocation or cuBLAS workspace allocation is a
 *       {@link DeviceOutOfMemoryException} naming the size and the free memory; the device stays usable.</li>
 *   <li><b>Codecs.</b> A received payload is uploaded as it is (pinned staging, then one DMA) and decoded by the
 *       kernel that consumes it: decode-accumulate, or the optimizer step itself. An encode runs on the device into a
 *       scratch buffer and copies the payload's bytes back into the caller's host buffer; the error-feedback residual
 *       never leaves the device. Top-k moves two small things to the host: a sample of at most {@value #TOPK_SAMPLE}
 *       magnitudes, from which the threshold is picked exactly as the CPU device picks it, and one count per block.</li>
 *   <li><b>Element-wise kernels.</b> Accumulate, scale, fill and every optimizer step (over a device gradient or a
 *       payload) load and store float4 when all their pointers are 16-byte aligned, which the kernel tests once per
 *       launch; otherwise, and for the last {@code n % 4} elements, a scalar grid-stride loop. Server buffers always
 *       start aligned. Their launches are sized for {@code n / 4} threads.</li>
 *   <li><b>Batches.</b> {@link #applyBatch} gathers a table of updates and their gradients into one pinned buffer,
 *       copies it with one DMA and applies it with one launch of {@code gpups_batch_update} per wave of updates that
 *       touch distinct buffers (one wave unless a batch updates a chunk twice).</li>
 *   <li><b>Non-finite gradients.</b> The fused decode kernels and the batch kernel count them as they go (a register
 *       per thread; an atomic add to a 64-bit counter in device memory only from threads that saw one) and keep them
 *       out of the update. The counters are read back when the call returns, so a fused decode or a batch waits for
 *       its kernels.</li>
 *   <li><b>GEMM.</b> cuBLAS in its default math mode (full fp32, no TF32), so results match the CPU device's
 *       OpenBLAS within fp32 rounding.</li>
 * </ul>
 */
public final class CudaDevice implements Device {

    private final int ordinal;
    private static final Logger log = LoggerFactory.getLogger(CudaDevice.class);

    private final String name;
    private final String gpuName;
    private final CUdevice cuDevice;
    private final CUcontext context;
    private final CUstream stream;
    private final KernelModule kernels;
    /** cuBLAS where it loads, else the project's own kernel. */
    private final Gemm gemm;
    private final PinnedStaging staging;
    private final BatchStaging batchStaging;
    private final LaunchConfig.DeviceShape shape;
    /** Every buffer not yet freed, with its memory: freed by its own close or, at the latest, by the device's. */
    private final Map<CudaBuffer, CUdeviceptr> liveBuffers = new ConcurrentHashMap<>();
    private final AtomicLong nextBufferId = new AtomicLong();
    /** A batch's table and gradients on the device; grown on demand. */
    private final ScratchBuffer<CudaBuffer> batchScratch = new ScratchBuffer<>(this::allocate);
    /** Device copy of a host gradient or codec payload; grown on demand. */
    private final ScratchBuffer<CudaBuffer> hostGradientScratch = new ScratchBuffer<>(this::allocate);
    /** An encoded payload before it is copied to the host; grown on demand. */
    private final ScratchBuffer<CudaBuffer> encodeScratch = new ScratchBuffer<>(this::allocate);
    /** Top-k's sample of magnitudes, then its per-block counts; grown on demand. */
    private final ScratchBuffer<CudaBuffer> topkScratch = new ScratchBuffer<>(this::allocate);
    /** All zeros between calls: a sparse decode-and-apply stores its entries here, steps, and clears them again. */
    private final ScratchBuffer<CudaBuffer> sparseGradientScratch = new ScratchBuffer<>(this::allocate);
    /** Per-row losses of softmaxCrossEntropy; grown on demand. */
    private final ScratchBuffer<CudaBuffer> rowLossScratch = new ScratchBuffer<>(this::allocate);
    /** The 32-bit counter of countCorrect. */
    private final ScratchBuffer<CudaBuffer> counterScratch = new ScratchBuffer<>(this::allocate);
    /** The 64-bit counters of non-finite gradients of a fused decode (one) or a batch (one per entry). */
    private final ScratchBuffer<CudaBuffer> nonFiniteScratch = new ScratchBuffer<>(this::allocate);
    private volatile boolean closed;
    /**
     * Held by {@link #close()} and by every {@link #free} (which a {@link CudaBuffer#close()} on any thread calls), so
     * a buffer is freed either before the device closes or with it, exactly once, and the context, stream and cuBLAS
     * handle are released exactly once.
     */
    private final Object lifecycle = new Object();

    private CudaDevice(int ordinal, String gpuName, CUdevice cuDevice, CUcontext context, CUstream stream,
                       KernelModule kernels, Gemm gemm, LaunchConfig.DeviceShape shape) {
        this.ordinal = ordinal;
        this.name = "cuda:" + ordinal;
        this.gpuName = gpuName;
        this.cuDevice = cuDevice;
        this.context = context;
        this.stream = stream;
        this.kernels = kernels;
        this.gemm = gemm;
        this.shape = shape;
        this.staging = new PinnedStaging(stream, PinnedStaging.DEFAULT_SLOTS, PinnedStaging.DEFAULT_SLOT_BYTES);
        this.batchStaging = new BatchStaging(stream);
    }

    /** Opens GPU {@code ordinal}; CUDA must be available (see {@link CudaDeviceProvider}). */
    static CudaDevice open(int ordinal) {
        CUdevice dev = new CUdevice();
        CudaErrors.check(cuDeviceGet(dev, ordinal), "cuDeviceGet(" + ordinal + ")");
        CUcontext ctx = new CUcontext();
        CudaErrors.check(cuDevicePrimaryCtxRetain(ctx, dev), "cuDevicePrimaryCtxRetain(cuda:" + ordinal + ")");
        CUstream stream = null;
        KernelModule module = null;
        Gemm gemm = null;
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
            gemm = chooseGemm(System.getProperty(GEMM_PROPERTY, "auto"), CudaAvailability.get().blasCause(), module, stream);
            log.info("cuda:{} ({}): gemm by {}", ordinal, gpuName, gemm.description());
            return new CudaDevice(ordinal, gpuName, dev, ctx, stream, module, gemm, shape);
        } catch (RuntimeException | Error e) {
            if (gemm != null) {
                gemm.close();
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

    /** {@code -Dgpups.cuda.gemm=auto|cublas|kernel}: which GEMM a device uses; auto is cuBLAS where it loads. */
    static final String GEMM_PROPERTY = "gpups.cuda.gemm";

    /** The GEMM {@code choice} (a {@link #GEMM_PROPERTY} value) names, given why cuBLAS does not load (null: it does). */
    static Gemm chooseGemm(String choice, String blasCause, KernelModule module, CUstream stream) {
        return switch (choice) {
            case "auto" -> blasCause == null ? new CublasGemm(stream) : new KernelGemm(module, stream, blasCause);
            case "kernel" -> new KernelGemm(module, stream, "-D" + GEMM_PROPERTY + "=kernel");
            case "cublas" -> {
                if (blasCause != null) {
                    throw new IllegalStateException("-D" + GEMM_PROPERTY + "=cublas, but cuBLAS does not load: " + blasCause);
                }
                yield new CublasGemm(stream);
            }
            default -> throw new IllegalArgumentException("-D" + GEMM_PROPERTY + "=" + choice
                    + ": expected auto, cublas or kernel");
        };
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

    @Override
    public String description() {
        return name + " (" + gpuName + ")";
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
        long[] address = new long[1];
        int queried = cuPointerGetAttribute(Pointer.to(address), CUpointer_attribute.CU_POINTER_ATTRIBUTE_DEVICE_POINTER,
                pointer);
        if (queried != CUresult.CUDA_SUCCESS) {
            cuMemFree(pointer);
            CudaErrors.check(queried, "cuPointerGetAttribute(DEVICE_POINTER)");
        }
        CudaBuffer buffer = new CudaBuffer(this, nextBufferId.incrementAndGet(), elements, pointer, address[0]);
        synchronized (lifecycle) {
            if (closed) {
                cuMemFree(pointer);
                throw new IllegalStateException(name + " was closed while allocating " + elements + " floats");
            }
            liveBuffers.put(buffer, pointer);
        }
        return buffer;
    }

    /** Frees a buffer's memory once the stream's work that may use it is done. */
    void free(CudaBuffer buffer, CUdeviceptr pointer) {
        synchronized (lifecycle) {
            if (liveBuffers.remove(buffer) == null || closed) {
                return; // freed with the device
            }
            CudaErrors.check(cuCtxSetCurrent(context), "cuCtxSetCurrent before freeing " + buffer);
            // Kernels still queued may use the memory: wait for them. The memory is freed even when that wait reports
            // an earlier kernel's failure, which is then this call's error.
            int synced = cuStreamSynchronize(stream);
            CudaErrors.check(cuMemFree(pointer), "cuMemFree(" + buffer + ")");
            CudaErrors.check(synced, "cuStreamSynchronize before freeing " + buffer);
        }
    }

    @Override
    public void upload(ByteBuffer src, DeviceBuffer dst, long dstOffset, int count) {
        CudaBuffer d = range("dst", dst, dstOffset, count);
        long bytes = DeviceArguments.checkFloats(src, "src", count);
        staging.upload(src, d.at(dstOffset), bytes);
    }

    @Override
    public void download(DeviceBuffer src, long srcOffset, int count, ByteBuffer dst) {
        CudaBuffer s = range("src", src, srcOffset, count);
        long bytes = DeviceArguments.checkFloats(dst, "dst", count);
        if (dst.isReadOnly()) {
            throw new IllegalArgumentException("dst is a read-only buffer");
        }
        staging.download(s.at(srcOffset), bytes, dst);
    }

    @Override
    public void upload(float[] src, int srcOffset, DeviceBuffer dst, long dstOffset, int count) {
        CudaBuffer d = range("dst", dst, dstOffset, count);
        DeviceArguments.checkArrayRange("src", src, srcOffset, count);
        staging.upload(src, srcOffset, d.at(dstOffset), count);
    }

    @Override
    public void download(DeviceBuffer src, long srcOffset, float[] dst, int dstOffset, int count) {
        CudaBuffer s = range("src", src, srcOffset, count);
        DeviceArguments.checkArrayRange("dst", dst, dstOffset, count);
        staging.download(s.at(srcOffset), dst, dstOffset, count);
    }

    @Override
    public void fill(DeviceBuffer dst, float value, long count) {
        CudaBuffer d = range("dst", dst, 0, count);
        launchElementwise(KernelNames.FILL, count, ptr(d), arg(value), arg(count));
    }

    // ---- server math --------------------------------------------------------------------------------

    @Override
    public void accumulate(DeviceBuffer acc, ByteBuffer hostGradient, int count) {
        CudaBuffer a = range("acc", acc, 0, count);
        CudaBuffer g = stageHostGradient(hostGradient, count);
        launchElementwise(KernelNames.ACCUMULATE, count, ptr(a), ptr(g), arg((long) count));
    }

    @Override
    public void accumulate(DeviceBuffer acc, DeviceBuffer grad, int count) {
        CudaBuffer a = range("acc", acc, 0, count);
        CudaBuffer g = range("grad", grad, 0, count);
        launchElementwise(KernelNames.ACCUMULATE, count, ptr(a), ptr(g), arg((long) count));
    }

    @Override
    public void scale(DeviceBuffer x, float alpha, int count) {
        CudaBuffer b = range("x", x, 0, count);
        launchElementwise(KernelNames.SCALE, count, ptr(b), arg(alpha), arg((long) count));
    }

    @Override
    public void applyOptimizer(OptimizerSpec spec, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer[] slots,
                               int count, long step, float gradScale) {
        checkOptimizer(spec, slots, step);
        CudaBuffer g = range("grad", grad, 0, count);
        apply(spec, param, g, slots, count, step, gradScale);
    }

    /**
     * Launches {@code gpups_optimizer} over a gradient in device memory: the kind's id, its state, the gradient, the
     * count and the kind's parameter struct, padded ({@link #paramsOf}).
     */
    private void apply(OptimizerSpec spec, DeviceBuffer param, CudaBuffer grad, DeviceBuffer[] slots, int count,
                       long step, float gradScale) {
        List<NativePointerObject> args = optimizerState(spec, param, slots, count);
        args.add(ptr(grad));
        args.add(arg((long) count));
        args.add(paramsOf(spec, step, gradScale));
        launchElementwise(KernelNames.OPTIMIZER, count, args.toArray(NativePointerObject[]::new));
    }

    /**
     * The leading arguments of both optimizer kernels: the kind's id, the parameters, then two slots (the spec's in
     * order, null past its slot count).
     */
    private List<NativePointerObject> optimizerState(OptimizerSpec spec, DeviceBuffer param, DeviceBuffer[] slots,
                                                     int count) {
        List<NativePointerObject> args = new ArrayList<>(12);
        args.add(arg(spec.kind().id));
        args.add(ptr(range("param", param, 0, count)));
        for (int i = 0; i < MAX_SLOTS; i++) {
            args.add(i < spec.slots() ? ptr(range("slot " + i, slots[i], 0, count)) : NULL_POINTER);
        }
        return args;
    }

    /** State slots the optimizer kernels take (s0, s1); a kind with fewer gets null for the rest. */
    private static final int MAX_SLOTS = 2;
    private static final Pointer NULL_POINTER = Pointer.to(new CUdeviceptr());

    /** The kind's parameter struct as {@code OptimizerParams}: {@link KernelParameters#MAX_FLOATS} floats by value. */
    private static Pointer paramsOf(OptimizerSpec spec, long step, float gradScale) {
        return struct(Arrays.copyOf(KernelParameters.of(spec, step, gradScale), KernelParameters.MAX_FLOATS));
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
        if (spec.slots() > MAX_SLOTS) {
            throw new IllegalArgumentException(spec.kind().cliName() + " keeps " + spec.slots()
                    + " slots; the kernels pass at most " + MAX_SLOTS);
        }
    }

    // ---- batched updates ------------------------------------------------------------------------------

    /** Bytes of one entry of {@code gpups_batch_update}'s table. */
    static final int BATCH_ENTRY_BYTES = BatchEntryLayout.BYTES;
    /** The most bytes (gradients and table) gathered into one copy; a larger batch goes in parts, in order. */
    static final long BATCH_MAX_BYTES = 64L << 20;
    /** The gradients start 256 bytes into the device scratch at the latest, each at a multiple of 16 bytes. */
    private static final int BATCH_TABLE_ALIGN = 256;
    private static final int BATCH_GRADIENT_ALIGN = 16;
    /** The limit of gridDim.y: table entries per launch. */
    private static final int MAX_GRID_ROWS = 65_535;

    /**
     * {@inheritDoc}
     *
     * <p>Every update is checked before anything is queued. The updates are gathered, in parts of at most
     * {@value #BATCH_MAX_BYTES} bytes, into one pinned buffer (a table of {@value #BATCH_ENTRY_BYTES}-byte entries,
     * then the gradients at 16-byte aligned offsets), copied with one DMA and applied by one launch of
     * {@code gpups_batch_update} per wave: an update joins the wave after the last one that holds any of its buffers,
     * so updates of one chunk keep their order and no launch writes a buffer from two entries. Pushes to distinct
     * chunks are one wave. The kernel runs the one-chunk kernels' loops, so the results are theirs bit for bit. An
     * update whose gradient alone exceeds the part size, and a part whose pinned or device memory cannot be allocated
     * (nothing of it queued yet), go the one-update way.
     */
    @Override
    public long[] applyBatch(List<? extends BatchedUpdate> updates) {
        enter();
        Device.checkBatch(updates);
        List<CudaBuffer[]> buffers = new ArrayList<>(updates.size());
        for (BatchedUpdate u : updates) {
            buffers.add(checkBatched(u));
        }
        long[] nonFinite = new long[updates.size()];
        int from = 0;
        long bytes = 0;
        for (int i = 0; i < updates.size(); i++) {
            long size = BATCH_ENTRY_BYTES + alignUp(4L * updates.get(i).count(), BATCH_GRADIENT_ALIGN);
            if (size + BATCH_TABLE_ALIGN > BATCH_MAX_BYTES) {
                applyBatchPart(updates, buffers, from, i, nonFinite);
                nonFinite[i] = Device.super.applyBatch(updates.subList(i, i + 1))[0];
                from = i + 1;
                bytes = 0;
                continue;
            }
            if (bytes + size + BATCH_TABLE_ALIGN > BATCH_MAX_BYTES) {
                applyBatchPart(updates, buffers, from, i, nonFinite);
                from = i;
                bytes = 0;
            }
            bytes += size;
        }
        applyBatchPart(updates, buffers, from, updates.size(), nonFinite);
        return nonFinite;
    }

    /** The update's buffers (accumulator, or parameters then slots), after checking every argument. */
    private CudaBuffer[] checkBatched(BatchedUpdate update) {
        if (update instanceof BatchedUpdate.Accumulate a) {
            CudaBuffer acc = range("acc", a.acc(), 0, a.count());
            DeviceArguments.checkFloats(a.gradient(), "gradient", a.count());
            return new CudaBuffer[] {acc};
        }
        if (update instanceof BatchedUpdate.OptimizerStep o) {
            checkOptimizer(o.spec(), o.slots(), o.step());
            CudaBuffer[] own = new CudaBuffer[1 + o.slots().length];
            own[0] = range("param", o.param(), 0, o.count());
            for (int i = 0; i < o.slots().length; i++) {
                own[1 + i] = range("slot " + i, o.slots()[i], 0, o.count());
            }
            DeviceArguments.checkFloats(o.gradient(), "gradient", o.count());
            return own;
        }
        throw new IllegalArgumentException("unknown batched update " + update);
    }

    /**
     * Updates {@code [from, to)}, checked, whose table and gradients fit one copy; their counts of non-finite
     * gradients go to {@code nonFinite[from, to)}.
     */
    private void applyBatchPart(List<? extends BatchedUpdate> updates, List<CudaBuffer[]> buffers, int from, int to,
                                long[] nonFinite) {
        List<List<Integer>> waves = new ArrayList<>();
        Map<CudaBuffer, Integer> lastWave = new IdentityHashMap<>();
        int entries = 0;
        long gradientBytes = 0;
        for (int i = from; i < to; i++) {
            if (updates.get(i).count() == 0) {
                continue;
            }
            int wave = 0;
            for (CudaBuffer b : buffers.get(i)) {
                Integer w = lastWave.get(b);
                if (w != null) {
                    wave = Math.max(wave, w + 1);
                }
            }
            for (CudaBuffer b : buffers.get(i)) {
                lastWave.put(b, wave);
            }
            if (wave == waves.size()) {
                waves.add(new ArrayList<>());
            }
            waves.get(wave).add(i);
            entries++;
            gradientBytes += alignUp(4L * updates.get(i).count(), BATCH_GRADIENT_ALIGN);
        }
        if (entries == 0) {
            return;
        }
        long tableBytes = alignUp((long) entries * BATCH_ENTRY_BYTES, BATCH_TABLE_ALIGN);
        long total = tableBytes + gradientBytes;
        ByteBuffer host;
        CudaBuffer scratch;
        try {
            scratch = batchScratch.atLeast((total + 3) / 4);
            host = batchStaging.fill(total);
        } catch (DeviceOutOfMemoryException e) {
            long[] counts = Device.super.applyBatch(updates.subList(from, to));
            System.arraycopy(counts, 0, nonFinite, from, counts.length);
            return;
        }
        int[] entryUpdate = new int[entries];
        int entry = 0;
        long gradientOffset = 0;
        for (List<Integer> wave : waves) {
            for (int i : wave) {
                BatchedUpdate u = updates.get(i);
                int bytes = 4 * u.count();
                writeEntry(host, entry * BATCH_ENTRY_BYTES, u, buffers.get(i), gradientOffset);
                entryUpdate[entry] = i;
                host.put((int) (tableBytes + gradientOffset), u.gradient(), u.gradient().position(), bytes);
                entry++;
                gradientOffset += alignUp(bytes, BATCH_GRADIENT_ALIGN);
            }
        }
        CUdeviceptr table = scratch.at(0);
        batchStaging.copyTo(table, total);
        Pointer payloads = Pointer.to(table.withByteOffset(tableBytes));
        CUdeviceptr counters = zeroedNonFiniteCounters(entries);
        int first = 0;
        for (List<Integer> wave : waves) {
            for (int start = 0; start < wave.size(); start += MAX_GRID_ROWS) {
                int rows = Math.min(MAX_GRID_ROWS, wave.size() - start);
                long largest = 0;
                for (int r = start; r < start + rows; r++) {
                    largest = Math.max(largest, updates.get(wave.get(r)).count());
                }
                // Each row as many blocks as its largest entry wants (a thread per float4), at most its share of the
                // resident blocks; every row grid-strides over its entry, so any count is correct.
                int occupancy = occupancy(KernelNames.BATCH_UPDATE, LaunchConfig.blockFor(shape));
                LaunchConfig perRow = LaunchConfig.forElements((largest + 3) / 4, shape, occupancy);
                long share = Math.max(1, LaunchConfig.residentBlocks(perRow.threadsPerBlock(), shape, occupancy) / rows);
                int blocks = (int) Math.min(perRow.blocks(), share);
                CUfunction f = kernels.function(KernelNames.BATCH_UPDATE);
                CudaErrors.check(cuLaunchKernel(f, blocks, rows, 1, perRow.threadsPerBlock(), 1, 1, 0, stream,
                                Pointer.to(Pointer.to(table.withByteOffset((long) (first + start) * BATCH_ENTRY_BYTES)),
                                        payloads, Pointer.to(counters.withByteOffset(8L * (first + start)))), null),
                        "cuLaunchKernel(" + KernelNames.BATCH_UPDATE + ", " + rows + " entries)");
            }
            first += wave.size();
        }
        long[] counts = readNonFiniteCounters(entries);
        for (int e = 0; e < entries; e++) {
            nonFinite[entryUpdate[e]] = counts[e];
        }
    }

    /** {@code count} 64-bit counters of non-finite gradients in device memory, zeroed on the stream. */
    private CUdeviceptr zeroedNonFiniteCounters(int count) {
        CUdeviceptr counters = nonFiniteScratch.atLeast(2L * count).at(0);
        CudaErrors.check(cuMemsetD32Async(counters, 0, 2L * count, stream), "cuMemsetD32Async(non-finite counters)");
        return counters;
    }

    /** The counters of {@link #zeroedNonFiniteCounters}, read back once every kernel issued before has run. */
    private long[] readNonFiniteCounters(int count) {
        ByteBuffer result = ByteBuffer.allocate(8 * count).order(ByteOrder.LITTLE_ENDIAN);
        staging.download(nonFiniteScratch.current().at(0), 8L * count, result);
        long[] counts = new long[count];
        for (int i = 0; i < count; i++) {
            counts[i] = result.getLong(8 * i);
        }
        return counts;
    }

    /**
     * One {@code BatchEntry} at {@code at} ({@link BatchEntryLayout}): buffer addresses, the gradient's offset from the
     * payload base, the count, the kind and the optimizer's parameter struct (zeros past its fields).
     */
    private static void writeEntry(ByteBuffer host, int at, BatchedUpdate update, CudaBuffer[] own, long gradientOffset) {
        host.putLong(at + BatchEntryLayout.PARAM_OFFSET, own[0].address(0));
        host.putLong(at + BatchEntryLayout.SLOT0_OFFSET, own.length > 1 ? own[1].address(0) : 0L);
        host.putLong(at + BatchEntryLayout.SLOT1_OFFSET, own.length > 2 ? own[2].address(0) : 0L);
        host.putLong(at + BatchEntryLayout.GRADIENT_OFFSET, gradientOffset);
        host.putLong(at + BatchEntryLayout.COUNT_OFFSET, update.count());
        float[] params = new float[0];
        int kind = BatchEntryLayout.KIND_ACCUMULATE;
        int guard = NonFiniteGuard.SKIP.id;
        if (update instanceof BatchedUpdate.OptimizerStep o) {
            kind = o.spec().kind().id;
            guard = o.guard().id;
            params = KernelParameters.of(o.spec(), o.step(), o.gradScale());
        }
        host.putInt(at + BatchEntryLayout.KIND_OFFSET, kind);
        host.putInt(at + BatchEntryLayout.GUARD_OFFSET, guard);
        for (int k = 0; k < KernelParameters.MAX_FLOATS; k++) {
            host.putFloat(at + BatchEntryLayout.PARAMS_OFFSET + Float.BYTES * k, k < params.length ? params[k] : 0f);
        }
    }

    private static long alignUp(long value, int alignment) {
        return (value + alignment - 1) / alignment * alignment;
    }

    /** The host gradient copied into the scratch buffer (through pinned staging), ordered before later kernels. */
    private CudaBuffer stageHostGradient(ByteBuffer hostGradient, int count) {
        long bytes = DeviceArguments.checkFloats(hostGradient, "hostGradient", count);
        CudaBuffer scratch = hostGradientScratch.atLeast(count);
        staging.upload(hostGradient, scratch.at(0), bytes);
        return scratch;
    }

    // ---- gradient codecs -------------------------------------------------------------------------------

    /**
     * Magnitudes top-k samples to estimate its threshold; must stay {@code encode_topk}'s sample size in
     * {@code native/src/main/cpp/gpups_cpu.h}, so that both devices pick the same threshold.
     */
    static final int TOPK_SAMPLE = 8192;
    /** Attempts top-k makes at a threshold whose count lands within [0.8 target, capacity] (as gpups_cpu.h). */
    private static final int TOPK_ATTEMPTS = 4;
    /** Threads per block of the top-k count and compaction kernels: one tile of elements per block iteration. */
    private static final int TOPK_TILE = 256;
    /** gpups_sparse_scatter's modes (gpups_kernels.cu, ScatterMode). */
    private static final int SCATTER_ADD = 0;
    private static final int SCATTER_STORE = 1;
    private static final int SCATTER_CLEAR = 2;

    /**
     * {@inheritDoc}
     *
     * <p>The payload is built in device memory and copied into {@code out} before this returns; the bytes are the CPU
     * device's for none, fp16, bf16, int8 and randomk, and for top-k too (the same sample, the same threshold, the
     * same first survivors in index order). sign's scales are a tree sum here and a sequential sum on the CPU, so
     * they may differ in the last bits; its sign words do not.
     */
    @Override
    public int encode(Codec codec, DeviceBuffer source, DeviceBuffer residual, long offset, int count, long seed,
                      ByteBuffer out) {
        if (codec == null) {
            throw new IllegalArgumentException("codec is null");
        }
        CudaBuffer g = range("source", source, offset, count);
        CudaBuffer r = codec.errorFeedback() ? range("residual", residual, offset, count) : null;
        if (count == 0) {
            return 0;
        }
        checkWritable(out, "out", codec.maxPayloadBytes(count));
        Pointer gp = Pointer.to(g.at(offset));
        Pointer rp = r == null ? null : Pointer.to(r.at(offset));
        long n = count;
        if (codec.kind() == Codec.Kind.NONE) {
            staging.download(g.at(offset), 4 * n, out);
            return 4 * count;
        }
        CudaBuffer encoded = encodeScratch.atLeast((codec.maxPayloadBytes(count) + 3L) / 4);
        Pointer payload = ptr(encoded);
        int bytes = switch (codec.kind()) {
            case FP16, BF16 -> {
                launch(codec.kind() == Codec.Kind.FP16 ? KernelNames.ENCODE_FP16 : KernelNames.ENCODE_BF16, n,
                        gp, arg(n), payload);
                yield 2 * count;
            }
            case INT8, SIGN -> {
                String kernel = codec.kind() == Codec.Kind.INT8 ? KernelNames.ENCODE_INT8 : KernelNames.ENCODE_SIGN;
                launch(kernel, LaunchConfig.forBlocks(Codec.blocks(count), Codec.BLOCK, shape,
                        occupancy(kernel, Codec.BLOCK)), gp, rp, arg(n), payload);
                yield codec.maxPayloadBytes(count);
            }
            case RANDOMK -> {
                int k = codec.targetK(count);
                RandomKSelection selection = RandomKSelection.of(seed, count, k);
                launchElementwise(KernelNames.ACCUMULATE, n, rp, gp, arg(n));
                launch(KernelNames.ENCODE_RANDOMK, k, rp, arg(n), arg((long) k), arg(selection.start()),
                        arg(selection.stride()), payload);
                yield CodecPayloads.SPARSE_HEADER + 4 * k;
            }
            case TOPK -> CodecPayloads.SPARSE_HEADER + 8 * encodeTopk(codec, gp, rp, count, payload);
            case NONE -> throw new AssertionError("handled above");
        };
        staging.download(encoded.at(0), bytes, out);
        return bytes;
    }

    /**
     * Top-k into the encode scratch; returns k. The steps and numbers are gpups_cpu.h's {@code encode_topk}: a = r + g,
     * a strided sample of |a|, the threshold at the sample's quantile for the wanted fraction (a sorted copy here,
     * nth_element there: the same order statistic), a count on the device, up to {@value #TOPK_ATTEMPTS} attempts
     * rescaling the fraction by target / count, then the first min(count, capacity) survivors in index order.
     */
    private int encodeTopk(Codec codec, Pointer g, Pointer r, int count, Pointer payload) {
        long n = count;
        int target = codec.targetK(count);
        int capacity = codec.topkCapacity(count);
        int m = Math.min(count, TOPK_SAMPLE);
        // Block b of the count and compaction owns tiles [b * tilesPerBlock, (b + 1) * tilesPerBlock) of the chunk.
        long tiles = (n + TOPK_TILE - 1) / TOPK_TILE;
        // Count and compaction split the chunk alike: the smaller residency of the two.
        int occupancy = Math.min(occupancy(KernelNames.TOPK_COUNT, TOPK_TILE), occupancy(KernelNames.TOPK_COMPACT, TOPK_TILE));
        long resident = LaunchConfig.residentBlocks(TOPK_TILE, shape, occupancy);
        long tilesPerBlock = (tiles + resident - 1) / resident;
        int grid = (int) ((tiles + tilesPerBlock - 1) / tilesPerBlock);
        LaunchConfig config = LaunchConfig.forBlocks(grid, TOPK_TILE, shape, occupancy);
        CudaBuffer scratch = topkScratch.atLeast((long) m + grid);
        Pointer sample = ptr(scratch);
        Pointer blockCounts = Pointer.to(scratch.at(m));

        launchElementwise(KernelNames.ACCUMULATE, n, r, g, arg(n));
        launch(KernelNames.TOPK_SAMPLE, m, r, arg(n), arg((long) m), sample);
        float[] sorted = new float[m];
        staging.download(scratch.at(0), sorted, 0, m);
        Arrays.sort(sorted);

        ByteBuffer counts = ByteBuffer.allocate(4 * grid).order(ByteOrder.LITTLE_ENDIAN);
        double fraction = (double) target / n;
        float threshold = 0f;
        long selected = 0;
        for (int attempt = 0; attempt < TOPK_ATTEMPTS; attempt++) {
            long rank = m - (long) Math.ceil(fraction * m);
            threshold = sorted[(int) Math.max(0, Math.min(m - 1, rank))];
            launch(KernelNames.TOPK_COUNT, config, r, arg(n), arg(threshold), arg(tilesPerBlock), blockCounts);
            staging.download(scratch.at(m), 4L * grid, counts);
            selected = 0;
            for (int b = 0; b < grid; b++) {
                selected += Integer.toUnsignedLong(counts.getInt(4 * b));
            }
            if (selected >= (long) (0.8 * target) && selected <= capacity) {
                break;
            }
            fraction = Math.min(1.0, fraction * target / Math.max(selected, 1));
        }
        int k = (int) Math.min(selected, capacity);
        launch(KernelNames.TOPK_COMPACT, config, r, arg(n), arg(threshold), arg(tilesPerBlock), blockCounts, arg(k),
                payload);
        return k;
    }

    /**
     * {@inheritDoc}
     *
     * <p>The payload's bytes must cover what its codec reads for {@code count} elements (an
     * {@link IllegalArgumentException} otherwise); an out-of-range top-k index is skipped by the kernel, never
     * written.
     */
    @Override
    public long decodeAccumulate(Codec.Kind codec, ByteBuffer payload, int count, long seed, DeviceBuffer acc) {
        CudaBuffer a = range("acc", acc, 0, count);
        if (count == 0) {
            return 0;
        }
        int k = DeviceArguments.checkPayload(codec, payload, count);
        CudaBuffer p = stagePayload(payload);
        long n = count;
        Pointer counter = Pointer.to(zeroedNonFiniteCounters(1));
        if (codec.sparse()) {
            RandomKSelection selection = selection(codec, count, k, seed);
            launch(KernelNames.SPARSE_SCATTER, k, ptr(a), ptr(p), arg(n), arg(codec.id), arg((long) k),
                    arg(selection.start()), arg(selection.stride()), arg(SCATTER_ADD), counter);
        } else {
            launchElementwise(KernelNames.DECODE_ACCUMULATE, n, ptr(a), ptr(p), arg(n), arg(codec.id), counter);
        }
        return readNonFiniteCounters(1)[0];
    }

    /**
     * {@inheritDoc}
     *
     * <p>A dense codec is decoded inside the optimizer kernel. A sparse one is stored into a zeroed scratch, the fused
     * kernel steps every element with the scratch as its float32 payload (Adam's moments decay where the gradient is
     * 0; a non-finite value sent is counted and guarded there), and the entries are cleared again: three launches, as
     * the CPU device's three loops.
     */
    @Override
    public long decodeApplyOptimizer(Codec.Kind codec, ByteBuffer payload, int count, long seed, OptimizerSpec spec,
                                     DeviceBuffer param, DeviceBuffer[] slots, long step, float gradScale,
                                     NonFiniteGuard guard) {
        checkOptimizer(spec, slots, step);
        if (guard == null) {
            throw new IllegalArgumentException("non-finite guard is null");
        }
        List<NativePointerObject> args = optimizerState(spec, param, slots, count);
        if (count == 0) {
            return 0;
        }
        int k = DeviceArguments.checkPayload(codec, payload, count);
        CudaBuffer p = stagePayload(payload);
        long n = count;
        Pointer counter = Pointer.to(zeroedNonFiniteCounters(1));
        CudaBuffer gradient = p;
        int gradientCodec = codec.id;
        NativePointerObject[] scatter = null;
        try {
            if (codec.sparse()) {
                CudaBuffer sparse = sparseGradientScratch.atLeast(count);
                RandomKSelection selection = selection(codec, count, k, seed);
                scatter = new NativePointerObject[] {ptr(sparse), ptr(p), arg(n), arg(codec.id),
                        arg((long) k), arg(selection.start()), arg(selection.stride()), arg(SCATTER_STORE), counter};
                launch(KernelNames.SPARSE_SCATTER, k, scatter);
                gradient = sparse;
                gradientCodec = Codec.Kind.NONE.id;
            }
            args.add(ptr(gradient));
            args.add(arg(n));
            args.add(arg(gradientCodec));
            args.add(paramsOf(spec, step, gradScale));
            args.add(arg(guard.id));
            args.add(counter);
            launchElementwise(KernelNames.DECODE_OPTIMIZER, n, args.toArray(NativePointerObject[]::new));
            if (scatter != null) {
                scatter[scatter.length - 2] = arg(SCATTER_CLEAR);
                launch(KernelNames.SPARSE_SCATTER, k, scatter);
            }
        } catch (RuntimeException | Error e) {
            if (scatter != null) {
                // Entries may be stored and not cleared: a later step would apply them. The next sparse call gets a
                // fresh, zero-filled scratch instead.
                try {
                    sparseGradientScratch.discard();
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
        return readNonFiniteCounters(1)[0];
    }


    /** randomk's index selection for k entries; a placeholder (unused by the kernel) for top-k. */
    private static RandomKSelection selection(Codec.Kind codec, int count, int k, long seed) {
        return codec == Codec.Kind.RANDOMK ? RandomKSelection.of(seed, count, k) : new RandomKSelection(count, k, 0, 1);
    }

    /** The payload's remaining bytes copied to the start of the host-gradient scratch (256-byte aligned). */
    private CudaBuffer stagePayload(ByteBuffer payload) {
        long bytes = payload.remaining();
        CudaBuffer scratch = hostGradientScratch.atLeast((bytes + 3) / 4);
        staging.upload(payload, scratch.at(0), bytes);
        return scratch;
    }

    // ---- worker math --------------------------------------------------------------------------------

    /** {@inheritDoc} By cuBLAS where {@code libcublas.so.12} loads, else by {@code gpups_sgemm} ({@link Gemm}). */
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
        gemm.run(transA, transB, m, n, k, alpha, da, db, beta, dc);
    }

    /** Which GEMM this device runs and why, as logged when it opened. */
    public String gemmDescription() {
        return gemm.description();
    }

    @Override
    public void addBias(DeviceBuffer x, DeviceBuffer bias, int rows, int cols) {
        DeviceArguments.checkShape("addBias", rows, cols);
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
        DeviceArguments.checkShape("softmaxCrossEntropy", rows, cols);
        if (rows == 0 || cols == 0) {
            throw new IllegalArgumentException("softmaxCrossEntropy needs rows > 0 and cols > 0, got rows=" + rows
                    + " cols=" + cols);
        }
        long size = (long) rows * cols;
        CudaBuffer l = range("logits", logits, 0, size);
        CudaBuffer y = range("labels", labels, 0, rows);
        CudaBuffer g = range("gradLogits", gradLogits, 0, size);
        CudaBuffer rowLosses = rowLossScratch.atLeast(rows);
        launch(KernelNames.SOFTMAX_XENT, rows, ptr(l), ptr(y), arg(rows), arg(cols), ptr(g), ptr(rowLosses));
        float[] losses = new float[rows];
        staging.download(rowLosses.at(0), losses, 0, rows);
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
        DeviceArguments.checkShape("columnSums", rows, cols);
        CudaBuffer dx = range("x", x, 0, (long) rows * cols);
        CudaBuffer o = range("out", out, 0, cols);
        launch(KernelNames.COLUMN_SUMS, cols, ptr(dx), arg(rows), arg(cols), ptr(o));
    }

    @Override
    public int countCorrect(DeviceBuffer logits, DeviceBuffer labels, int rows, int cols) {
        DeviceArguments.checkShape("countCorrect", rows, cols);
        if (rows > 0 && cols == 0) {
            throw new IllegalArgumentException("countCorrect needs cols > 0 for " + rows + " rows");
        }
        CudaBuffer l = range("logits", logits, 0, (long) rows * cols);
        CudaBuffer y = range("labels", labels, 0, rows);
        if (rows == 0) {
            return 0;
        }
        CudaBuffer counter = counterScratch.atLeast(1);
        CudaErrors.check(cuMemsetD32Async(counter.at(0), 0, 1, stream), "cuMemsetD32Async(counter)");
        launch(KernelNames.COUNT_CORRECT, rows, ptr(l), ptr(y), arg(rows), arg(cols), ptr(counter));
        ByteBuffer result = ByteBuffer.allocate(Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        staging.download(counter.at(0), Integer.BYTES, result);
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
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            cuCtxSetCurrent(context);
            cuStreamSynchronize(stream);
            closed = true;
            // A buffer closed on another thread meanwhile waits for the lock in free(), then finds itself freed here.
            for (CUdeviceptr p : liveBuffers.values()) {
                cuMemFree(p);
            }
            liveBuffers.clear();
            staging.close();
            batchStaging.close();
            gemm.close();
            kernels.close();
            cuStreamDestroy(stream);
            cuDevicePrimaryCtxRelease(cuDevice);
        }
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
        LaunchConfig config = LaunchConfig.forElements(elements, shape, occupancy(kernel, LaunchConfig.blockFor(shape)));
        CudaErrors.check(cuLaunchKernel(f, config.blocks(), 1, 1, config.threadsPerBlock(), 1, 1, 0, stream,
                Pointer.to(args), null), "cuLaunchKernel(" + kernel + ", " + elements + " items)");
    }

    /** Blocks of {@code kernel} one SM holds at {@code threadsPerBlock} threads (registers and shared memory counted). */
    private int occupancy(String kernel, int threadsPerBlock) {
        return kernels.blocksPerMultiprocessor(kernel, threadsPerBlock);
    }

    /**
     * Queues an element-wise kernel (one built on {@code for_each_element}) over {@code elements} elements: a thread
     * takes four elements per pass on the float4 path, so the launch is sized for {@code elements / 4} threads; the
     * scalar path (unaligned operands) covers the same range in more passes.
     */
    private void launchElementwise(String kernel, long elements, NativePointerObject... args) {
        launch(kernel, (elements + 3) / 4, args);
    }

    /** Queues kernel {@code kernel} with an explicit shape (kernels that need a fixed block size). */
    private void launch(String kernel, LaunchConfig config, NativePointerObject... args) {
        CUfunction f = kernels.function(kernel);
        CudaErrors.check(cuLaunchKernel(f, config.blocks(), 1, 1, config.threadsPerBlock(), 1, 1, 0, stream,
                Pointer.to(args), null), "cuLaunchKernel(" + kernel + ", " + config + ")");
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
        DeviceArguments.checkRange(role, own, offset, count);
        return own;
    }


    /** A host buffer that can take {@code bytes} bytes at its position. */
    private static void checkWritable(ByteBuffer buffer, String role, long bytes) {
        DeviceArguments.checkBytes(buffer, role, bytes);
        if (buffer.isReadOnly()) {
            throw new IllegalArgumentException(role + " is a read-only buffer");
        }
    }

}
