package io.gpups.worker.data;

/** A training set and the test set it is evaluated on; both have the same feature and class counts. */
public record TrainTestSplit(Dataset train, Dataset test) {

    public TrainTestSplit {
        if (train.featureCount() != test.featureCount() || train.classes() != test.classes()) {
            throw new IllegalArgumentException("train set " + train.name() + " has " + train.featureCount()
                    + " features and " + train.classes() + " classes but test set " + test.name() + " has "
                    + test.featureCount() + " and " + test.classes());
        }
    }

    public int featureCount() {
        return train.featureCount();
    }

    public int classes() {
        return train.classes();
    }
}
