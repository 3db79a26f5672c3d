package io.gpups.nativecpu;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.RandomKSelection;
import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceArguments;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.device.NonFiniteGuard;
import io.gpups.core.optim.KernelParameters;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.RowTable;
import io.gpups.core.table.TableSpec;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.presets.openblas_nolapack;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_sgemm;

/**
 * The CPU device: off-heap buffers and the shared kernel math compiled for the host (through JavaCPP, see
 * {@link CpuKernels}), with OpenBLAS for GEMM. Every operation runs synchronously on the calling thread, so
 * {@link #synchronize()} has nothing to wait for.
 *
 * <p>Host {@link ByteBuffer}s are read and written in place when direct (a Netty payload costs no copy),
 * through a temporary native copy when on the heap; their position is never changed. Sizes are checked here,
 * before any native call: a bad count or offset is an {@link IllegalArgumentException} naming the values.
 *
 * <p>Elementwise operations over more than {@link RangeSplitter#MIN_SLICE} elements (fill, accumulate, scale,
 * every optimizer step, and the decode of uncompressed, fp16 and bf16 payloads) are split over the device's
 * threads ({@value #THREADS_PROPERTY}, default: every available processor); one thread cannot reach the
 * memory bandwidth with the optimizer loops. The result is the same bits for any thread count.
 *
 * <p>OpenBLAS is loaded on the first {@link #gemm} (it unpacks about 100 MB once), with the thread count given
 * at construction. That count is process-wide in OpenBLAS: the default is 1 because several gpups processes
 * usually share one machine.
 */
public final class CpuDevice implements Device {

    /** System property with the OpenBLAS thread count of devices made by {@link CpuDeviceProvider}. */
    public static final String BLAS_THREADS_PROPERTY = "gpups.blas.threads";
    /** System property with the elementwise thread count of devices made by {@link CpuDeviceProvider}. */
    public static final String THREADS_PROPERTY = "gpups.cpu.threads";

    private static final String NAME = "cpu";

    private final int blasThreads;
    private final RangeSplitter splitter;
    private final Set<CpuDeviceBuffer> liveBuffers = ConcurrentHashMap.newKeySet();
    private final Set<CpuRowTable> liveTables = ConcurrentHashMap.newKeySet();
    private final AtomicLong nextBufferId = new AtomicLong();
    private boolean blasConfigured;
    private volatile boolean closed;

    /**
     * A device with the OpenBLAS thread count of {@value #BLAS_THREADS_PROPERTY} (default 1) and the elementwise
     * thread count of {@value #THREADS_PROPERTY} (default: the available processors).
     */
    public CpuDevice() {
        this(intProperty(BLAS_THREADS_PROPERTY, 1), intProperty(THREADS_PROPERTY, Runtime.getRuntime().availableProcessors()));
    }

    /** A device with {@code blasThreads} OpenBLAS threads and one thread for elementwise operations. */
    public CpuDevice(int blasThreads) {
        this(blasThreads, 1);
    }

    public CpuDevice(int blasThreads, int threads) {
        if (blasThreads < 1) {
            throw new IllegalArgumentException("OpenBLAS thread count must be >= 1, got " + blasThreads);
        }
        this.blasThreads = blasThreads;
        this.splitter = new RangeSplitter(threads);
    }

