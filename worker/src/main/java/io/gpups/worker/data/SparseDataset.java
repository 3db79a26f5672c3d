package io.gpups.worker.data;

import java.util.Arrays;

/**
 * Labelled sparse samples in the compressed-sparse-row layout, held in host memory as four flat arrays:
 * <ul>
 *   <li>{@code labels[i]}: the class of sample i, {@code >= 0};</li>
 *   <li>{@code offsets}: n + 1 entries; sample i's features are positions {@code [offsets[i], offsets[i + 1])};</li>
 *   <li>{@code ids[k]}: the feature's 64-bit id (a row of an embedding table);</li>
 *   <li>{@code values[k]}: its weight, finite and {@code > 0}.</li>
 * </ul>
 * Every sample has at least one feature. The arrays are shared, not copied.
 */
public record SparseDataset(int[] labels, int[] offsets, long[] ids, float[] values) {

    public SparseDataset {
        int n = labels.length;
        if (offsets.length != n + 1 || offsets[0] != 0) {
            throw new IllegalArgumentException(n + " samples need " + (n + 1) + " offsets starting at 0, got "
                    + offsets.length);
        }
        if (ids.length != values.length || offsets[n] != ids.length) {
            throw new IllegalArgumentException("the last offset " + offsets[n] + " must equal the ids (" + ids.length
                    + ") and the values (" + values.length + ")");
        }
        for (int i = 0; i < n; i++) {
            if (labels[i] < 0) {
                throw new IllegalArgumentException("label of sample " + i + " is " + labels[i] + ", expected >= 0");
            }
            if (offsets[i + 1] <= offsets[i]) {
                throw new IllegalArgumentException("sample " + i + " has no features (offsets " + offsets[i] + ", "
                        + offsets[i + 1] + ")");
            }
        }
        for (int k = 0; k < values.length; k++) {
            if (!(values[k] > 0) || Float.isInfinite(values[k])) {
                throw new IllegalArgumentException("value " + k + " is " + values[k] + ", expected a finite value > 0");
            }
        }
    }

    public int samples() {
        return labels.length;
    }

    /** The number of features of sample {@code i}. */
    public int features(int i) {
        return offsets[i + 1] - offsets[i];
    }

    /** The largest label plus one; 0 for no samples. */
    public int classes() {
        int max = -1;
        for (int label : labels) {
            max = Math.max(max, label);
        }
        return max + 1;
    }

    /** Equal when the four arrays hold the same values. */
    @Override
    public boolean equals(Object o) {
        return o instanceof SparseDataset other && Arrays.equals(labels, other.labels)
                && Arrays.equals(offsets, other.offsets) && Arrays.equals(ids, other.ids)
                && Arrays.equals(values, other.values);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * (31 * Arrays.hashCode(labels) + Arrays.hashCode(offsets)) + Arrays.hashCode(ids))
                + Arrays.hashCode(values);
    }

    @Override
    public String toString() {
        return "SparseDataset[samples=" + samples() + ", features=" + ids.length + ", classes=" + classes() + "]";
    }
}
