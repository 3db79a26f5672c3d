package io.gpups.worker.data;

/** A sparse training set and the test set it is evaluated on; {@link #classes} counts the labels of both. */
public record SparseSplit(SparseDataset train, SparseDataset test) {

    public SparseSplit {
        if (train == null || test == null) {
            throw new IllegalArgumentException("a split needs both sets, got train " + train + " and test " + test);
        }
    }

    /** The largest label of either set plus one, at least 2 (a softmax over one class learns nothing). */
    public int classes() {
        return Math.max(2, Math.max(train.classes(), test.classes()));
    }
}
