package io.gpups.worker.data;

import io.gpups.core.table.RowIds;
import io.gpups.worker.metrics.BinaryMetrics;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Click-through-rate data from a planted teacher, in the Criteo layout that {@link CriteoReader} reads, so that a
 * model's test AUC can be held against the best one possible.
 *
 * <p>Each row draws, for each of the first {@code fields} categorical fields f, a rank k in 1..{@code vocab} by a
 * Zipf law of exponent {@code zipfExponent} (exact, by rejection-inversion: Hörmann and Derflinger 1996), or leaves
 * the field empty with probability {@value #EMPTY_CATEGORICAL} (rank 0); fields past {@code fields} are always
 * empty. The field's text is the low 32 bits of {@code mix(seed ^ f * GOLDEN ^ k)} as 8 hex digits. Then 13
 * integer features: {@code floor(exp(mu_j + sigma_j g)) - offset_j} with g standard normal, each empty with a
 * probability of its own (Criteo's I2 is the one that goes negative).
 *
 * <p>The teacher's logit is
 * <pre>
 *   z = BIAS + sum_f w_f(k_f) + sum_{(a,b) in PAIRS} &lt;e_a(k_a), e_b(k_b)&gt; + sum_j c_j (x_j - mu_j)
 * </pre>
 * with x_j the transformed integer ({@link CtrDataset#transform}; an empty one is 0, as the reader gives it: the
 * teacher is a function of what a model can see), and the label is
 * Bernoulli(sigmoid(z)). Every teacher weight ({@code w}, the 4-dimensional {@code e}, {@code c}) is uniform in a
 * symmetric range and a pure function of (seed, kind, field, rank, index) through {@link RowIds#mix}, so no table is
 * held. The ranges are scaled by the number of fields and pairs present so that z has a standard deviation near
 * 1.45 whatever {@code fields} is: over seeds 1..8 the teacher's test AUC (20000 rows) lands in 0.79..0.82 and the
 * positive rate in 0.21..0.34, for 26 fields as for 3.
 *
 * <p>Training rows and test rows come from two independent streams of the seed, so the test set does not depend on
 * how many training rows there are; {@link #write} and {@link #generateWithTeacher} produce the same rows.
 */
public record CtrGenerator(int fields, int vocab, double zipfExponent, long seed) {

    public static final int DEFAULT_FIELDS = CtrDataset.FIELDS;
    public static final int DEFAULT_VOCAB = 100_000;
    public static final double DEFAULT_ZIPF = 1.1;
    public static final long DEFAULT_SEED = 20240611L;
    public static final double MAX_ZIPF = 10;
    /** The chance that a categorical field of a row is empty. */
    public static final double EMPTY_CATEGORICAL = 0.03;
    /** Dimension of the teacher's embeddings in its pair terms. */
    public static final int EMBEDDING_DIM = 4;
    /** The categorical field pairs (0-based) whose embeddings interact; those past {@code fields} are left out. */
    static final int[][] PAIRS = {{0, 1}, {2, 3}, {4, 9}, {5, 12}, {7, 20}};

    static final double BIAS = -1.3;
    /** The share of the logit's variance from each kind of term; they sum to about 1.45^2. */
    static final double LINEAR_VARIANCE = 1.2;
    static final double PAIR_VARIANCE = 0.5;
    static final double DENSE_VARIANCE = 0.4;

    /** Per integer feature: chance of being empty, mean and deviation of its log, what is subtracted. */
    private static final double[] DENSE_EMPTY = {0.45, 0, 0.2, 0.2, 0.03, 0.22, 0.04, 0, 0.04, 0.45, 0.04, 0.77, 0.2};
    private static final double[] DENSE_MU = {1.0, 2.0, 1.5, 1.5, 7.0, 3.0, 1.5, 2.0, 3.5, 0.2, 1.0, 0.3, 1.5};
    private static final double DENSE_SIGMA = 1.2;
    private static final long[] DENSE_OFFSET = {0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

    private static final long GOLDEN = 0x9E3779B97F4A7C15L;
    private static final long LINEAR_TAG = 0x4C494E4541520001L;
    private static final long EMBEDDING_TAG = 0x454D424544440002L;
    private static final long DENSE_TAG = 0x44454E5345000003L;
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    public CtrGenerator {
        if (fields < 1 || fields > CtrDataset.FIELDS) {
            throw new IllegalArgumentException("fields " + fields + ": expected 1.." + CtrDataset.FIELDS);
        }
        if (vocab < 1) {
            throw new IllegalArgumentException("vocab " + vocab + ": expected 1.." + Integer.MAX_VALUE);
        }
        if (!(zipfExponent > 0 && zipfExponent <= MAX_ZIPF)) {
            throw new IllegalArgumentException("Zipf exponent " + zipfExponent + ": expected a number in (0, "
                    + MAX_ZIPF + "]");
        }
    }

    /** Criteo's shape: 26 fields of 100000 values each, Zipf exponent 1.1. */
    public static CtrGenerator criteoShaped(long seed) {
        return new CtrGenerator(DEFAULT_FIELDS, DEFAULT_VOCAB, DEFAULT_ZIPF, seed);
    }

    /**
     * How good the teacher itself is: its AUC and log loss on the test rows, from the true probabilities against the
     * sampled labels; {@code testAuc} is NaN when the test labels are all of one class.
     */
    public record TeacherReport(long trainRows, long testRows, long positives, double testAuc, double testLogLoss) {
        public long rows() {
            return trainRows + testRows;
        }

        /** Positives over all rows, train and test. */
        public double positiveRate() {
            return (double) positives / rows();
        }
    }

    /** Rows held in memory and the teacher's report on them. */
    public record Generated(CtrSplit split, TeacherReport teacher) {
    }

    /** The rows that {@link #write} writes, in memory. */
    public CtrSplit generate(int trainRows, int testRows) {
        return generateWithTeacher(trainRows, testRows).split();
    }

    /** {@link #generate} with the teacher's report. */
    public Generated generateWithTeacher(int trainRows, int testRows) {
        checkRows(trainRows, testRows);
        Streams streams = new Streams();
        DatasetSink train = new DatasetSink(trainRows);
        DatasetSink test = new DatasetSink(testRows);
        TeacherTally tally = new TeacherTally(testRows);
        Row row = new Row();
        for (int i = 0; i < trainRows; i++) {
            streams.nextTrain(row);
            train.add(row);
            tally.train(row);
        }
        for (int i = 0; i < testRows; i++) {
            streams.nextTest(row);
            test.add(row);
            tally.test(row);
        }
        return new Generated(new CtrSplit(train.dataset(), test.dataset()), tally.report(trainRows, testRows));
    }

    /**
     * Writes {@code dir}/{@value CriteoReader#TRAIN_FILE} and {@code dir}/{@value CriteoReader#TEST_FILE} (plain
     * text, {@code \n} line ends), creating {@code dir}; each file appears under its name only once complete.
     */
    public TeacherReport write(Path dir, long trainRows, long testRows) throws IOException {
        checkRows(trainRows, testRows);
        Files.createDirectories(dir);
        Streams streams = new Streams();
        TeacherTally tally = new TeacherTally((int) testRows);
        Row row = new Row();
        writeFile(dir.resolve(CriteoReader.TRAIN_FILE), trainRows, row, r -> {
            streams.nextTrain(r);
            tally.train(r);
        });
        writeFile(dir.resolve(CriteoReader.TEST_FILE), testRows, row, r -> {
            streams.nextTest(r);
            tally.test(r);
        });
        return tally.report(trainRows, testRows);
    }

    private interface RowStep {
        void next(Row row);
    }

    private void writeFile(Path file, long rows, Row row, RowStep step) throws IOException {
        Path partial = file.resolveSibling(file.getFileName() + ".partial");
        StringBuilder line = new StringBuilder(512);
        try (Writer out = Files.newBufferedWriter(partial, StandardCharsets.US_ASCII)) {
            for (long i = 0; i < rows; i++) {
                step.next(row);
                line.setLength(0);
                appendLine(line, row);
                out.append(line);
            }
        }
        Files.move(partial, file, StandardCopyOption.REPLACE_EXISTING);
    }

    private static void appendLine(StringBuilder line, Row row) {
        line.append(row.label == 1f ? '1' : '0');
        for (int j = 0; j < CtrDataset.DENSE; j++) {
            line.append('\t');
            if (!row.intEmpty[j]) {
                line.append(row.ints[j]);
            }
        }
        for (int f = 0; f < CtrDataset.FIELDS; f++) {
            line.append('\t');
            long value = row.hex[f];
            if (value >= 0) {
                for (int shift = 28; shift >= 0; shift -= 4) {
                    line.append(HEX[(int) (value >>> shift) & 0xF]);
                }
            }
        }
        line.append('\n');
    }

    private static void checkRows(long trainRows, long testRows) {
        if (trainRows < 1 || trainRows > CtrDataset.MAX_ROWS) {
            throw new IllegalArgumentException("train rows " + trainRows + ": expected 1.." + CtrDataset.MAX_ROWS);
        }
        if (testRows < 1 || testRows > CtrDataset.MAX_ROWS) {
            throw new IllegalArgumentException("test rows " + testRows + ": expected 1.." + CtrDataset.MAX_ROWS);
        }
    }

    /** The hex value of rank {@code rank} (1-based) of field {@code field}: the low 32 bits of a mix. */
    long valueOf(int field, long rank) {
        return RowIds.mix(seed ^ field * GOLDEN ^ rank) & 0xFFFF_FFFFL;
    }

    /** A teacher weight before scaling: uniform in [-1, 1), a function of (seed, tag, field, rank, index) alone. */
    private double unit(long tag, int field, long rank, int index) {
        long h = RowIds.mix(seed ^ tag);
        h = RowIds.mix(h ^ field);
        h = RowIds.mix(h ^ rank);
        h = RowIds.mix(h ^ index);
        return (h >>> 11) * 0x1.0p-52 - 1.0;
    }

    /** One row as it is generated: what the file holds and the teacher's probability. */
    private static final class Row {
        float label;
        double probability;
        final long[] ints = new long[CtrDataset.DENSE];
        final boolean[] intEmpty = new boolean[CtrDataset.DENSE];
        /** The hex value of each field, -1 for empty. */
        final long[] hex = new long[CtrDataset.FIELDS];
        final long[] ranks = new long[CtrDataset.FIELDS];
        final float[] dense = new float[CtrDataset.DENSE];
    }

    /** The two random streams (train, test) and the teacher's scales. */
    private final class Streams {
        private final SplittableRandom train;
        private final SplittableRandom test;
        private final ZipfRanks zipf = new ZipfRanks(vocab, zipfExponent);
        private final int[][] pairs;
        private final double linearScale;
        /** The scale of a pair term: a^2 for embedding entries uniform in [-a, a). */
        private final double pairProduct;
        private final double[] denseWeights = new double[CtrDataset.DENSE];

        Streams() {
            SplittableRandom root = new SplittableRandom(seed);
            train = root.split();
            test = root.split();
            List<int[]> present = new ArrayList<>();
            for (int[] pair : PAIRS) {
                if (pair[0] < fields && pair[1] < fields) {
                    present.add(pair);
                }
            }
            pairs = present.toArray(new int[0][]);
            // A uniform weight in [-a, a) has variance a^2 / 3; an inner product of two such d-vectors, d a^4 / 9.
            linearScale = Math.sqrt(3 * LINEAR_VARIANCE / fields);
            pairProduct = pairs.length == 0 ? 0 : 3 * Math.sqrt(PAIR_VARIANCE / (pairs.length * EMBEDDING_DIM));
            double denseSpread = 0;
            for (int j = 0; j < CtrDataset.DENSE; j++) {
                denseSpread += (1 - DENSE_EMPTY[j]) * DENSE_SIGMA * DENSE_SIGMA;
            }
            double denseScale = Math.sqrt(3 * DENSE_VARIANCE / denseSpread);
            for (int j = 0; j < CtrDataset.DENSE; j++) {
                denseWeights[j] = denseScale * unit(DENSE_TAG, 0, 0, j);
            }
        }

        void nextTrain(Row row) {
            next(row, train);
        }

        void nextTest(Row row) {
            next(row, test);
        }

        private void next(Row row, SplittableRandom random) {
            double logit = BIAS;
            for (int f = 0; f < CtrDataset.FIELDS; f++) {
                long rank = f < fields && random.nextDouble() >= EMPTY_CATEGORICAL ? zipf.next(random) : 0;
                row.ranks[f] = rank;
                row.hex[f] = rank == 0 ? -1 : valueOf(f, rank);
                if (f < fields) {
                    logit += linearScale * unit(LINEAR_TAG, f, rank, 0);
                }
            }
            for (int[] pair : pairs) {
                double dot = 0;
                for (int d = 0; d < EMBEDDING_DIM; d++) {
                    dot += unit(EMBEDDING_TAG, pair[0], row.ranks[pair[0]], d)
                            * unit(EMBEDDING_TAG, pair[1], row.ranks[pair[1]], d);
                }
                logit += pairProduct * dot;
            }
            for (int j = 0; j < CtrDataset.DENSE; j++) {
                boolean empty = random.nextDouble() < DENSE_EMPTY[j];
                double g = gaussian(random);
                row.intEmpty[j] = empty;
                row.ints[j] = empty ? 0 : (long) Math.floor(StrictMath.exp(DENSE_MU[j] + DENSE_SIGMA * g)) - DENSE_OFFSET[j];
                row.dense[j] = CtrDataset.transform(row.ints[j]);
                // The teacher sees what a reader of the file sees: an empty feature reads as 0, as a 0 does.
                logit += denseWeights[j] * (row.dense[j] - DENSE_MU[j]);
            }
            row.probability = 1 / (1 + StrictMath.exp(-logit));
            row.label = random.nextDouble() < row.probability ? 1f : 0f;
        }
    }

    /** A standard normal draw by Box-Muller, using one of the pair. */
    private static double gaussian(SplittableRandom random) {
        double u1 = Math.max(random.nextDouble(), 0x1.0p-53);
        double u2 = random.nextDouble();
        return StrictMath.sqrt(-2.0 * StrictMath.log(u1)) * StrictMath.cos(2.0 * Math.PI * u2);
    }

    /** Rows into the arrays of a {@link CtrDataset}. */
    private static final class DatasetSink {
        private final float[] labels;
        private final float[] dense;
        private final long[] ids;
        private int size;

        DatasetSink(int rows) {
            labels = new float[rows];
            dense = new float[rows * CtrDataset.DENSE];
            ids = new long[rows * CtrDataset.FIELDS];
        }

        void add(Row row) {
            labels[size] = row.label;
            System.arraycopy(row.dense, 0, dense, size * CtrDataset.DENSE, CtrDataset.DENSE);
            for (int f = 0; f < CtrDataset.FIELDS; f++) {
                ids[size * CtrDataset.FIELDS + f] = row.hex[f] < 0 ? CtrDataset.idOfMissing(f) : CtrDataset.idOf(f, row.hex[f]);
            }
            size++;
        }

        CtrDataset dataset() {
            return new CtrDataset(labels, dense, ids);
        }
    }

    /** Counts positives and keeps the test rows' probabilities and labels for the teacher's AUC and log loss. */
    private static final class TeacherTally {
        private final float[] testProbabilities;
        private final float[] testLabels;
        private int tested;
        private long positives;

        TeacherTally(int testRows) {
            testProbabilities = new float[testRows];
            testLabels = new float[testRows];
        }

        void train(Row row) {
            positives += row.label == 1f ? 1 : 0;
        }

        void test(Row row) {
            positives += row.label == 1f ? 1 : 0;
            testProbabilities[tested] = (float) row.probability;
            testLabels[tested] = row.label;
            tested++;
        }

        TeacherReport report(long trainRows, long testRows) {
            return new TeacherReport(trainRows, testRows, positives,
                    BinaryMetrics.auc(testProbabilities, testLabels, tested),
                    BinaryMetrics.logLoss(testProbabilities, testLabels, tested));
        }
    }

    /**
     * Exact Zipf ranks 1..n with P(k) proportional to k^-s, by rejection-inversion (Hörmann and Derflinger,
     * "Rejection-inversion to generate variates from monotone discrete distributions", 1996): O(1) per draw for any
     * n. The same method as loadgen's {@code RowIdDistribution}, which this module cannot depend on.
     */
    static final class ZipfRanks {
        private final long n;
        private final double exponent;
        private final double hIntegralX1;
        private final double hIntegralN;
        private final double s;

        ZipfRanks(long n, double exponent) {
            this.n = n;
            this.exponent = exponent;
            hIntegralX1 = hIntegral(1.5) - 1.0;
            hIntegralN = hIntegral(n + 0.5);
            s = 2.0 - hIntegralInverse(hIntegral(2.5) - h(2.0));
        }

        long next(SplittableRandom random) {
            while (true) {
                double u = hIntegralN + random.nextDouble() * (hIntegralX1 - hIntegralN);
                double x = hIntegralInverse(u);
                long k = Math.max(1, Math.min(n, (long) (x + 0.5)));
                if (k - x <= s || u >= hIntegral(k + 0.5) - h(k)) {
                    return k;
                }
            }
        }

        private double h(double x) {
            return StrictMath.exp(-exponent * StrictMath.log(x));
        }

        private double hIntegral(double x) {
            double logX = StrictMath.log(x);
            return helper2((1.0 - exponent) * logX) * logX;
        }

        private double hIntegralInverse(double x) {
            double t = Math.max(-1.0, x * (1.0 - exponent));
            return StrictMath.exp(helper1(t) * x);
        }

        /** log1p(x) / x, accurate near 0. */
        private static double helper1(double x) {
            return Math.abs(x) > 1e-8 ? StrictMath.log1p(x) / x : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
        }

        /** expm1(x) / x, accurate near 0. */
        private static double helper2(double x) {
            return Math.abs(x) > 1e-8 ? StrictMath.expm1(x) / x : 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
        }
    }
}
