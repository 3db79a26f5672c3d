package io.gpups.worker.data;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CtrDatasetTest {

    @Test
    void idsOfDifferentFieldsAndOfEmptyFieldsNeverCollide() {
        Set<Long> ids = new HashSet<>();
        long[] values = {0, 1, 0xFFFF_FFFFL, 0x1234_5678L};
        for (int f = 0; f < CtrDataset.FIELDS; f++) {
            for (long v : values) {
                assertTrue(ids.add(CtrDataset.idOf(f, v)), "field " + f + " value " + v);
                assertEquals(f, CtrDataset.fieldOf(CtrDataset.idOf(f, v)));
            }
            assertTrue(ids.add(CtrDataset.idOfMissing(f)), "missing of field " + f);
            assertEquals(f, CtrDataset.fieldOf(CtrDataset.idOfMissing(f)));
        }
        assertEquals((3L << 33) | 0xABL, CtrDataset.idOf(3, 0xAB));
        assertEquals((3L << 33) | (1L << 32), CtrDataset.idOfMissing(3));
    }

    @Test
    void idOfRefusesAFieldOrValueOutOfRange() {
        assertEquals("categorical field 26 is outside [0, 26)",
                assertThrows(IllegalArgumentException.class, () -> CtrDataset.idOf(26, 1)).getMessage());
        assertEquals("categorical value 4294967296 of field 2 is outside [0, 2^32)",
                assertThrows(IllegalArgumentException.class, () -> CtrDataset.idOf(2, 1L << 32)).getMessage());
        assertEquals("categorical field -1 is outside [0, 26)",
                assertThrows(IllegalArgumentException.class, () -> CtrDataset.idOfMissing(-1)).getMessage());
    }

    @Test
    void transformIsSignedLog1p() {
        assertEquals(0f, CtrDataset.transform(0));
        assertEquals((float) Math.log1p(9), CtrDataset.transform(9), 1e-7f);
        assertEquals((float) -Math.log1p(2), CtrDataset.transform(-2), 1e-7f);
    }

    private static CtrDataset rows(float... labels) {
        return new CtrDataset(labels, new float[labels.length * CtrDataset.DENSE], new long[labels.length * CtrDataset.FIELDS]);
    }

    @Test
    void constructorNamesWhatIsWrong() {
        assertEquals("label of row 1 is 0.5, expected 0 or 1",
                assertThrows(IllegalArgumentException.class, () -> rows(1, 0.5f)).getMessage());
        assertEquals("2 rows need 26 dense values (13 per row), got 13", assertThrows(IllegalArgumentException.class,
                () -> new CtrDataset(new float[2], new float[13], new long[52])).getMessage());
        assertEquals("2 rows need 52 ids (26 per row), got 51", assertThrows(IllegalArgumentException.class,
                () -> new CtrDataset(new float[2], new float[26], new long[51])).getMessage());
        float[] dense = new float[CtrDataset.DENSE];
        dense[4] = Float.NaN;
        assertEquals("dense feature 4 of row 0 is NaN, expected a finite value", assertThrows(IllegalArgumentException.class,
                () -> new CtrDataset(new float[1], dense, new long[CtrDataset.FIELDS])).getMessage());
    }

    @Test
    void sliceCopiesTheRowsAndCountsPositives() {
        CtrDataset d = rows(1, 0, 1, 1);
        d.ids()[2 * CtrDataset.FIELDS + 5] = 77;
        d.dense()[2 * CtrDataset.DENSE + 3] = 2.5f;
        CtrDataset s = d.slice(1, 3);
        assertEquals(2, s.rows());
        assertEquals(1, s.positives());
        assertEquals(3, d.positives());
        assertEquals(77, s.id(1, 5));
        assertEquals(2.5f, s.dense(1, 3));
        assertEquals(d.slice(1, 3), s);
        assertEquals("slice [3, 5) is not within [0, 4)",
                assertThrows(IllegalArgumentException.class, () -> d.slice(3, 5)).getMessage());
    }
}
