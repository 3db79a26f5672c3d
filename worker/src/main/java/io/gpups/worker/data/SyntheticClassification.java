package io.gpups.worker.data;

import java.util.SplittableRandom;

/**
 * A deterministic stand-in for Fashion-MNIST when the real set is not installed: {@code classes} Gaussian
 * clusters in {@code featureCount} dimensions, clipped to [0, 1], with some labels replaced at random.
 *
 * <p>Class c has mean {@code 0.5 + separation * s_c[j]} with {@code s_c[j]} a fixed random sign, and every
 * feature gets independent noise of standard deviation {@code noise}. Then, with probability
 * {@code labelNoise}, the sample's label is redrawn uniformly. With the defaults the clusters themselves are
 * far apart (a linear model separates them within an epoch or two), and the label noise caps the best
 * possible accuracy near {@code 1 - labelNoise * (classes - 1) / classes} = 91%: well above chance, never
 * perfect.
 * Every value is a function of the seed alone (our own Box-Muller in {@link StrictMath} over {@link SplittableRandom}), so the
 * same seed gives the same bytes on every JVM.
 */
public record SyntheticClassification(int trainSamples, int testSamples, int featureCount, int classes,
                                      float separation, float noise, float labelNoise,
                                      long seed) {

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
        if (!(labelNoise >= 0 && labelNoise <= 1)) {
            throw new IllegalArgumentException("synthetic label noise must be in [0, 1], got " + labelNoise);
        }
        if (!(separation > 0) || !(noise > 0)) {
            throw new IllegalArgumentException("synthetic set needs separation and noise > 0, got "
                    + separation + " and " + noise);
        }
    }

    /** Fashion-MNIST's shape: 10 classes of 784 features; 12000 train and 2000 test samples; 10% label noise. */
    public static SyntheticClassification fashionMnistShaped(long seed) {
        return new SyntheticClassification(12_000, 2_000, 784, 10, 0.1f, 0.35f, 0.1f, seed);
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
            int row = i * featureCount;
            int mean = label * featureCount;
            for (int j = 0; j < featureCount; j++) {
                float x = means[mean + j] + noise * (float) gaussian(random);
                features[row + j] = Math.min(1f, Math.max(0f, x));
            }
            labels[i] = random.nextDouble() < labelNoise ? random.nextInt(classes) : label;
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