    private static int intProperty(String name, int fallback) {
        String value = System.getProperty(name);
        if (value == null) {
            return fallback;
        }
        try {
            int n = Integer.parseInt(value.trim());
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException(name + " must be an integer >= 1, got '" + value + "'");
    }

    @Override
    public String name() {
        return NAME;
    }

    /** OpenBLAS threads this device asks for on its first GEMM. */
    public int blasThreads() {
        return blasThreads;
    }

    /** Threads that large elementwise operations are split over. */
    public int threads() {
        return splitter.threads();
    }

    // ---- memory -------------------------------------------------------------------------------------

    @Override
    public CpuDeviceBuffer allocate(long elements) {
        ensureOpen();
        if (elements < 0 || elements > Long.MAX_VALUE / Float.BYTES) {
            throw new IllegalArgumentException("cannot allocate " + elements + " floats");
        }
        FloatPointer storage = CpuKernels.allocate_floats(elements);
        if (storage == null || storage.isNull()) {
            throw new OutOfMemoryError("cpu device: could not allocate " + elements + " floats ("
                    + elements * Float.BYTES + " bytes)");
        }
        CpuDeviceBuffer buffer = new CpuDeviceBuffer(this, nextBufferId.incrementAndGet(), elements, storage);
        liveBuffers.add(buffer);
        return buffer;
    }

    void released(CpuDeviceBuffer buffer) {
        liveBuffers.remove(buffer);
    }

    @Override
    public void upload(ByteBuffer src, DeviceBuffer dst, long dstOffset, int count) {
        CpuDeviceBuffer d = range("dst", dst, dstOffset, count);
        try (HostBytes bytes = HostBytes.reading(src, "src", count)) {
            CpuKernels.copy_from_payload(d.at(dstOffset), bytes.pointer(), count);
        }
    }

    @Override
    public void download(DeviceBuffer src, long srcOffset, int count, ByteBuffer dst) {
        CpuDeviceBuffer s = range("src", src, srcOffset, count);
        try (HostBytes bytes = HostBytes.writing(dst, "dst", count)) {
            // Split like the elementwise ops: one thread's copy is well short of the memory's bandwidth, and a
            // pull answer's copy is on the shard agent's path.
            BytePointer out = bytes.pointer();
            splitter.run(count, (o, n) -> CpuKernels.copy_to_payload(bytesAt(out, 4 * o), s.at(srcOffset + o), n));
        }
    }

    @Override
    public void upload(float[] src, int srcOffset, DeviceBuffer dst, long dstOffset, int count) {
        CpuDeviceBuffer d = range("dst", dst, dstOffset, count);
        DeviceArguments.checkArrayRange("src", src, srcOffset, count);
        d.at(dstOffset).put(src, srcOffset, count);
    }

    @Override
    public void download(DeviceBuffer src, long srcOffset, float[] dst, int dstOffset, int count) {
        CpuDeviceBuffer s = range("src", src, srcOffset, count);
        DeviceArguments.checkArrayRange("dst", dst, dstOffset, count);
        s.at(srcOffset).get(dst, dstOffset, count);
    }

    @Override
    public void fill(DeviceBuffer dst, float value, long count) {
        CpuDeviceBuffer d = range("dst", dst, 0, count);
        splitter.run(count, (o, n) -> CpuKernels.fill(d.at(o), value, n));
    }

    // ---- server math --------------------------------------------------------------------------------

    @Override
    public void accumulate(DeviceBuffer acc, ByteBuffer hostGradient, int count) {
        CpuDeviceBuffer a = range("acc", acc, 0, count);
        try (HostBytes grad = HostBytes.reading(hostGradient, "hostGradient", count)) {
            splitter.run(count, (o, n) -> CpuKernels.accumulate_payload(a.at(o), bytesAt(grad.pointer(), 4 * o), n));
        }
    }

    @Override
    public void accumulate(DeviceBuffer acc, DeviceBuffer grad, int count) {
        CpuDeviceBuffer a = range("acc", acc, 0, count);
        CpuDeviceBuffer g = range("grad", grad, 0, count);
        splitter.run(count, (o, n) -> CpuKernels.accumulate(a.at(o), g.at(o), n));
    }

    @Override
    public void scale(DeviceBuffer x, float alpha, int count) {
        CpuDeviceBuffer b = range("x", x, 0, count);
        splitter.run(count, (o, n) -> CpuKernels.scale(b.at(o), alpha, n));
    }

    @Override
    public void applyOptimizer(OptimizerSpec spec, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer[] slots,
                               int count, long step, float gradScale) {
        checkOptimizer(spec, slots, step);
        CpuDeviceBuffer g = range("grad", grad, 0, count);
        CpuDeviceBuffer[] state = optimizerBuffers(param, slots, count);
        float[] h = KernelParameters.of(spec, step, gradScale);
        int kind = spec.kind().id;
        splitter.run(count, (o, n) -> CpuKernels.apply_optimizer(kind, state[0].at(o), slotAt(state, 1, o),
                slotAt(state, 2, o), g.at(o), n, h));
    }

    /** Element {@code offset} of {@code state[index]}, or null where the optimizer keeps fewer slots. */
    private static FloatPointer slotAt(CpuDeviceBuffer[] state, int index, long offset) {
        return index < state.length ? state[index].at(offset) : null;
    }

    /** The parameter buffer, then the slots, each checked to hold {@code count} elements. */
    private CpuDeviceBuffer[] optimizerBuffers(DeviceBuffer param, DeviceBuffer[] slots, int count) {
        CpuDeviceBuffer[] state = new CpuDeviceBuffer[1 + slots.length];
        state[0] = range("param", param, 0, count);
        for (int i = 0; i < slots.length; i++) {
            state[1 + i] = range("slot " + i, slots[i], 0, count);
        }
        return state;
    }

    private static void checkOptimizer(OptimizerSpec spec, DeviceBuffer[] slots, long step) {
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

    // ---- gradient codecs -------------------------------------------------------------------------------

    /** Zeros the size of the largest sparse chunk decoded so far (sparse decode-and-apply scatters here). */
    private CpuDeviceBuffer scratch;

    @Override
    public int encode(Codec codec, DeviceBuffer source, DeviceBuffer residual, long offset, int count, long seed,
                      ByteBuffer out) {
        if (codec == null) {
            throw new IllegalArgumentException("codec is null");
        }
        FloatPointer g = range("source", source, offset, count).at(offset);
        FloatPointer r = codec.errorFeedback() ? range("residual", residual, offset, count).at(offset) : null;
        if (count == 0) {
            return 0;
        }
        try (HostBytes o = HostBytes.writingBytes(out, "out", codec.maxPayloadBytes(count))) {
            BytePointer p = o.pointer();
            return switch (codec.kind()) {
                case NONE -> {
                    CpuKernels.copy_to_payload(p, g, count);
                    yield 4 * count;
                }
                case FP16 -> {
                    CpuKernels.encode_fp16(g, count, p);
                    yield 2 * count;
                }
                case BF16 -> {
                    CpuKernels.encode_bf16(g, count, p);
                    yield 2 * count;
                }
                case INT8 -> {
                    CpuKernels.encode_int8(g, r, count, p);
                    yield codec.maxPayloadBytes(count);
                }
                case SIGN -> {
                    CpuKernels.encode_sign(g, r, count, p);
                    yield codec.maxPayloadBytes(count);
                }
                case RANDOMK -> {
                    int k = codec.targetK(count);
                    RandomKSelection selection = RandomKSelection.of(seed, count, k);
                    CpuKernels.encode_randomk(g, r, count, k, selection.start(), selection.stride(), p);
                    yield 8 + 4 * k;
                }
                case TOPK -> 8 + 8 * CpuKernels.encode_topk(g, r, count, codec.targetK(count), codec.topkCapacity(count), p);
            };
        }
    }

    @Override
    public long decodeAccumulate(Codec.Kind codec, ByteBuffer payload, int count, long seed, DeviceBuffer acc) {
        CpuDeviceBuffer a = range("acc", acc, 0, count);
        if (count == 0) {
            return 0;
        }
        DeviceArguments.checkPayload(codec, payload, count);
        RandomKSelection selection = selection(codec, payload, count, seed);
        int width = elementwiseWidth(codec);
        try (HostBytes p = HostBytes.readingBytes(payload, "payload", payload.remaining())) {
            return decode(count, width, (o, n) -> CpuKernels.decode_accumulate(codec.id, bytesAt(p.pointer(), width * o),
                    n, selection.start(), selection.stride(), a.at(o)));
        }
    }

    @Override
    public long decodeApplyOptimizer(Codec.Kind codec, ByteBuffer payload, int count, long seed, OptimizerSpec spec,
                                     DeviceBuffer param, DeviceBuffer[] slots, long step, float gradScale,
                                     NonFiniteGuard guard) {
        checkOptimizer(spec, slots, step);
        if (guard == null) {
            throw new IllegalArgumentException("non-finite guard is null");
        }
        CpuDeviceBuffer[] state = optimizerBuffers(param, slots, count);
        if (count == 0) {
            return 0;
        }
        DeviceArguments.checkPayload(codec, payload, count);
        FloatPointer zeros = null;
        if (codec.sparse()) {
            if (scratch == null || scratch.elements() < count) {
                if (scratch != null) {
                    scratch.close();
                }
                scratch = (CpuDeviceBuffer) allocate(count);
            }
            zeros = scratch.at(0);
        }
        FloatPointer scratchZeros = zeros;
        RandomKSelection selection = selection(codec, payload, count, seed);
        float[] h = KernelParameters.of(spec, step, gradScale);
        int width = elementwiseWidth(codec);
        try (HostBytes g = HostBytes.readingBytes(payload, "payload", payload.remaining())) {
            return decode(count, width, (o, n) -> CpuKernels.decode_apply(codec.id, bytesAt(g.pointer(), width * o), n,
                    selection.start(), selection.stride(), spec.kind().id, state[0].at(o), slotAt(state, 1, o),
                    slotAt(state, 2, o), scratchZeros, h, guard.id));
        }
    }

    /** One slice of a decode: returns how many decoded values of the slice were not finite. */
    @FunctionalInterface
    private interface CountingSlice {
        long run(long offset, long count);
    }

    /**
     * A decode over {@code count} elements: split over the threads when the codec is elementwise, else whole.
     * Returns the slices' counts of non-finite values, summed.
     */
    private long decode(int count, int width, CountingSlice slice) {
        if (width == 0) {
            return slice.run(0, count);
        }
        LongAdder nonFinite = new LongAdder();
        splitter.run(count, (o, n) -> nonFinite.add(slice.run(o, n)));
        return nonFinite.sum();
    }

    /**
     * Payload bytes per element of the codecs whose payload is one fixed-width value per element (so a slice of
     * elements is a slice of bytes); 0 for the others, which are decoded on one thread.
     */
    private static int elementwiseWidth(Codec.Kind codec) {
        return switch (codec) {
            case NONE -> 4;
            case FP16, BF16 -> 2;
            default -> 0;
        };
    }

    /** {@code base} moved on by {@code bytes}. */
    static BytePointer bytesAt(BytePointer base, long bytes) {
        return bytes == 0 ? base : new BytePointer(base).position(base.position() + bytes);
    }

    /** randomk's index selection from the payload's k; a placeholder for the other codecs. */
    private static RandomKSelection selection(Codec.Kind codec, ByteBuffer payload, int count, long seed) {
        if (codec != Codec.Kind.RANDOMK) {
            return new RandomKSelection(count, 0, 0, 1);
        }
        int k = payload.duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(payload.position());
        return RandomKSelection.of(seed, count, k);
    }

    // ---- embedding tables -------------------------------------------------------------------------

    /**
     * {@inheritDoc}
     *
     * <p>The table's memory comes from the same allocator as buffers (huge pages from 2 MiB on); closing the device
     * closes its tables.
     */
    @Override
    public RowTable createTable(TableSpec spec) {
        ensureOpen();
        CpuRowTable table = CpuRowTable.create(this, spec, splitter);
        liveTables.add(table);
        return table;
    }

    void released(CpuRowTable table) {
        liveTables.remove(table);
    }

    // ---- worker math --------------------------------------------------------------------------------

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k,
                     float alpha, DeviceBuffer a, DeviceBuffer b, float beta, DeviceBuffer c) {
        if (m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("gemm dimensions must be >= 0, got m=" + m + " n=" + n + " k=" + k);
        }
        FloatPointer pa = range("A", a, 0, (long) m * k).at(0);
        FloatPointer pb = range("B", b, 0, (long) k * n).at(0);
        FloatPointer pc = range("C", c, 0, (long) m * n).at(0);
        if (m == 0 || n == 0) {
            return;
        }
        configureBlas();
        // Row-major: op(A) is m x k, stored as m x k (lda = k) or, transposed, as k x m (lda = m).
        int lda = Math.max(1, transA ? m : k);
        int ldb = Math.max(1, transB ? k : n);
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, pa, lda, pb, ldb, beta, pc, n);
    }

