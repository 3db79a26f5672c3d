package io.gpups.worker.data;

import java.util.SplittableRandom;

/**
 * A deterministic stand-in for Fashion-MNIST when the real set is not installed: {@code classes} Gaussian
 * clusters in {@code featureCount} dimensions, clipped to [0, 1].
 *
 * <p>Class c has mean {@code 0.5 + separation * s_c[j]} with {@code s_c[j]} a fixed random sign, and every
 * feature gets independent noise of standard deviation {@code noise}. With the defaults two class means are
 * about 4.7 noise deviations apart, so a linear model learns it well above chance but short of perfect.
 * Every value is a function of the seed alone (our own Box-Muller in {@link StrictMath} over {@link SplittableRandom}), so the
 * same seed gives the same bytes on every JVM.
 */
public record SyntheticClassification(int trainSamples, int testSamples, int featureCount, int classes,
                                      float separation, float noise, long seed) {

    public static final long DEFAULT_SEED = 20240611L;

    public SyntheticClassification {
        if (trainSamples <= 0 || testSamples <= 0) {
            throw new IllegalArgumentException("synthetic set needs > 0 train and test samples, got "
                    + trainSamples + " and " + testSamples);
        }
        if (featureCount <= 0 || classes < 2) {
            throw new IllegalArgumentException("synthetic set needs > 0 features and >= 2 classes, got "
                    + featureCount + " and " + classes);
        }
        if (!(separation > 0) || !(noise > 0)) {
            throw new IllegalArgumentException("synthetic set needs separation and noise > 0, got "
                    + separation + " and " + noise);
        }
    }

    /** Fashion-MNIST's shape: 10 classes of 784 features; 12000 train and 2000 test samples. */
    public static SyntheticClassification fashionMnistShaped(long seed) {
        return new SyntheticClassification(12_000, 2_000, 784, 10, 0.03f, 0.25f, seed);
    }

    public TrainTestSplit generate() {
        SplittableRandom root = new SplittableRandom(seed);
        float[] means = new float[classes * featureCount];
        SplittableRandom meanRandom = root.split();
        for (int i = 0; i < means.length; i++) {
            means[i] = 0.5f + (meanRandom.nextBoolean() ? separation : -separation);
        }
        Dataset train = sample("synthetic/train", trainSamples, means, root.split());
        Dataset test = sample("synthetic/test", testSamples, means, root.split());
        return new TrainTestSplit(train, test);
    }

    private Dataset sample(String name, int n, float[] means, SplittableRandom random) {
        int[] labels = new int[n];
        float[] features = new float[n * featureCount];
        for (int i = 0; i < n; i++) {
            int label = random.nextInt(classes);
            labels[i] = label;
            int row = i * featureCount;
            int mean = label * featureCount;
            for (int j = 0; j < featureCount; j++) {
                float x = means[mean + j] + noise * (float) gaussian(random);
                features[row + j] = Math.min(1f, Math.max(0f, x));
            }
        }
        return new Dataset(name, features, labels, featureCount, classes);
    }

    /** A standard normal draw by Box-Muller, using one of the pair. */
    private static double gaussian(SplittableRandom random) {
        double u1 = Math.max(random.nextDouble(), 0x1.0p-53);
        double u2 = random.nextDouble();
        return StrictMath.sqrt(-2.0 * StrictMath.log(u1)) * StrictMath.cos(2.0 * Math.PI * u2);
    }
}
