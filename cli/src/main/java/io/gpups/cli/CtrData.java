package io.gpups.cli;

import io.gpups.worker.data.CriteoReader;
import io.gpups.worker.data.CtrGenerator;
import io.gpups.worker.data.CtrSplit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/**
 * The data of a {@code --model ctr} job: {@code --data DIR} with {@code train.tsv[.gz]} and {@code test.tsv[.gz]} in
 * the Criteo format, or, without {@code --data}, a set generated from a planted teacher ({@link CtrGenerator}, its
 * default shape and seed), the same on every worker.
 */
final class CtrData {

    /** Rows of the generated set. */
    static final int GENERATED_TRAIN_ROWS = 200_000;
    static final int GENERATED_TEST_ROWS = 20_000;

    /** The data and how to name it. */
    record Loaded(CtrSplit split, String description) {
    }

    private CtrData() {
    }

    /** How the data of {@code dir} (null: generated) is named, checking that the directory holds both files. */
    static String describe(Path dir) {
        if (dir == null) {
            return "generated CTR set (" + GENERATED_TRAIN_ROWS + " train, " + GENERATED_TEST_ROWS + " test rows, "
                    + CtrGenerator.DEFAULT_FIELDS + " fields, seed " + CtrGenerator.DEFAULT_SEED + ")";
        }
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("--data " + dir + ": no such directory");
        }
        List<String> missing = CriteoReader.missingFiles(dir);
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("--data " + dir + ": missing " + String.join(", ", missing)
                    + " (Criteo format: label, 13 integers, 26 hex ids, tab-separated)");
        }
        return "Criteo-format " + dir;
    }

    static Loaded load(Path dir, Consumer<String> log) throws IOException {
        String description = describe(dir);
        if (dir == null) {
            CtrGenerator.Generated g = CtrGenerator.criteoShaped(CtrGenerator.DEFAULT_SEED)
                    .generateWithTeacher(GENERATED_TRAIN_ROWS, GENERATED_TEST_ROWS);
            log.accept(String.format("data: %s; the teacher's own test AUC %.4f, log loss %.4f", description,
                    g.teacher().testAuc(), g.teacher().testLogLoss()));
            return new Loaded(g.split(), description);
        }
        return new Loaded(CriteoReader.readDir(dir), description);
    }
}