    private void configureBlas() {
        if (!blasConfigured) {
            openblas_nolapack.blas_set_num_threads(blasThreads);
            blasConfigured = true;
        }
    }

    @Override
    public void addBias(DeviceBuffer x, DeviceBuffer bias, int rows, int cols) {
        DeviceArguments.checkShape("addBias", rows, cols);
        FloatPointer px = range("x", x, 0, (long) rows * cols).at(0);
        CpuKernels.add_bias(px, range("bias", bias, 0, cols).at(0), rows, cols);
    }

    @Override
    public void relu(DeviceBuffer x, int count) {
        CpuKernels.relu(range("x", x, 0, count).at(0), count);
    }

    @Override
    public void reluBackward(DeviceBuffer grad, DeviceBuffer activation, int count) {
        FloatPointer g = range("grad", grad, 0, count).at(0);
        CpuKernels.relu_backward(g, range("activation", activation, 0, count).at(0), count);
    }

    /**
     * {@inheritDoc}
     *
     * <p>{@code gradLogits} may be {@code logits} itself. Row losses are summed in double. A label that is not
     * an integer class index in {@code [0, cols)} fails the call (a {@link RuntimeException} naming the row)
     * before anything is written.
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
        FloatPointer l = range("logits", logits, 0, size).at(0);
        FloatPointer y = range("labels", labels, 0, rows).at(0);
        FloatPointer g = range("gradLogits", gradLogits, 0, size).at(0);
        return CpuKernels.softmax_xent(l, y, rows, cols, g);
    }

    @Override
    public void columnSums(DeviceBuffer x, int rows, int cols, DeviceBuffer out) {
        DeviceArguments.checkShape("columnSums", rows, cols);
        FloatPointer px = range("x", x, 0, (long) rows * cols).at(0);
        CpuKernels.column_sums(px, rows, cols, range("out", out, 0, cols).at(0));
    }

    @Override
    public int countCorrect(DeviceBuffer logits, DeviceBuffer labels, int rows, int cols) {
        DeviceArguments.checkShape("countCorrect", rows, cols);
        if (rows > 0 && cols == 0) {
            throw new IllegalArgumentException("countCorrect needs cols > 0 for " + rows + " rows");
        }
        FloatPointer l = range("logits", logits, 0, (long) rows * cols).at(0);
        return CpuKernels.count_correct(l, range("labels", labels, 0, rows).at(0), rows, cols);
    }

    @Override
    public void synchronize() {
        ensureOpen();
    }

    /** Frees every buffer still open; later calls fail. Closing twice is harmless. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        splitter.close();
        for (CpuDeviceBuffer buffer : new ArrayList<>(liveBuffers)) {
            buffer.close();
        }
        for (CpuRowTable table : new ArrayList<>(liveTables)) {
            table.close();
        }
    }

    @Override
    public String toString() {
        return "CpuDevice[threads=" + splitter.threads() + ", blasThreads=" + blasThreads + ", liveBuffers=" + liveBuffers.size() + "]";
    }

    // ---- checks -------------------------------------------------------------------------------------

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("cpu device is closed");
        }
    }

    /**
     * The buffer as this device's own, after checking that {@code [offset, offset + count)} lies inside it.
     * {@code role} names the argument in messages.
     */
    private CpuDeviceBuffer range(String role, DeviceBuffer buffer, long offset, long count) {
        ensureOpen();
        if (!(buffer instanceof CpuDeviceBuffer own) || own.device() != this) {
            throw new IllegalArgumentException(role + ": " + buffer + " does not belong to this cpu device");
        }
        if (own.isClosed()) {
            throw new IllegalStateException(role + ": " + own + " is closed");
        }
        DeviceArguments.checkRange(role, own, offset, count);
        return own;
    }

