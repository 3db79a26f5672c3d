package io.gpups.worker.model;

import java.util.Arrays;

/**
 * A model as named on the command line, before the data fixes its input and class counts:
 * {@code logreg}, or {@code mlp:H1,H2,...} with the hidden layer sizes.
 */
public record ModelSpec(int[] hidden) {

    public ModelSpec {
        hidden = hidden.clone();
    }

    @Override
    public int[] hidden() {
        return hidden.clone();
    }

    public static ModelSpec parse(String text) {
        String s = text == null ? "" : text.trim().toLowerCase();
        if (s.equals("logreg")) {
            return new ModelSpec(new int[0]);
        }
        if (s.startsWith("mlp:") && s.length() > 4) {
            String[] parts = s.substring(4).split(",", -1);
            int[] hidden = new int[parts.length];
            for (int i = 0; i < parts.length; i++) {
                try {
                    hidden[i] = Integer.parseInt(parts[i].trim());
                } catch (NumberFormatException e) {
                    hidden[i] = -1;
                }
                if (hidden[i] <= 0) {
                    throw new IllegalArgumentException("model '" + text + "': hidden size '" + parts[i]
                            + "' is not a positive integer");
                }
            }
            return new ModelSpec(hidden);
        }
        throw new IllegalArgumentException("model '" + text + "': expected logreg or mlp:H1,H2,... (e.g. mlp:256,128)");
    }

    public Model create(int inputs, int classes, long seed) {
        return hidden.length == 0 ? new LogisticRegression(inputs, classes, seed) : new Mlp(inputs, hidden, classes, seed);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModelSpec m && Arrays.equals(hidden, m.hidden);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(hidden);
    }

    @Override
    public String toString() {
        if (hidden.length == 0) {
            return "logreg";
        }
        StringBuilder s = new StringBuilder("mlp:");
        for (int i = 0; i < hidden.length; i++) {
            s.append(i == 0 ? "" : ",").append(hidden[i]);
        }
        return s.toString();
    }
}
