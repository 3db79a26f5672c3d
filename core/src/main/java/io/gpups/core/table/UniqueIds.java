package io.gpups.core.table;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Checks that the ids of one request are unique and storable, in one pass with an open-addressing set whose storage
 * is reused from request to request. One thread at a time.
 */
public final class UniqueIds {

    private long[] set = new long[16];

    /**
     * The first problem with {@code count} u64 ids at {@code ids}' position (little-endian, position unchanged), as a
     * message naming the id and its positions, or null when they are unique and none is {@link RowTable#EMPTY_KEY}.
     */
    public String check(ByteBuffer ids, int count) {
        ByteBuffer in = ids.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int base = in.position();
        int capacity = Integer.highestOneBit(Math.max(16, count * 2 - 1)) << 1;
        if (set.length < capacity) {
            set = new long[capacity];
        }
        int mask = capacity - 1;
        java.util.Arrays.fill(set, 0, capacity, RowTable.EMPTY_KEY);
        for (int i = 0; i < count; i++) {
            long id = in.getLong(base + 8 * i);
            if (id == RowTable.EMPTY_KEY) {
                return "id " + i + " is 2^64 - 1 (0xffffffffffffffff), the key of a free slot, which no row can have";
            }
            int at = (int) RowIds.mix(id) & mask;
            while (set[at] != RowTable.EMPTY_KEY) {
                if (set[at] == id) {
                    return "id " + Long.toUnsignedString(id) + " appears twice (first at " + firstIndex(in, base, id)
                            + ", again at " + i + "); send each id once per request, with its gradients summed";
                }
                at = (at + 1) & mask;
            }
            set[at] = id;
        }
        return null;
    }

    private static int firstIndex(ByteBuffer in, int base, long id) {
        for (int i = 0; ; i++) {
            if (in.getLong(base + 8 * i) == id) {
                return i;
            }
        }
    }
}
