package io.gpups.worker.data;

/** A click-through-rate training set and the test set it is evaluated on. */
public record CtrSplit(CtrDataset train, CtrDataset test) {

    public CtrSplit {
        if (train == null || test == null) {
            throw new IllegalArgumentException("a split needs both sets, got train " + train + " and test " + test);
        }
    }
}
