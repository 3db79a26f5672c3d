package io.gpups.server;

import io.netty.channel.Channel;

import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * Parked pulls ordered by the value they wait for (a bsp chunk's version, or under ssp the slowest clock),
 * arrival order among equals. When that value moves, {@link #drainReady} hands over every pull it now
 * satisfies, however many far-future pulls were parked before them: the order is by readiness, not arrival.
 * Agent thread only; counted through {@link ParkedPulls}, which owns every queue's pulls.
 */
final class ClockQueue {

    private final TreeMap<Long, ArrayDeque<ParkedPull>> byReadyAt = new TreeMap<>();
    private int size;

    void add(long readyAt, ParkedPull p) {
        byReadyAt.computeIfAbsent(readyAt, k -> new ArrayDeque<>()).addLast(p);
        size++;
    }

    /** Removes and hands to {@code answer}, lowest first, every pull waiting for a value {@code <= reached}. */
    int drainReady(long reached, Consumer<ParkedPull> answer) {
        int n = 0;
        Map.Entry<Long, ArrayDeque<ParkedPull>> first;
        while ((first = byReadyAt.firstEntry()) != null && first.getKey() <= reached) {
            byReadyAt.pollFirstEntry();
            for (ParkedPull p : first.getValue()) {
                size--;
                n++;
                answer.accept(p);
            }
        }
        return n;
    }

    /** Removes the pulls of {@code ch}; returns how many. One pass over the queue. */
    int remove(Channel ch) {
        int removed = 0;
        Iterator<ArrayDeque<ParkedPull>> it = byReadyAt.values().iterator();
        while (it.hasNext()) {
            ArrayDeque<ParkedPull> atClock = it.next();
            int before = atClock.size();
            // removeIf is one pass (an iterator's remove would shift the deque once per pull).
            atClock.removeIf(p -> p.channel() == ch);
            removed += before - atClock.size();
            if (atClock.isEmpty()) {
                it.remove();
            }
        }
        size -= removed;
        return removed;
    }

    /** The lowest value a parked pull waits for; {@link Long#MAX_VALUE} when empty. */
    long firstReadyAt() {
        return byReadyAt.isEmpty() ? Long.MAX_VALUE : byReadyAt.firstKey();
    }

    /** The oldest-ready pull, or null when empty. */
    ParkedPull first() {
        return byReadyAt.isEmpty() ? null : byReadyAt.firstEntry().getValue().peekFirst();
    }

    int size() {
        return size;
    }

    boolean isEmpty() {
        return size == 0;
    }
}
