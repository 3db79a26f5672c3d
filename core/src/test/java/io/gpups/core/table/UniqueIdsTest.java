package io.gpups.core.table;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class UniqueIdsTest {

    private static ByteBuffer ids(long... values) {
        ByteBuffer b = ByteBuffer.allocate(8 * values.length + 3).order(ByteOrder.LITTLE_ENDIAN);
        b.position(3);
        for (long v : values) {
            b.putLong(v);
        }
        return b.position(3);
    }

    @Test
    void namesTheFirstRepeatedIdWithBothPositions() {
        UniqueIds unique = new UniqueIds();
        assertNull(unique.check(ids(5, 6, 7, Long.MIN_VALUE, 0), 5));
        assertEquals("id 7 appears twice (first at 1, again at 3); send each id once per request, with its gradients summed",
                unique.check(ids(1, 7, 9, 7, 9), 5));
        assertEquals("id 18446744073709551614 appears twice (first at 0, again at 1); send each id once per request,"
                + " with its gradients summed", unique.check(ids(-2, -2), 2));
    }

    @Test
    void refusesTheFreeSlotKey() {
        assertEquals("id 2 is 2^64 - 1 (0xffffffffffffffff), the key of a free slot, which no row can have",
                new UniqueIds().check(ids(1, 2, -1), 3));
    }

    @Test
    void reusesItsSetAcrossRequestsOfEverySize() {
        UniqueIds unique = new UniqueIds();
        long[] many = new long[5000];
        for (int i = 0; i < many.length; i++) {
            many[i] = i * 1_000_003L;
        }
        assertNull(unique.check(ids(many), many.length));
        assertNull(unique.check(ids(3, 4), 2));       // nothing left over from the bigger request
        many[4999] = many[17];
        assertEquals("id " + many[17] + " appears twice (first at 17, again at 4999); send each id once per request,"
                + " with its gradients summed", unique.check(ids(many), many.length));
        assertNull(unique.check(ids(many), 4999));    // only the first count ids are read
    }
}
