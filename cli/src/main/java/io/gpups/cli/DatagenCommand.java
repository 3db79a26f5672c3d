package io.gpups.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gpups.worker.data.CriteoReader;
import io.gpups.worker.data.CtrDataset;
import io.gpups.worker.data.CtrGenerator;
import io.gpups.worker.data.LangidGenerator;
import io.gpups.worker.data.LibsvmReader;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code gpups datagen}: writes data sets: {@code ctr} (generated) and {@code langid} (from word lists). */
@Command(name = "datagen", mixinStandardHelpOptions = true,
        subcommands = {DatagenCommand.Ctr.class, DatagenCommand.Langid.class},
        description = "Generate a data set to train on.")
final class DatagenCommand implements Runnable {

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "name the data set to generate: ctr or langid");
    }

    /**
     * {@code gpups datagen ctr}: Criteo-layout click data from {@link CtrGenerator}'s planted teacher, N rows split
     * 90/10 into {@code DIR/train.tsv} and {@code DIR/test.tsv}, and the teacher's own test AUC and log loss, the
     * mark a trained model can at best reach.
     */
    @Command(name = "ctr", mixinStandardHelpOptions = true, sortOptions = false,
            description = "Write DIR/train.tsv and DIR/test.tsv (90/10 of --rows) in the Criteo layout, labelled by a "
                    + "planted teacher, and print the teacher's test AUC and log loss.")
    static final class Ctr implements Callable<Integer> {

        /** Below this, a 10% test split would be empty. */
        static final long MIN_ROWS = 10;
        static final long MAX_ROWS = CtrDataset.MAX_ROWS;

        @Option(names = "--rows", required = true, paramLabel = "N", description = "Rows in all, train and test.")
        long rows;

        @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to write into (created).")
        Path out;

        @Option(names = "--fields", paramLabel = "F", description = "Categorical fields that carry values, 1..26 "
                + "(the rest are written empty; default ${DEFAULT-VALUE}).")
        int fields = CtrGenerator.DEFAULT_FIELDS;

        @Option(names = "--vocab", paramLabel = "V", description = "Distinct values per field (default ${DEFAULT-VALUE}).")
        int vocab = CtrGenerator.DEFAULT_VOCAB;

        @Option(names = "--zipf", paramLabel = "S", description = "Zipf exponent of each field's values, in (0, 10] "
                + "(default ${DEFAULT-VALUE}).")
        double zipf = CtrGenerator.DEFAULT_ZIPF;

        @Option(names = "--seed", paramLabel = "S", description = "Seed of the rows and the teacher (default ${DEFAULT-VALUE}).")
        long seed = CtrGenerator.DEFAULT_SEED;

        @Mixin
        JsonOutput json;

        @Override
        public Integer call() throws IOException {
            CtrGenerator generator = generator();
            long testRows = rows / 10;
            long trainRows = rows - testRows;
            if (Files.exists(out) && !Files.isDirectory(out)) {
                throw new IllegalArgumentException("--out " + out + ": exists and is not a directory");
            }
            PrintStream stdout = System.out;
            CtrGenerator.TeacherReport teacher = generator.write(out, trainRows, testRows);
            stdout.printf(Locale.ROOT, "wrote %d train rows to %s and %d test rows to %s%n", trainRows,
                    out.resolve(CriteoReader.TRAIN_FILE), testRows, out.resolve(CriteoReader.TEST_FILE));
            stdout.printf(Locale.ROOT, "positive rate %.4f; teacher on the test rows: AUC %s, log loss %.4f%n",
                    teacher.positiveRate(), Double.isNaN(teacher.testAuc()) ? "undefined (one class only)"
                            : String.format(Locale.ROOT, "%.4f", teacher.testAuc()), teacher.testLogLoss());
            if (json.wanted()) {
                json.write(summary(teacher), stdout);
            }
            return 0;
        }

        /** The generator the flags describe; each bad flag is named with its value and the range expected. */
        CtrGenerator generator() {
            if (rows < MIN_ROWS || rows > MAX_ROWS) {
                throw new IllegalArgumentException("--rows " + rows + ": expected " + MIN_ROWS + ".." + MAX_ROWS);
            }
            if (fields < 1 || fields > CtrDataset.FIELDS) {
                throw new IllegalArgumentException("--fields " + fields + ": expected 1.." + CtrDataset.FIELDS);
            }
            if (vocab < 1) {
                throw new IllegalArgumentException("--vocab " + vocab + ": expected 1.." + Integer.MAX_VALUE);
            }
            if (!(zipf > 0 && zipf <= CtrGenerator.MAX_ZIPF)) {
                throw new IllegalArgumentException("--zipf " + zipf + ": expected a number in (0, "
                        + CtrGenerator.MAX_ZIPF + "]");
            }
            return new CtrGenerator(fields, vocab, zipf, seed);
        }

        private static ObjectNode summary(CtrGenerator.TeacherReport teacher) {
            ObjectNode node = new ObjectMapper().createObjectNode();
            node.put("rows", teacher.rows());
            node.put("train_rows", teacher.trainRows());
            node.put("test_rows", teacher.testRows());
            // JSON has no NaN: an undefined AUC (a test set of one class) is null.
            if (Double.isNaN(teacher.testAuc())) {
                node.putNull("teacher_auc");
            } else {
                node.put("teacher_auc", teacher.testAuc());
            }
            node.put("teacher_logloss", teacher.testLogLoss());
            node.put("positive_rate", teacher.positiveRate());
            return node;
        }
    }

    /**
     * {@code gpups datagen langid}: a language-identification set in the libsvm layout from Debian's word lists
     * ({@link LangidGenerator}: labels, n-gram ids, the test split), {@code DIR/train.svm} and {@code DIR/test.svm},
     * and the words per language.
     */
    @Command(name = "langid", mixinStandardHelpOptions = true, sortOptions = false,
            description = "Write DIR/train.svm and DIR/test.svm: one line per word of Debian's word lists (label: the "
                    + "language; features: hashed character 1..4-grams), about 1 word in 10 in the test set.")
    static final class Langid implements Callable<Integer> {

        @Option(names = "--dict-dir", paramLabel = "DIR", description = "Directory of the word lists "
                + "(default: ${DEFAULT-VALUE}).")
        Path dictDir = Path.of("/usr/share/dict");

        @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to write into (created).")
        Path out;

        @Option(names = "--cap", paramLabel = "N", description = "Words per language at most, the N of smallest hash; "
                + "0: all (default: ${DEFAULT-VALUE}).")
        int cap = LangidGenerator.DEFAULT_CAP;

        @Override
        public Integer call() throws IOException {
            if (cap < 0) {
                throw new IllegalArgumentException("--cap " + cap + ": expected 0 (all words) or more");
            }
            if (Files.exists(out) && !Files.isDirectory(out)) {
                throw new IllegalArgumentException("--out " + out + ": exists and is not a directory");
            }
            PrintStream stdout = System.out;
            List<LangidGenerator.Count> counts = LangidGenerator.write(dictDir, out, cap);
            int train = 0;
            int test = 0;
            stdout.printf(Locale.ROOT, "%-5s %-11s %8s %8s %8s %8s %8s%n", "label", "language", "lines", "eligible",
                    "kept", "train", "test");
            for (LangidGenerator.Count c : counts) {
                stdout.printf(Locale.ROOT, "%-5d %-11s %8d %8d %8d %8d %8d%n", c.label(), c.language(), c.read(),
                        c.eligible(), c.kept(), c.train(), c.test());
                train += c.train();
                test += c.test();
            }
            stdout.printf(Locale.ROOT, "wrote %d train lines to %s and %d test lines to %s%n", train,
                    out.resolve(LibsvmReader.TRAIN_FILE), test, out.resolve(LibsvmReader.TEST_FILE));
            return 0;
        }
    }
}
