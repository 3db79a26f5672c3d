package io.gpups.worker.data;

import java.util.Arrays;

/**
 * Click-through-rate rows in the Criteo display-ads layout, held in host memory as three flat arrays:
 * <ul>
 *   <li>{@code labels[i]}: 1 when row i was clicked, else 0;</li>
 *   <li>{@code dense[i * DENSE + j]}: integer feature j of row i as {@link #transform(long)} makes it,
 *       0 for an empty field;</li>
 *   <li>{@code ids[i * FIELDS + f]}: the categorical value of field f of row i as the field-tagged id
 *       {@link #idOf(int, long)}, or {@link #idOfMissing(int)} for an empty field.</li>
 * </ul>
 * The arrays are shared, not copied: the record's accessors hand out the arrays it was built with, so a trainer
 * reads batches in place ({@link #slice} copies when a separate set is wanted).
 *
 * <p>An id is a 64-bit key of an embedding table:
 * <pre>
 *  63          33 32 31                              0
 * +--------------+--+--------------------------------+
 * |    field     |m |  value (32 bits, the hex text) |
 * +--------------+--+--------------------------------+
 * </pre>
 * {@code m} is 1 (and the value 0) for an empty field, so "empty" is one id per field, and ids of different
 * fields never collide.
 */
public record CtrDataset(float[] labels, float[] dense, long[] ids) {

    /** Integer features per row (Criteo's I1..I13). */
    public static final int DENSE = 13;
    /** Categorical fields per row (Criteo's C1..C26). */
    public static final int FIELDS = 26;
    /** The most rows one data set holds: {@code rows * FIELDS} must index one Java array. */
    public static final int MAX_ROWS = (Integer.MAX_VALUE - 8) / FIELDS;

    private static final int FIELD_SHIFT = 33;
    private static final long MISSING_BIT = 1L << 32;
    private static final long MAX_VALUE = 0xFFFF_FFFFL;

    public CtrDataset {
        int n = labels.length;
        if (n > MAX_ROWS) {
            throw new IllegalArgumentException(n + " rows are more than one data set holds (" + MAX_ROWS + ")");
        }
        if (dense.length != n * DENSE) {
            throw new IllegalArgumentException(n + " rows need " + n * DENSE + " dense values (" + DENSE
                    + " per row), got " + dense.length);
        }
        if (ids.length != n * FIELDS) {
            throw new IllegalArgumentException(n + " rows need " + n * FIELDS + " ids (" + FIELDS
                    + " per row), got " + ids.length);
        }
        for (int i = 0; i < n; i++) {
            if (labels[i] != 0f && labels[i] != 1f) {
                throw new IllegalArgumentException("label of row " + i + " is " + labels[i] + ", expected 0 or 1");
            }
        }
        for (int k = 0; k < dense.length; k++) {
            if (!Float.isFinite(dense[k])) {
                throw new IllegalArgumentException("dense feature " + k % DENSE + " of row " + k / DENSE + " is "
                        + dense[k] + ", expected a finite value");
            }
        }
    }

    /**
     * The id of categorical {@code field} (0-based, {@code [0, FIELDS)}) holding {@code value} (the field's hex
     * text read as an unsigned 32-bit number): {@code (field << 33) | value}.
     */
    public static long idOf(int field, long value) {
        checkField(field);
        if (value < 0 || value > MAX_VALUE) {
            throw new IllegalArgumentException("categorical value " + value + " of field " + field
                    + " is outside [0, 2^32)");
        }
        return ((long) field << FIELD_SHIFT) | value;
    }

    /** The id of an empty categorical {@code field}: {@code (field << 33) | (1 << 32)}, distinct from every value's. */
    public static long idOfMissing(int field) {
        checkField(field);
        return ((long) field << FIELD_SHIFT) | MISSING_BIT;
    }

    /** The field an id of {@link #idOf} or {@link #idOfMissing} belongs to. */
    public static int fieldOf(long id) {
        return (int) (id >>> FIELD_SHIFT);
    }

    /** What an integer feature x becomes: {@code sign(x) * log1p(|x|)}, in {@link StrictMath} so every JVM agrees. */
    public static float transform(long x) {
        double magnitude = StrictMath.log1p(Math.abs((double) x));
        return (float) (x < 0 ? -magnitude : magnitude);
    }

    public int rows() {
        return labels.length;
    }

    /** The label of row {@code row}, 0 or 1. */
    public float label(int row) {
        return labels[row];
    }

    /** Dense feature {@code j} of row {@code row}. */
    public float dense(int row, int j) {
        return dense[row * DENSE + j];
    }

    /** The id of categorical field {@code field} of row {@code row}. */
    public long id(int row, int field) {
        return ids[row * FIELDS + field];
    }

    /** Rows labelled 1. */
    public int positives() {
        int count = 0;
        for (float label : labels) {
            if (label == 1f) {
                count++;
            }
        }
        return count;
    }

    /** A copy of rows {@code [from, to)}. */
    public CtrDataset slice(int from, int to) {
        if (from < 0 || to > rows() || from > to) {
            throw new IllegalArgumentException("slice [" + from + ", " + to + ") is not within [0, " + rows() + ")");
        }
        return new CtrDataset(Arrays.copyOfRange(labels, from, to),
                Arrays.copyOfRange(dense, from * DENSE, to * DENSE),
                Arrays.copyOfRange(ids, from * FIELDS, to * FIELDS));
    }

    /** Equal when the three arrays hold the same values (a record of arrays would compare references). */
    @Override
    public boolean equals(Object o) {
        return o instanceof CtrDataset other && Arrays.equals(labels, other.labels) && Arrays.equals(dense, other.dense)
                && Arrays.equals(ids, other.ids);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(labels) + Arrays.hashCode(dense)) + Arrays.hashCode(ids);
    }

    @Override
    public String toString() {
        return "CtrDataset[rows=" + rows() + ", positives=" + positives() + "]";
    }

    private static void checkField(int field) {
        if (field < 0 || field >= FIELDS) {
            throw new IllegalArgumentException("categorical field " + field + " is outside [0, " + FIELDS + ")");
        }
    }
}