    /**
     * {@code count} floats of a host buffer as a native byte pointer at the buffer's position. Direct buffers are
     * used in place; heap buffers go through a temporary native copy (copied in for reading, copied back on
     * {@link #close()} for writing). The caller's buffer position never moves.
     */
    static final class HostBytes implements AutoCloseable {
        private final ByteBuffer host;
        private final BytePointer pointer;
        private final long bytes;
        /** The pointer is a temporary copy (heap host buffer), freed on close. */
        private final boolean staged;
        private final boolean copyBack;

        private HostBytes(ByteBuffer host, BytePointer pointer, long bytes, boolean staged, boolean copyBack) {
            this.host = host;
            this.pointer = pointer;
            this.bytes = bytes;
            this.staged = staged;
            this.copyBack = copyBack;
        }

        static HostBytes reading(ByteBuffer src, String role, int count) {
            return readingBytes(src, role, checkFloats(src, role, count));
        }

        static HostBytes readingBytes(ByteBuffer src, String role, long bytes) {
            checkHost(src, role, bytes);
            if (src.isDirect()) {
                return new HostBytes(src, new BytePointer(src), bytes, false, false);
            }
            BytePointer staging = new BytePointer(Math.max(1, bytes));
            if (bytes > 0) {
                ByteBuffer region = src.duplicate();
                region.limit(region.position() + (int) bytes);
                staging.asBuffer().put(region);
            }
            return new HostBytes(src, staging, bytes, true, false);
        }

