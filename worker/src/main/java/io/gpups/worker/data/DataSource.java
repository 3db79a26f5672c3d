package io.gpups.worker.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/** Where a job's samples come from: a Fashion-MNIST directory or the synthetic stand-in. */
public sealed interface DataSource {

    TrainTestSplit load() throws IOException;

    /** One line for logs and reports. */
    String describe();

    /** Fashion-MNIST (or MNIST) IDX files in {@code directory}. */
    record IdxDirectory(Path directory) implements DataSource {
        public TrainTestSplit load() throws IOException {
            return FashionMnist.load(directory);
        }

        public String describe() {
            return "fashion-mnist from " + directory;
        }
    }

    /** A generated set; see {@link SyntheticClassification}. */
    record Synthetic(SyntheticClassification parameters) implements DataSource {
        public TrainTestSplit load() {
            return parameters.generate();
        }

        public String describe() {
            return "synthetic (" + parameters.classes() + " classes, " + parameters.featureCount() + " features, "
                    + parameters.trainSamples() + "/" + parameters.testSamples() + " samples, seed "
                    + parameters.seed() + ")";
        }
    }

    /** {@link #resolve(Path, Path, Consumer)} with the Debian package's directory. */
    static DataSource resolve(Path explicitDirectory, Consumer<String> log) {
        return resolve(explicitDirectory, FashionMnist.DEBIAN_PACKAGE_DIR, log);
    }

    /**
     * Picks the data for a {@code --data} value: an explicit directory must hold the four files (the error
     * names the ones it lacks); without one, {@code packageDirectory} when it is complete; else the
     * synthetic set, announced in one line on {@code log}.
     */
    static DataSource resolve(Path explicitDirectory, Path packageDirectory, Consumer<String> log) {
        if (explicitDirectory != null) {
            if (!Files.isDirectory(explicitDirectory)) {
                throw new IllegalArgumentException("--data " + explicitDirectory + ": no such directory");
            }
            List<String> missing = FashionMnist.missingFiles(explicitDirectory);
            if (!missing.isEmpty()) {
                throw new IllegalArgumentException("--data " + explicitDirectory + ": missing "
                        + String.join(", ", missing));
            }
            return new IdxDirectory(explicitDirectory);
        }
        if (FashionMnist.isComplete(packageDirectory)) {
            return new IdxDirectory(packageDirectory);
        }
        Synthetic synthetic = new Synthetic(SyntheticClassification.fashionMnistShaped(SyntheticClassification.DEFAULT_SEED));
        log.accept("data: Fashion-MNIST not found in " + packageDirectory + ", training on "
                + synthetic.describe() + "; for the real set run `" + FashionMnist.INSTALL_HINT + "` or pass --data DIR");
        return synthetic;
    }
}
