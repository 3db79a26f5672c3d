package io.gpups.worker.data;

import java.util.Arrays;

/**
 * The contents of an unsigned-byte IDX file: its dimensions and its values in row-major order.
 * Dimension 0 counts the items (images or labels); the rest give the shape of one item.
 */
public record IdxArray(int[] dimensions, byte[] values) {

    public IdxArray {
        dimensions = dimensions.clone();
    }

    @Override
    public int[] dimensions() {
        return dimensions.clone();
    }

    /** Number of items: dimension 0. */
    public int items() {
        return dimensions[0];
    }

    /** Values per item: the product of dimensions 1..n (1 for a one-dimensional file). */
    public int itemSize() {
        int size = 1;
        for (int i = 1; i < dimensions.length; i++) {
            size *= dimensions[i];
        }
        return size;
    }

    /** The value at flat index {@code i}, as the unsigned byte it is (0..255). */
    public int unsigned(int i) {
        return values[i] & 0xFF;
    }

    @Override
    public String toString() {
        return "IdxArray" + Arrays.toString(dimensions);
    }
}
