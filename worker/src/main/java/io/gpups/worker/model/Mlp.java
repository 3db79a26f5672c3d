package io.gpups.worker.model;

import java.util.Arrays;
import java.util.stream.Collectors;

/** A multi-layer perceptron: dense layers of the given hidden sizes with ReLU, then a dense output layer. */
public final class Mlp extends DenseNetwork {

    private final int[] hidden;

    public Mlp(int inputs, int[] hidden, int classes, long seed) {
        super(widths(inputs, hidden, classes), seed);
        this.hidden = hidden.clone();
    }

    private static int[] widths(int inputs, int[] hidden, int classes) {
        if (hidden.length == 0) {
            throw new IllegalArgumentException("an mlp needs at least one hidden layer; use logreg for none");
        }
        int[] widths = new int[hidden.length + 2];
        widths[0] = inputs;
        System.arraycopy(hidden, 0, widths, 1, hidden.length);
        widths[widths.length - 1] = classes;
        return widths;
    }

    @Override
    public String name() {
        return "mlp:" + Arrays.stream(hidden).mapToObj(Integer::toString).collect(Collectors.joining(","));
    }
}
