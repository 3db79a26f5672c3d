package io.gpups.worker.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Fashion-MNIST (or MNIST, which uses the same file names) in a directory: the four IDX files, each
 * either gzipped ({@code .gz}) or plain. Debian's {@code dataset-fashion-mnist} package installs them in
 * {@link #DEBIAN_PACKAGE_DIR}.
 */
public final class FashionMnist {

    public static final Path DEBIAN_PACKAGE_DIR = Path.of("/usr/share/datasets/fashion-mnist");
    public static final String INSTALL_HINT = "apt-get install dataset-fashion-mnist";

    static final String TRAIN_IMAGES = "train-images-idx3-ubyte";
    static final String TRAIN_LABELS = "train-labels-idx1-ubyte";
    static final String TEST_IMAGES = "t10k-images-idx3-ubyte";
    static final String TEST_LABELS = "t10k-labels-idx1-ubyte";
    private static final List<String> FILES = List.of(TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS);

    private FashionMnist() {
    }

    /** The files of the set that {@code dir} lacks (by base name, with or without {@code .gz}); empty when complete. */
    public static List<String> missingFiles(Path dir) {
        List<String> missing = new ArrayList<>();
        for (String base : FILES) {
            if (find(dir, base) == null) {
                missing.add(base + "[.gz]");
            }
        }
        return missing;
    }

    public static boolean isComplete(Path dir) {
        return Files.isDirectory(dir) && missingFiles(dir).isEmpty();
    }

    public static TrainTestSplit load(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IOException("Fashion-MNIST directory " + dir + " does not exist or is not a directory");
        }
        List<String> missing = missingFiles(dir);
        if (!missing.isEmpty()) {
            throw new IOException("Fashion-MNIST directory " + dir + " lacks " + String.join(", ", missing));
        }
        Dataset train = load(dir, "train", TRAIN_IMAGES, TRAIN_LABELS);
        Dataset test = load(dir, "test", TEST_IMAGES, TEST_LABELS);
        int classes = Math.max(train.classes(), test.classes());
        return new TrainTestSplit(train.withClasses(classes), test.withClasses(classes));
    }

    private static Dataset load(Path dir, String split, String imagesBase, String labelsBase) throws IOException {
        Path images = find(dir, imagesBase);
        Path labels = find(dir, labelsBase);
        return Dataset.fromIdx(dir.getFileName() + "/" + split, IdxReader.read(images), IdxReader.read(labels),
                images.toString(), labels.toString());
    }

    /** The gzipped file when present, else the plain one, else null. */
    private static Path find(Path dir, String base) {
        Path gz = dir.resolve(base + ".gz");
        if (Files.isRegularFile(gz)) {
            return gz;
        }
        Path plain = dir.resolve(base);
        return Files.isRegularFile(plain) ? plain : null;
    }
}
