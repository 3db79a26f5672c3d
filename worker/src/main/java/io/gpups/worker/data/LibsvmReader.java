package io.gpups.worker.data;

import java.io.BufferedReader;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reads sparse labelled samples in the libsvm text layout into a {@link SparseDataset}. Each line is one sample:
 * <pre>
 *  label id:value id:value ...
 *  2 1234:1 18446744073709551615:0.5
 * </pre>
 * tokens separated by spaces or tabs. A label is a class index {@code 0..}{@value #MAX_CLASSES}{@code - 1};
 * {@code -1} and {@code +1} are read as 0 and 1 (the binary convention). An id is an unsigned 64-bit decimal; a value
 * is a finite float {@code > 0} (a sample's embedding is the value-weighted mean of its rows, so the weights must
 * have a positive sum). Every line has at least one feature; ids may repeat within a line.
 *
 * <p>The file is plain or gzipped (recognised by the gzip magic bytes, whatever its name says). Every malformed line
 * fails the whole read with a {@link MalformedLineException} naming the file, the line, the token and its text, and
 * what was expected.
 */
public final class LibsvmReader {

    /** The training file's name in a directory that {@link #readDir} reads; with {@code .gz} when gzipped. */
    public static final String TRAIN_FILE = "train.svm";
    /** The test file's name in a directory that {@link #readDir} reads; with {@code .gz} when gzipped. */
    public static final String TEST_FILE = "test.svm";
    /** The largest label plus one that a file may hold. */
    public static final int MAX_CLASSES = 1 << 16;
    /** The most features one data set holds (one Java array). */
    public static final int MAX_FEATURES = Integer.MAX_VALUE - 8;

    /** How much of a bad token a message quotes. */
    private static final int QUOTE_LIMIT = 64;
    private static final String FEATURE = "id:value (id an unsigned 64-bit decimal, value a finite float > 0)";

    private LibsvmReader() {
    }

    /** A line of a libsvm file is malformed; the message names the file, the line, the token and the bad text. */
    public static final class MalformedLineException extends IOException {
        private final long line;
        private final int token;

        MalformedLineException(String message, long line, int token) {
            super(message);
            this.line = line;
            this.token = token;
        }

        /** The 1-based line number. */
        public long line() {
            return line;
        }

        /** The 1-based token number (1 is the label), or 0 when the line as a whole is bad. */
        public int token() {
            return token;
        }
    }

    /** Reads {@code file}, plain or gzipped. */
    public static SparseDataset read(Path file) throws IOException {
        try (InputStream in = IdxReader.open(file)) {
            return read(in, file.toString());
        }
    }

    /** Reads every line of {@code in} (not closed here); {@code source} names it in error messages. */
    public static SparseDataset read(InputStream in, String source) throws IOException {
        BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8), 1 << 16);
        IntList labels = new IntList();
        IntList offsets = new IntList();
        offsets.add(0);
        LongList ids = new LongList();
        FloatList values = new FloatList();
        long lineNumber = 0;
        List<String> tokens = new ArrayList<>();
        while (true) {
            String line;
            try {
                line = reader.readLine();
            } catch (EOFException e) {
                throw new IOException(source + ": truncated, the compressed stream ends inside line " + (lineNumber + 1), e);
            }
            if (line == null) {
                break;
            }
            lineNumber++;
            split(line, tokens);
            if (tokens.isEmpty()) {
                throw new MalformedLineException(source + " line " + lineNumber + ": empty, expected a label and at least"
                        + " one " + FEATURE, lineNumber, 0);
            }
            int label = label(tokens.get(0), source, lineNumber);
            if (tokens.size() == 1) {
                throw new MalformedLineException(source + " line " + lineNumber + ": label '" + quote(tokens.get(0))
                        + "' alone, expected at least one " + FEATURE + " after it", lineNumber, 0);
            }
            if ((long) ids.size + tokens.size() - 1 > MAX_FEATURES) {
                throw new MalformedLineException(source + " line " + lineNumber + ": more than " + MAX_FEATURES
                        + " features, the most one data set holds", lineNumber, 0);
            }
            // Parse the whole line before appending any of it, so a failed line leaves no partial sample.
            int start = ids.size;
            for (int t = 1; t < tokens.size(); t++) {
                String token = tokens.get(t);
                int colon = token.indexOf(':');
                long id;
                float value;
                try {
                    if (colon <= 0) {
                        throw new NumberFormatException();
                    }
                    id = Long.parseUnsignedLong(token.substring(0, colon));
                    value = Float.parseFloat(token.substring(colon + 1));
                } catch (NumberFormatException e) {
                    ids.size = start;
                    values.size = start;
                    throw bad(source, lineNumber, t + 1, token, "is not a feature, expected " + FEATURE);
                }
                if (!(value > 0) || Float.isInfinite(value) || token.endsWith("d") || token.endsWith("f")
                        || token.endsWith("D") || token.endsWith("F")) {
                    ids.size = start;
                    values.size = start;
                    throw bad(source, lineNumber, t + 1, token, "has a value that is not a finite float > 0, expected "
                            + FEATURE);
                }
                ids.add(id);
                values.add(value);
            }
            labels.add(label);
            offsets.add(ids.size);
        }
        return new SparseDataset(labels.toArray(), offsets.toArray(), ids.toArray(), values.toArray());
    }

    /**
     * Reads {@code dir}/{@value #TRAIN_FILE} and {@code dir}/{@value #TEST_FILE}, each gzipped ({@code .gz}) or
     * plain; the gzipped one when both are there. The error names the files it lacks.
     */
    public static SparseSplit readDir(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IOException("libsvm data directory " + dir + " does not exist or is not a directory");
        }
        List<String> missing = missingFiles(dir);
        if (!missing.isEmpty()) {
            throw new IOException("libsvm data directory " + dir + " lacks " + String.join(" and ", missing));
        }
        return new SparseSplit(read(find(dir, TRAIN_FILE)), read(find(dir, TEST_FILE)));
    }

    /** The files {@link #readDir} needs that {@code dir} lacks, as {@code train.svm[.gz]}; empty when complete. */
    public static List<String> missingFiles(Path dir) {
        List<String> missing = new ArrayList<>();
        for (String base : List.of(TRAIN_FILE, TEST_FILE)) {
            if (find(dir, base) == null) {
                missing.add(base + "[.gz]");
            }
        }
        return missing;
    }

    private static Path find(Path dir, String base) {
        Path gz = dir.resolve(base + ".gz");
        if (Files.isRegularFile(gz)) {
            return gz;
        }
        Path plain = dir.resolve(base);
        return Files.isRegularFile(plain) ? plain : null;
    }

    private static void split(String line, List<String> tokens) {
        tokens.clear();
        int i = 0;
        int n = line.length();
        while (i < n) {
            while (i < n && (line.charAt(i) == ' ' || line.charAt(i) == '\t')) {
                i++;
            }
            int from = i;
            while (i < n && line.charAt(i) != ' ' && line.charAt(i) != '\t') {
                i++;
            }
            if (i > from) {
                tokens.add(line.substring(from, i));
            }
        }
    }

    private static int label(String token, String source, long lineNumber) throws MalformedLineException {
        if (token.equals("-1")) {
            return 0;
        }
        if (token.equals("+1")) {
            return 1;
        }
        boolean digits = !token.isEmpty() && token.length() <= 6;
        for (int i = 0; digits && i < token.length(); i++) {
            digits = token.charAt(i) >= '0' && token.charAt(i) <= '9';
        }
        int value = digits ? Integer.parseInt(token) : -1;
        if (value < 0 || value >= MAX_CLASSES) {
            throw bad(source, lineNumber, 1, token, "is not a label, expected a class index 0.." + (MAX_CLASSES - 1)
                    + " (or -1 or +1)");
        }
        return value;
    }

    private static MalformedLineException bad(String source, long lineNumber, int token, String text, String problem) {
        return new MalformedLineException(source + " line " + lineNumber + ", token " + token + ": '" + quote(text)
                + "' " + problem, lineNumber, token);
    }

    private static String quote(String text) {
        return text.length() > QUOTE_LIMIT ? text.substring(0, QUOTE_LIMIT) + "..." : text;
    }

    /** The next capacity: double, but never past the largest array. */
    private static int grow(int capacity) {
        return (int) Math.min(Integer.MAX_VALUE - 8, 2L * capacity);
    }

    private static final class IntList {
        int[] values = new int[1024];
        int size;

        void add(int v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, grow(values.length));
            }
            values[size++] = v;
        }

        int[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }

    private static final class LongList {
        long[] values = new long[1024];
        int size;

        void add(long v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, grow(values.length));
            }
            values[size++] = v;
        }

        long[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }

    private static final class FloatList {
        float[] values = new float[1024];
        int size;

        void add(float v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, grow(values.length));
            }
            values[size++] = v;
        }

        float[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }
}