        static HostBytes writing(ByteBuffer dst, String role, int count) {
            return writingBytes(dst, role, checkFloats(dst, role, count));
        }

        static HostBytes writingBytes(ByteBuffer dst, String role, long bytes) {
            checkHost(dst, role, bytes);
            if (dst.isReadOnly()) {
                throw new IllegalArgumentException(role + " is a read-only buffer");
            }
            if (dst.isDirect()) {
                return new HostBytes(dst, new BytePointer(dst), bytes, false, false);
            }
            return new HostBytes(dst, new BytePointer(Math.max(1, bytes)), bytes, true, true);
        }

        /** Checks that {@code count} floats fit the buffer; returns their size in bytes. */
        private static long checkFloats(ByteBuffer buffer, String role, int count) {
            return DeviceArguments.checkFloats(buffer, role, count);
        }

        private static void checkHost(ByteBuffer buffer, String role, long bytes) {
            DeviceArguments.checkBytes(buffer, role, bytes);
        }

        BytePointer pointer() {
            return pointer;
        }

        @Override
        public void close() {
            if (staged) {
                if (copyBack && bytes > 0) {
                    host.duplicate().put(pointer.asBuffer());
                }
                pointer.close();
            }
            // A direct buffer is used in place: keep it reachable until the native call is over.
            Reference.reachabilityFence(host);
        }
    }
}
