package io.gpups.server;

import io.netty.channel.Channel;

import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.IntPredicate;

/**
 * Which connection holds each worker rank: one live connection per rank, so that no second connection can
 * push as a worker that is already there (a bsp gradient counted for a rank is that rank's own). A rank is
 * free again once its connection has closed (worker restart, idle timeout) or the rank has been silent past
 * the worker timeout; a HELLO that takes over a timed-out rank closes the old connection.
 *
 * <p>Claimed and released on the event loops, which may be several: the holders are an atomic array.
 */
final class RankClaims {

    private final AtomicReferenceArray<Channel> holders;
    /** True for a rank silent past the worker timeout (its holder may be taken over even while open). */
    private final IntPredicate timedOut;

    RankClaims(int workers, IntPredicate timedOut) {
        this.holders = new AtomicReferenceArray<>(workers);
        this.timedOut = timedOut;
    }

    /**
     * Claims {@code rank} (0..workers-1) for {@code ch}. Returns null when {@code ch} holds it now, or the live
     * connection that holds it and keeps it.
     */
    Channel claim(int rank, Channel ch) {
        for (;;) {
            Channel holder = holders.get(rank);
            if (holder == ch) {
                return null;
            }
            boolean free = holder == null || !holder.isActive() || timedOut.test(rank);
            if (!free) {
                return holder;
            }
            if (holders.compareAndSet(rank, holder, ch)) {
                if (holder != null && holder.isActive()) {
                    holder.close();
                }
                return null;
            }
        }
    }

    /** Frees {@code rank} if {@code ch} holds it (a closed connection). */
    void release(int rank, Channel ch) {
        if (rank >= 0 && rank < holders.length()) {
            holders.compareAndSet(rank, ch, null);
        }
    }

    /** The connection holding {@code rank}, or null. */
    Channel holder(int rank) {
        return holders.get(rank);
    }
}
