package io.gpups.core.protocol;

import io.netty.util.internal.PlatformDependent;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The direct memory that the frame decoders of one server may hold for frames being received, shared by all of
 * its connections. A peer that announces a large frame and sends it slowly makes its decoder hold a buffer for it;
 * without a shared bound, many such peers take the process's direct memory between them (an out-of-memory error
 * that closes everyone's connections). With it, a decoder that cannot reserve what it needs closes its own
 * connection with a {@link FrameMemoryBudgetException}, and everyone else is served as before.
 *
 * <p>What counts: every large buffer ({@code >=} {@link FrameDecoder.FrameSizedCumulator#SPARE_MIN_BYTES}) a decoder
 * allocates to receive frames, from allocation until the decoder drops it (an idle spare evicted, or the
 * connection closed). Reads smaller than that come from the channel's pooled allocator and are not counted.
 * Thread-safe: event loops reserve and release concurrently.
 */
public final class FrameMemoryBudget {

    private final long limitBytes;
    private final AtomicLong usedBytes = new AtomicLong();
    private final AtomicLong refusals = new AtomicLong();

    private FrameMemoryBudget(long limitBytes) {
        this.limitBytes = limitBytes;
    }

    /** A budget of {@code limitBytes}; it must hold at least one frame of {@code maxFrameBytes} and its slack. */
    public static FrameMemoryBudget of(long limitBytes, int maxFrameBytes) {
        long least = (long) maxFrameBytes + FrameDecoder.FrameSizedCumulator.READ_SLACK_BYTES
                + FrameDecoder.FrameSizedCumulator.SPARE_MIN_BYTES;
        if (limitBytes < least) {
            throw new IllegalArgumentException("frame memory budget must be >= " + least
                    + " bytes (one frame of the max frame size " + maxFrameBytes + " and its read buffers), got " + limitBytes);
        }
        return new FrameMemoryBudget(limitBytes);
    }

    /** No bound (a client's decoder, tests). */
    public static FrameMemoryBudget unlimited() {
        return new FrameMemoryBudget(Long.MAX_VALUE);
    }

    /**
     * The default for a server: half of the JVM's direct memory limit (the rest is for read buffers, answers and
     * the pooled allocator), and never less than {@code maxFrameBytes} needs.
     */
    public static long defaultBytes(int maxFrameBytes) {
        long least = (long) maxFrameBytes + FrameDecoder.FrameSizedCumulator.READ_SLACK_BYTES
                + FrameDecoder.FrameSizedCumulator.SPARE_MIN_BYTES;
        return Math.max(least, PlatformDependent.maxDirectMemory() / 2);
    }

    /** Takes {@code bytes} from the budget if they fit; false (and nothing taken) if not. */
    boolean tryReserve(long bytes) {
        while (true) {
            long used = usedBytes.get();
            if (used + bytes > limitBytes) {
                return false;
            }
            if (usedBytes.compareAndSet(used, used + bytes)) {
                return true;
            }
        }
    }

    void release(long bytes) {
        usedBytes.addAndGet(-bytes);
    }

    /** Counts a connection closed because its decoder could not reserve memory. */
    void refused() {
        refusals.incrementAndGet();
    }

    /** More than half the budget is in use: decoders grow buffers only to what has arrived, not ahead of it. */
    boolean underPressure() {
        return usedBytes.get() > limitBytes / 2;
    }

    public long usedBytes() {
        return usedBytes.get();
    }

    public long limitBytes() {
        return limitBytes;
    }

    /** Connections closed so far because the budget was spent. */
    public long refusals() {
        return refusals.get();
    }

    @Override
    public String toString() {
        return usedBytes.get() + " of " + (limitBytes == Long.MAX_VALUE ? "unlimited" : limitBytes + " bytes");
    }
}
