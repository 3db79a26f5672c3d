package io.gpups.worker.data;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reads click-through-rate data in the Criteo display-ads text layout into a {@link CtrDataset}. Each line is one
 * row of 40 tab-separated fields:
 * <pre>
 *  field  1      2 .. 14         15 .. 40
 *        label  I1 .. I13       C1 .. C26
 *        0|1    integers        hex strings, 1 to 8 digits
 * </pre>
 * An integer may be negative or empty (read as 0); a categorical field may be empty (read as
 * {@link CtrDataset#idOfMissing}). A label is {@code 0} or {@code 1}; {@code -1} and {@code +1} are read as 0 and 1.
 * Lines end in {@code \n}, optionally preceded by {@code \r}; the last line may lack its {@code \n}.
 *
 * <p>The file is plain or gzipped (recognised by the gzip magic bytes, whatever its name says) and is streamed in
 * chunks into growable primitive arrays, so millions of lines cost their arrays and no more. A line longer than
 * {@link #MAX_LINE_BYTES} is refused rather than buffered. Every malformed line fails the whole read with a
 * {@link MalformedLineException} naming the file, the line, the field and its text, and what was expected.
 */
public final class CriteoReader {

    /** Fields per line: the label, the integer features, the categorical fields. */
    public static final int COLUMNS = 1 + CtrDataset.DENSE + CtrDataset.FIELDS;
    /** The longest line accepted, in bytes without its line end; a real Criteo line is a few hundred. */
    public static final int MAX_LINE_BYTES = 1 << 16;
    /** The training file's name in a directory that {@link #readDir} reads; with {@code .gz} when gzipped. */
    public static final String TRAIN_FILE = "train.tsv";
    /** The test file's name in a directory that {@link #readDir} reads; with {@code .gz} when gzipped. */
    public static final String TEST_FILE = "test.tsv";

    private static final int MAX_HEX_DIGITS = 8;
    /** Digits that never overflow a long, so they are accumulated without a check. */
    private static final int SAFE_DECIMAL_DIGITS = 18;
    /** How much of a bad field a message quotes. */
    private static final int QUOTE_LIMIT = 64;

    private CriteoReader() {
    }

    /** A line of a Criteo file is malformed; the message names the file, the line, the field and the bad text. */
    public static final class MalformedLineException extends IOException {
        private final long line;
        private final int field;

        MalformedLineException(String message, long line, int field) {
            super(message);
            this.line = line;
            this.field = field;
        }

        /** The 1-based line number. */
        public long line() {
            return line;
        }

        /** The 1-based field number (1 is the label, 2 is I1, 15 is C1), or 0 when the line as a whole is bad. */
        public int field() {
            return field;
        }
    }

    /** Reads {@code file}, plain or gzipped. */
    public static CtrDataset read(Path file) throws IOException {
        try (InputStream in = IdxReader.open(file)) {
            return read(in, file.toString());
        }
    }

    /** Reads every line of {@code in} (not closed here); {@code source} names it in error messages. */
    public static CtrDataset read(InputStream in, String source) throws IOException {
        LineParser parser = new LineParser(source);
        byte[] chunk = new byte[1 << 16];
        byte[] line = new byte[1024];
        int lineLength = 0;
        long lineNumber = 0;
        while (true) {
            int read;
            try {
                read = in.read(chunk);
            } catch (EOFException e) {
                throw new IOException(source + ": truncated, the compressed stream ends inside line " + (lineNumber + 1), e);
            }
            if (read < 0) {
                break;
            }
            int pos = 0;
            while (pos < read) {
                int newline = indexOf(chunk, pos, read, (byte) '\n');
                int end = newline < 0 ? read : newline;
                int length = end - pos;
                if (lineLength + length > MAX_LINE_BYTES) {
                    throw new MalformedLineException(source + " line " + (lineNumber + 1) + ": longer than "
                            + MAX_LINE_BYTES + " bytes, expected " + COLUMNS + " tab-separated fields", lineNumber + 1, 0);
                }
                if (lineLength + length > line.length) {
                    line = Arrays.copyOf(line, Math.min(MAX_LINE_BYTES, Math.max(2 * line.length, lineLength + length)));
                }
                System.arraycopy(chunk, pos, line, lineLength, length);
                lineLength += length;
                if (newline < 0) {
                    break;
                }
                lineNumber++;
                parser.parse(line, lineLength, lineNumber);
                lineLength = 0;
                pos = newline + 1;
            }
        }
        if (lineLength > 0) {
            parser.parse(line, lineLength, lineNumber + 1);
        }
        return parser.dataset();
    }

    /**
     * Reads {@code dir}/{@value #TRAIN_FILE} and {@code dir}/{@value #TEST_FILE}, each gzipped ({@code .gz}) or
     * plain; the gzipped one when both are there. The error names the files it lacks.
     */
    public static CtrSplit readDir(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IOException("CTR data directory " + dir + " does not exist or is not a directory");
        }
        List<String> missing = missingFiles(dir);
        if (!missing.isEmpty()) {
            throw new IOException("CTR data directory " + dir + " lacks " + String.join(" and ", missing));
        }
        return new CtrSplit(read(find(dir, TRAIN_FILE)), read(find(dir, TEST_FILE)));
    }

    /** The files {@link #readDir} needs that {@code dir} lacks, as {@code train.tsv[.gz]}; empty when complete. */
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

    private static int indexOf(byte[] bytes, int from, int to, byte b) {
        for (int i = from; i < to; i++) {
            if (bytes[i] == b) {
                return i;
            }
        }
        return -1;
    }

    /** Turns one line at a time into the growing arrays of a data set. */
    private static final class LineParser {
        private final String source;
        private final int[] starts = new int[COLUMNS + 1];
        private final long[] ints = new long[CtrDataset.DENSE];
        private final long[] categories = new long[CtrDataset.FIELDS];
        private final FloatList labels = new FloatList(1024);
        private final FloatList dense = new FloatList(1024 * CtrDataset.DENSE);
        private final LongList ids = new LongList(1024 * CtrDataset.FIELDS);

        LineParser(String source) {
            this.source = source;
        }

        void parse(byte[] b, int length, long lineNumber) throws MalformedLineException {
            if (length > 0 && b[length - 1] == '\r') {
                length--;
            }
            if (length == 0) {
                throw new MalformedLineException(source + " line " + lineNumber + ": empty, expected " + COLUMNS
                        + " tab-separated fields", lineNumber, 0);
            }
            int fields = 1;
            starts[0] = 0;
            for (int i = 0; i < length; i++) {
                if (b[i] == '\t') {
                    if (fields == COLUMNS) {
                        fields++;
                        break;
                    }
                    starts[fields++] = i + 1;
                }
            }
            if (fields != COLUMNS) {
                String count = fields > COLUMNS ? "more than " + COLUMNS : Integer.toString(fields);
                throw new MalformedLineException(source + " line " + lineNumber + ": " + count
                        + " tab-separated fields, expected " + COLUMNS + " (label, I1..I13, C1..C26)", lineNumber, 0);
            }
            starts[COLUMNS] = length + 1;
            if (labels.size() == CtrDataset.MAX_ROWS) {
                throw new MalformedLineException(source + " line " + lineNumber + ": more than " + CtrDataset.MAX_ROWS
                        + " rows, the most one data set holds", lineNumber, 0);
            }
            // Parse the whole line before appending any of it, so a failed line leaves no partial row.
            float label = label(b, starts[0], starts[1] - 1, lineNumber);
            for (int j = 0; j < CtrDataset.DENSE; j++) {
                ints[j] = integer(b, starts[1 + j], starts[2 + j] - 1, lineNumber, 2 + j);
            }
            int firstCategorical = 1 + CtrDataset.DENSE;
            for (int f = 0; f < CtrDataset.FIELDS; f++) {
                int column = firstCategorical + f;
                long value = hex(b, starts[column], starts[column + 1] - 1, lineNumber, column + 1);
                categories[f] = value < 0 ? CtrDataset.idOfMissing(f) : CtrDataset.idOf(f, value);
            }
            labels.add(label);
            for (int j = 0; j < CtrDataset.DENSE; j++) {
                dense.add(CtrDataset.transform(ints[j]));
            }
            for (int f = 0; f < CtrDataset.FIELDS; f++) {
                ids.add(categories[f]);
            }
        }

        CtrDataset dataset() {
            return new CtrDataset(labels.toArray(), dense.toArray(), ids.toArray());
        }

        private float label(byte[] b, int from, int to, long lineNumber) throws MalformedLineException {
            int length = to - from;
            if (length == 1 && (b[from] == '0' || b[from] == '1')) {
                return b[from] - '0';
            }
            if (length == 2 && b[from + 1] == '1' && (b[from] == '-' || b[from] == '+')) {
                return b[from] == '+' ? 1f : 0f;
            }
            throw bad(b, from, to, lineNumber, 1, "is not a label, expected 0 or 1 (or -1 or +1)");
        }

        /** The field's integer; 0 when it is empty. */
        private long integer(byte[] b, int from, int to, long lineNumber, int field) throws MalformedLineException {
            if (from == to) {
                return 0;
            }
            boolean negative = b[from] == '-';
            int digitsFrom = negative || b[from] == '+' ? from + 1 : from;
            if (digitsFrom == to) {
                throw bad(b, from, to, lineNumber, field, "is not an integer, expected decimal digits with an optional sign");
            }
            long value = 0;
            for (int i = digitsFrom; i < to; i++) {
                int digit = b[i] - '0';
                if (digit < 0 || digit > 9) {
                    throw bad(b, from, to, lineNumber, field,
                            "is not an integer, expected decimal digits with an optional sign");
                }
                value = value * 10 + digit;
            }
            if (to - digitsFrom <= SAFE_DECIMAL_DIGITS) {
                return negative ? -value : value;
            }
            try {
                return Long.parseLong(new String(b, from, to - from, StandardCharsets.US_ASCII));
            } catch (NumberFormatException e) {
                throw bad(b, from, to, lineNumber, field, "is out of range, expected an integer in [-2^63, 2^63)");
            }
        }

        /** The field's hex value, 0 .. 2^32 - 1; -1 when it is empty. */
        private long hex(byte[] b, int from, int to, long lineNumber, int field) throws MalformedLineException {
            if (from == to) {
                return -1;
            }
            if (to - from > MAX_HEX_DIGITS) {
                throw bad(b, from, to, lineNumber, field, "is not a category, expected 1 to " + MAX_HEX_DIGITS
                        + " hex digits");
            }
            long value = 0;
            for (int i = from; i < to; i++) {
                int digit = Character.digit(b[i], 16);
                if (digit < 0) {
                    throw bad(b, from, to, lineNumber, field, "is not a category, expected 1 to " + MAX_HEX_DIGITS
                            + " hex digits");
                }
                value = (value << 4) | digit;
            }
            return value;
        }

        private MalformedLineException bad(byte[] b, int from, int to, long lineNumber, int field, String problem) {
            String text = new String(b, from, Math.min(to - from, QUOTE_LIMIT), StandardCharsets.UTF_8);
            if (to - from > QUOTE_LIMIT) {
                text += "...";
            }
            return new MalformedLineException(source + " line " + lineNumber + ", field " + field + " ("
                    + fieldName(field) + "): '" + text + "' " + problem, lineNumber, field);
        }
    }

    /** The name of 1-based field {@code field}: {@code label}, {@code I1}..{@code I13}, {@code C1}..{@code C26}. */
    static String fieldName(int field) {
        if (field == 1) {
            return "label";
        }
        return field <= 1 + CtrDataset.DENSE ? "I" + (field - 1) : "C" + (field - 1 - CtrDataset.DENSE);
    }

    /** A float array that grows by doubling. */
    private static final class FloatList {
        private float[] values;
        private int size;

        FloatList(int capacity) {
            values = new float[capacity];
        }

        void add(float v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, grow(values.length));
            }
            values[size++] = v;
        }

        int size() {
            return size;
        }

        float[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }

    /** A long array that grows by doubling. */
    private static final class LongList {
        private long[] values;
        private int size;

        LongList(int capacity) {
            values = new long[capacity];
        }

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

    /** The next capacity: double, but never past the largest array. */
    private static int grow(int capacity) {
        return (int) Math.min(Integer.MAX_VALUE - 8, 2L * capacity);
    }
}
