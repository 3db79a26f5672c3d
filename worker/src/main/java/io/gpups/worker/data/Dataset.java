package io.gpups.worker.data;

/**
 * Labelled samples held in host memory: {@code features[i * featureCount + j]} is feature j of sample i,
 * scaled to [0, 1]; {@code labels[i]} is its class in [0, classes).
 */
public record Dataset(String name, float[] features, int[] labels, int featureCount, int classes) {

    public Dataset {
        if (featureCount <= 0) {
            throw new IllegalArgumentException(name + ": feature count must be > 0, got " + featureCount);
        }
        if (classes < 2) {
            throw new IllegalArgumentException(name + ": needs at least 2 classes, got " + classes);
        }
        if ((long) labels.length * featureCount != features.length) {
            throw new IllegalArgumentException(name + ": " + labels.length + " labels x " + featureCount
                    + " features need " + (long) labels.length * featureCount + " values, got " + features.length);
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= classes) {
                throw new IllegalArgumentException(name + ": label " + labels[i] + " of sample " + i
                        + " is outside [0, " + classes + ")");
            }
        }
    }

    public int samples() {
        return labels.length;
    }

    /** The same samples with a larger class count, for a split where one side lacks the highest class. */
    public Dataset withClasses(int newClasses) {
        return newClasses == classes ? this : new Dataset(name, features, labels, featureCount, newClasses);
    }

    /**
     * Builds a data set from an images file and a labels file: every pixel byte b becomes b / 255, and the
     * class count is one more than the largest label (at least 2).
     */
    public static Dataset fromIdx(String name, IdxArray images, IdxArray labels, String imagesSource, String labelsSource)
            throws IdxFormatException {
        if (labels.dimensions().length != 1) {
            throw new IdxFormatException(labelsSource + ": a labels file must have 1 dimension, got "
                    + labels.dimensions().length);
        }
        if (images.dimensions().length < 2) {
            throw new IdxFormatException(imagesSource + ": an images file must have at least 2 dimensions, got "
                    + images.dimensions().length);
        }
        if (images.items() != labels.items()) {
            throw new IdxFormatException(imagesSource + " holds " + images.items() + " images but " + labelsSource
                    + " holds " + labels.items() + " labels");
        }
        int n = labels.items();
        int[] classOf = new int[n];
        int maxLabel = 0;
        for (int i = 0; i < n; i++) {
            classOf[i] = labels.unsigned(i);
            maxLabel = Math.max(maxLabel, classOf[i]);
        }
        float[] features = new float[n * images.itemSize()];
        for (int i = 0; i < features.length; i++) {
            features[i] = images.unsigned(i) * (1f / 255f);
        }
        return new Dataset(name, features, classOf, images.itemSize(), Math.max(2, maxLabel + 1));
    }
}
