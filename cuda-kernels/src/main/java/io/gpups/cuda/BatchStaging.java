package io.gpups.cuda;

import io.gpups.core.device.DeviceOutOfMemoryException;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;

/**
 * One pinned host buffer into which a batched update is gathered (its table, then every gradient) and copied to the
 * device with one asynchronous DMA. Grown on demand (doubling) and kept; {@link #fill} waits for the previous batch's
 * DMA before handing the memory out again. {@link PinnedStaging}'s fixed slots suit copies of one buffer; this one
 * exists so a batch is one copy, not one per gradient.
 *
 * <p>Used by its device's one thread at a time; not thread-safe.
 */
final class BatchStaging implements AutoCloseable {

    private final CUstream stream;
    private Pointer host;
    private ByteBuffer view;
    private long capacity;
    private CUevent done;
    private boolean pending;

    BatchStaging(CUstream stream) {
        this.stream = stream;
    }

    /**
     * A little-endian view of {@code bytes} bytes of pinned memory, position 0, free to fill: the previous copy from
     * it has completed. Throws {@link DeviceOutOfMemoryException} when the pinned memory cannot be allocated; nothing
     * is queued then.
     */
    ByteBuffer fill(long bytes) {
        if (bytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a batch of " + bytes + " bytes exceeds 2 GiB");
        }
        if (pending) {
            CudaErrors.check(cuEventSynchronize(done), "cuEventSynchronize(batch staging)");
            pending = false;
        }
        if (done == null) {
            CUevent event = new CUevent();
            CudaErrors.check(cuEventCreate(event, CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
            done = event;
        }
        if (bytes > capacity) {
            long size = Math.min(Integer.MAX_VALUE, Math.max(bytes, 2 * capacity));
            Pointer fresh = new Pointer();
            int result = cuMemHostAlloc(fresh, size, 0);
            if (result == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
                throw new DeviceOutOfMemoryException("cannot allocate " + size + " bytes of pinned memory for a batch");
            }
            CudaErrors.check(result, "cuMemHostAlloc(" + size + " bytes pinned)");
            if (host != null) {
                cuMemFreeHost(host);
            }
            host = fresh;
            capacity = size;
            view = host.getByteBuffer(0, size).order(ByteOrder.LITTLE_ENDIAN);
        }
        return view.clear().limit((int) bytes);
    }

    /** Queues the copy of the first {@code bytes} bytes to device address {@code dst} on the stream. */
    void copyTo(CUdeviceptr dst, long bytes) {
        CudaErrors.check(cuMemcpyHtoDAsync(dst, host, bytes, stream), "cuMemcpyHtoDAsync(batch, " + bytes + " bytes)");
        CudaErrors.check(cuEventRecord(done, stream), "cuEventRecord(batch staging)");
        pending = true;
    }

    /** Waits for an outstanding copy and frees the pinned memory; call with the device's context current. */
    @Override
    public void close() {
        if (done != null) {
            if (pending) {
                cuEventSynchronize(done);
            }
            cuEventDestroy(done);
            done = null;
        }
        if (host != null) {
            cuMemFreeHost(host);
            host = null;
        }
        capacity = 0;
    }
}
