package io.gpups.cli;

import io.gpups.worker.data.LibsvmReader;
import io.gpups.worker.data.SparseSplit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The data of a {@code --model embbag} job: {@code --data DIR} with {@code train.svm[.gz]} and {@code test.svm[.gz]}
 * in the libsvm layout ({@link LibsvmReader}); there is no generated default, so the directory is required.
 */
final class SparseData {

    private SparseData() {
    }

    /** How the data of {@code dir} is named, checking that it is given and holds both files. */
    static String describe(Path dir) {
        if (dir == null) {
            throw new IllegalArgumentException("--model embbag needs --data DIR with train.svm[.gz] and test.svm[.gz]"
                    + " (libsvm: label id:value ...); scripts/langid-data.sh DIR writes a language-identification set");
        }
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("--data " + dir + ": no such directory");
        }
        List<String> missing = LibsvmReader.missingFiles(dir);
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("--data " + dir + ": missing " + String.join(", ", missing)
                    + " (libsvm: label id:value ..., ids unsigned 64-bit, values > 0)");
        }
        return "libsvm " + dir;
    }

    static SparseSplit load(Path dir) throws IOException {
        describe(dir);
        return LibsvmReader.readDir(dir);
    }
}
