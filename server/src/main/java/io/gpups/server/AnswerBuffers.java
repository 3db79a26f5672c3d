package io.gpups.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;

import java.util.ArrayList;
import java.util.List;

/**
 * Buffers for the shard's large answers (pulled parameters), reused once the socket has sent them. Netty's pools do
 * not hold buffers of a chunk's size, so each such answer was a fresh direct buffer: the JDK zeroes it and the kernel
 * faults its pages in, which cost more than copying the parameters into it. This keeps each large buffer it made
 * and hands it out again when no answer still holds it (its reference count is back to this class's own), up to
 * {@link #budgetBytes} in all; beyond that, answers get buffers of their own as before.
 *
 * <p>Agent thread only (the event loops release the answers; reference counts are atomic).
 */
final class AnswerBuffers {

    /** Answers smaller than this come from the channel's allocator, whose pools serve them well. */
    static final int MIN_BYTES = 1 << 20;
    /** Bytes of buffers kept by default: a few workers' pulls of 4 MiB chunks in flight. */
    static final long DEFAULT_BUDGET_BYTES = 128L << 20;

    private final long budgetBytes;
    private final List<ByteBuf> kept = new ArrayList<>();
    private long keptBytes;

    AnswerBuffers() {
        this(DEFAULT_BUDGET_BYTES);
    }

    AnswerBuffers(long budgetBytes) {
        this.budgetBytes = budgetBytes;
    }

    /**
     * An empty buffer of {@code bytes} capacity or a little more (at most twice), to be sent once and released by
     * whoever sends it.
     */
    ByteBuf take(ByteBufAllocator alloc, int bytes) {
        if (bytes < MIN_BYTES) {
            return alloc.directBuffer(bytes);
        }
        for (ByteBuf b : kept) {
            if (b.refCnt() == 1 && b.capacity() >= bytes && b.capacity() <= 2L * bytes) {
                return b.retainedSlice(0, bytes).clear();
            }
        }
        evictIdle(budgetBytes - bytes);
        if (keptBytes + bytes > budgetBytes) {
            return alloc.directBuffer(bytes);
        }
        ByteBuf fresh = UnpooledByteBufAllocator.DEFAULT.directBuffer(bytes, bytes);
        kept.add(fresh);
        keptBytes += bytes;
        return fresh.retainedSlice(0, bytes).clear();
    }

    /** Drops idle buffers until the kept ones sum to at most {@code keepBytes}, or none is idle. */
    private void evictIdle(long keepBytes) {
        for (int i = kept.size() - 1; i >= 0 && keptBytes > keepBytes; i--) {
            ByteBuf b = kept.get(i);
            if (b.refCnt() == 1) {
                kept.remove(i);
                keptBytes -= b.capacity();
                b.release();
            }
        }
    }

    /** Bytes of buffers kept now, idle or sent. */
    long keptBytes() {
        return keptBytes;
    }

    /** Gives up this class's references; answers still being sent free theirs when the socket is done. */
    void close() {
        for (ByteBuf b : kept) {
            b.release();
        }
        kept.clear();
        keptBytes = 0;
    }
}
