package io.gpups.worker.model;

/** Multinomial logistic regression: one dense layer and softmax cross-entropy. */
public final class LogisticRegression extends DenseNetwork {

    public LogisticRegression(int inputs, int classes, long seed) {
        super(new int[] {inputs, classes}, seed);
    }

    @Override
    public String name() {
        return "logreg";
    }
}
