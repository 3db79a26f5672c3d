package io.gpups.cuda;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUstream;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;

/**
 * A ring of page-locked (pinned) host buffers through which every host<->device copy of one {@link CudaDevice}
 * goes. A host buffer (a Netty payload, a heap array) is copied into a slot by the CPU and from there to the device
 * by an asynchronous DMA on the device's stream; a copy larger than a slot goes slot by slot, so the CPU fills slot
 * i+1 while the DMA of slot i runs. Each slot carries an event recorded after its DMA; a slot is reused only once
 * its event has completed. So an upload returns as soon as the caller's bytes are in pinned memory: the caller may
 * release its buffer at once, and the device work stays ordered on the stream.
 *
 * <p>Slots are allocated on first use. Used by the device's one thread at a time; not thread-safe.
 */
final class PinnedStaging implements AutoCloseable {

    /** A chunk (4 MiB by default) fits one slot; four slots keep copies and DMAs overlapping. */
    static final int DEFAULT_SLOTS = 4;
    static final long DEFAULT_SLOT_BYTES = 4L << 20;

    private final CUstream stream;
    private final long slotBytes;
    private final Slot[] slots;
    private int next;

    private static final class Slot {
        Pointer host;
        ByteBuffer view;
        CUevent done;
        boolean pending;
    }

    PinnedStaging(CUstream stream, int slotCount, long slotBytes) {
        if (slotCount < 1 || slotBytes < 16 || slotBytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("staging needs >= 1 slot of 16 B .. 2 GiB, got " + slotCount + " x "
                    + slotBytes);
        }
        this.stream = stream;
        this.slotBytes = slotBytes;
        this.slots = new Slot[slotCount];
    }

    /** Copies {@code bytes} bytes from {@code src} at its position (unchanged) to device address {@code dst}. */
    void upload(ByteBuffer src, CUdeviceptr dst, long bytes) {
        ByteBuffer region = src.duplicate();
        for (long done = 0; done < bytes; ) {
            int piece = (int) Math.min(slotBytes, bytes - done);
            Slot slot = acquire();
            ByteBuffer view = slot.view.clear();
            region.limit(region.position() + piece);
            view.put(region);
            region.limit(region.capacity());
            CudaErrors.check(cuMemcpyHtoDAsync(dst.withByteOffset(done), slot.host, piece, stream),
                    "cuMemcpyHtoDAsync(" + piece + " bytes)");
            release(slot);
            done += piece;
        }
    }

    /** Copies {@code count} floats of {@code src[srcOffset..]} to device address {@code dst}. */
    void upload(float[] src, int srcOffset, CUdeviceptr dst, int count) {
        int perSlot = (int) (slotBytes / Float.BYTES);
        for (int done = 0; done < count; ) {
            int piece = Math.min(perSlot, count - done);
            Slot slot = acquire();
            slot.view.clear().asFloatBuffer().put(src, srcOffset + done, piece);
            CudaErrors.check(cuMemcpyHtoDAsync(dst.withByteOffset((long) done * Float.BYTES), slot.host,
                    (long) piece * Float.BYTES, stream), "cuMemcpyHtoDAsync(" + piece + " floats)");
            release(slot);
            done += piece;
        }
    }

    /**
     * Copies {@code bytes} bytes from device address {@code src} into {@code dst} at its position (unchanged); returns
     * when they are there, after everything issued before on the stream.
     */
    void download(CUdeviceptr src, long bytes, ByteBuffer dst) {
        ByteBuffer region = dst.duplicate();
        for (long done = 0; done < bytes; ) {
            int piece = (int) Math.min(slotBytes, bytes - done);
            Slot slot = fetch(src.withByteOffset(done), piece);
            region.put(slot.view.clear().limit(piece));
            done += piece;
        }
    }

    /** Copies {@code count} floats from device address {@code src} into {@code dst[dstOffset..]}. */
    void download(CUdeviceptr src, float[] dst, int dstOffset, int count) {
        int perSlot = (int) (slotBytes / Float.BYTES);
        for (int done = 0; done < count; ) {
            int piece = Math.min(perSlot, count - done);
            Slot slot = fetch(src.withByteOffset((long) done * Float.BYTES), (long) piece * Float.BYTES);
            slot.view.clear().asFloatBuffer().get(dst, dstOffset + done, piece);
            done += piece;
        }
    }

    /** One slot filled from the device and waited for. */
    private Slot fetch(CUdeviceptr src, long bytes) {
        Slot slot = acquire();
        CudaErrors.check(cuMemcpyDtoHAsync(slot.host, src, bytes, stream), "cuMemcpyDtoHAsync(" + bytes + " bytes)");
        release(slot);
        CudaErrors.check(cuEventSynchronize(slot.done), "cuEventSynchronize(staging)");
        slot.pending = false;
        return slot;
    }

    /** The next slot of the ring, once its previous copy has completed; allocated on first use. */
    private Slot acquire() {
        int index = next;
        next = (next + 1) % slots.length;
        Slot slot = slots[index];
        if (slot == null) {
            slot = new Slot();
            Pointer host = new Pointer();
            CudaErrors.check(cuMemHostAlloc(host, slotBytes, 0), "cuMemHostAlloc(" + slotBytes + " bytes pinned)");
            slot.host = host;
            slot.view = host.getByteBuffer(0, slotBytes).order(ByteOrder.LITTLE_ENDIAN);
            CUevent event = new CUevent();
            int r = cuEventCreate(event, CUevent_flags.CU_EVENT_DISABLE_TIMING);
            if (r != 0) {
                cuMemFreeHost(host);
                CudaErrors.check(r, "cuEventCreate");
            }
            slot.done = event;
            slots[index] = slot;
        } else if (slot.pending) {
            CudaErrors.check(cuEventSynchronize(slot.done), "cuEventSynchronize(staging)");
            slot.pending = false;
        }
        return slot;
    }

    private void release(Slot slot) {
        CudaErrors.check(cuEventRecord(slot.done, stream), "cuEventRecord(staging)");
        slot.pending = true;
    }

    /** Waits for outstanding copies and frees the pinned memory; call with the device's context current. */
    @Override
    public void close() {
        for (int i = 0; i < slots.length; i++) {
            Slot slot = slots[i];
            if (slot != null) {
                slots[i] = null;
                if (slot.pending) {
                    cuEventSynchronize(slot.done);
                }
                cuEventDestroy(slot.done);
                cuMemFreeHost(slot.host);
            }
        }
    }
}
