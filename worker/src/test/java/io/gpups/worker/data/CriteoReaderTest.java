package io.gpups.worker.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class CriteoReaderTest {

    @TempDir
    Path dir;

    /** A line with every integer empty and every category empty except where set. */
    private static List<String> blank(String label) {
        List<String> fields = new ArrayList<>(Collections.nCopies(CriteoReader.COLUMNS, ""));
        fields.set(0, label);
        return fields;
    }

    private static String line(List<String> fields) {
        return String.join("\t", fields);
    }

    /** Line 1: a click with I1 = 5, I2 = -3, I3 empty, I13 = 0, C1 = 68fd1e64, C2 = upper-case, C26 = "a". */
    private static final String FIRST;
    /** Line 2: no click, every field empty. */
    private static final String SECOND = line(blank("0"));

    static {
        List<String> first = blank("1");
        first.set(1, "5");
        first.set(2, "-3");
        first.set(13, "0");
        first.set(14, "68fd1e64");
        first.set(15, "ABCDEF01");
        first.set(39, "a");
        FIRST = line(first);
    }

    private static CtrDataset read(String text) throws IOException {
        return CriteoReader.read(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)), "train.tsv");
    }

    private static void assertFixture(CtrDataset d) {
        assertEquals(2, d.rows());
        assertArrayEquals(new float[] {1, 0}, d.labels());
        assertEquals(1, d.positives());
        assertEquals((float) Math.log1p(5), d.dense(0, 0));
        assertEquals((float) -Math.log1p(3), d.dense(0, 1));
        assertEquals(0f, d.dense(0, 2));
        assertEquals(0f, d.dense(0, 12));
        assertEquals(CtrDataset.idOf(0, 0x68fd1e64L), d.id(0, 0));
        assertEquals(CtrDataset.idOf(1, 0xABCDEF01L), d.id(0, 1));
        assertEquals(CtrDataset.idOfMissing(2), d.id(0, 2));
        assertEquals(CtrDataset.idOf(25, 0xA), d.id(0, 25));
        for (int f = 0; f < CtrDataset.FIELDS; f++) {
            assertEquals(CtrDataset.idOfMissing(f), d.id(1, f));
        }
        for (int j = 0; j < CtrDataset.DENSE; j++) {
            assertEquals(0f, d.dense(1, j));
        }
    }

    @Test
    void readsEmptyFieldsNegativeIntegersAndHexCategories() throws IOException {
        assertFixture(read(FIRST + "\n" + SECOND + "\n"));
    }

    @Test
    void toleratesCrlfAndALastLineWithoutNewline() throws IOException {
        assertFixture(read(FIRST + "\r\n" + SECOND + "\r\n"));
        assertFixture(read(FIRST + "\n" + SECOND));
        assertFixture(read(FIRST + "\r\n" + SECOND + "\r"));
    }

    @Test
    void readsAGzippedFileLikeThePlainOne() throws IOException {
        Path gz = dir.resolve("train.tsv.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write((FIRST + "\n" + SECOND + "\n").getBytes(StandardCharsets.UTF_8));
        }
        assertFixture(CriteoReader.read(gz));
    }

    @Test
    void readsPlusAndMinusOneLabels() throws IOException {
        CtrDataset d = read(line(blank("+1")) + "\n" + line(blank("-1")) + "\n");
        assertArrayEquals(new float[] {1, 0}, d.labels());
    }

    @Test
    void readsLinesAcrossTheReadersChunks() throws IOException {
        // 2000 lines of about 170 bytes: several 64 KiB chunks, lines split at their edges.
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 2000; i++) {
            List<String> fields = blank(Integer.toString(i % 2));
            fields.set(1, Integer.toString(i));
            for (int f = 14; f < CriteoReader.COLUMNS; f++) {
                fields.set(f, Integer.toHexString(i * 31 + f));
            }
            text.append(line(fields)).append('\n');
        }
        CtrDataset d = read(text.toString());
        assertEquals(2000, d.rows());
        assertEquals(1000, d.positives());
        for (int i = 0; i < 2000; i++) {
            assertEquals(CtrDataset.transform(i), d.dense(i, 0));
            assertEquals(CtrDataset.idOf(25, i * 31 + 39), d.id(i, 25));
        }
    }

    /** The message of reading a file whose line 3 is {@code bad} after two good ones. */
    private static String failureOnLineThree(String bad) {
        CriteoReader.MalformedLineException e = assertThrows(CriteoReader.MalformedLineException.class,
                () -> read(FIRST + "\n" + SECOND + "\n" + bad + "\n" + SECOND + "\n"));
        assertEquals(3, e.line());
        return e.getMessage();
    }

    private static String withField(int index, String text) {
        List<String> fields = blank("0");
        fields.set(index, text);
        return line(fields);
    }

    @Test
    void namesTheFileLineFieldAndTextOfEveryMalformedField() {
        assertEquals("train.tsv line 3, field 3 (I2): 'x1' is not an integer, expected decimal digits with an optional sign",
                failureOnLineThree(withField(2, "x1")));
        assertEquals("train.tsv line 3, field 2 (I1): '-' is not an integer, expected decimal digits with an optional sign",
                failureOnLineThree(withField(1, "-")));
        assertEquals("train.tsv line 3, field 4 (I3): '1.5' is not an integer, expected decimal digits with an optional sign",
                failureOnLineThree(withField(3, "1.5")));
        assertEquals("train.tsv line 3, field 14 (I13): '99999999999999999999' is out of range, expected an integer in [-2^63, 2^63)",
                failureOnLineThree(withField(13, "99999999999999999999")));
        assertEquals("train.tsv line 3, field 1 (label): '2' is not a label, expected 0 or 1 (or -1 or +1)",
                failureOnLineThree(withField(0, "2")));
        assertEquals("train.tsv line 3, field 1 (label): '' is not a label, expected 0 or 1 (or -1 or +1)",
                failureOnLineThree(withField(0, "")));
        assertEquals("train.tsv line 3, field 15 (C1): 'xyz' is not a category, expected 1 to 8 hex digits",
                failureOnLineThree(withField(14, "xyz")));
        assertEquals("train.tsv line 3, field 40 (C26): '123456789' is not a category, expected 1 to 8 hex digits",
                failureOnLineThree(withField(39, "123456789")));
        assertEquals("train.tsv line 3, field 20 (C6): '-1' is not a category, expected 1 to 8 hex digits",
                failureOnLineThree(withField(19, "-1")));
    }

    @Test
    void namesTheLineOfAWrongFieldCountOrAnEmptyLine() {
        assertEquals("train.tsv line 3: 39 tab-separated fields, expected 40 (label, I1..I13, C1..C26)",
                failureOnLineThree(SECOND.substring(1 + 1)));  // drops "0\t": the label and one tab
        assertEquals("train.tsv line 3: more than 40 tab-separated fields, expected 40 (label, I1..I13, C1..C26)",
                failureOnLineThree(SECOND + "\t"));
        assertEquals("train.tsv line 3: empty, expected 40 tab-separated fields", failureOnLineThree(""));
        assertEquals("train.tsv line 3: empty, expected 40 tab-separated fields", failureOnLineThree("\r"));
    }

    @Test
    void refusesALineLongerThanTheLimit() {
        String longLine = withField(1, "1".repeat(CriteoReader.MAX_LINE_BYTES));
        CriteoReader.MalformedLineException e = assertThrows(CriteoReader.MalformedLineException.class,
                () -> read(FIRST + "\n" + longLine + "\n"));
        assertEquals("train.tsv line 2: longer than 65536 bytes, expected 40 tab-separated fields", e.getMessage());
    }

    @Test
    void namesTheFileItReads() throws IOException {
        Path file = dir.resolve("train.tsv");
        Files.writeString(file, FIRST + "\n" + withField(5, "abc") + "\n");
        CriteoReader.MalformedLineException e = assertThrows(CriteoReader.MalformedLineException.class,
                () -> CriteoReader.read(file));
        assertEquals(file + " line 2, field 6 (I5): 'abc' is not an integer, expected decimal digits with an optional sign",
                e.getMessage());
        assertEquals(6, e.field());
    }

    @Test
    void readDirReadsTrainAndTestPlainOrGzipped() throws IOException {
        Files.writeString(dir.resolve("train.tsv"), FIRST + "\n" + SECOND + "\n");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(dir.resolve("test.tsv.gz")))) {
            out.write((SECOND + "\n").getBytes(StandardCharsets.UTF_8));
        }
        CtrSplit split = CriteoReader.readDir(dir);
        assertFixture(split.train());
        assertEquals(1, split.test().rows());
        assertEquals(0, split.test().positives());
    }

    @Test
    void readDirNamesTheFilesItLacks() throws IOException {
        IOException none = assertThrows(IOException.class, () -> CriteoReader.readDir(dir));
        assertEquals("CTR data directory " + dir + " lacks train.tsv[.gz] and test.tsv[.gz]", none.getMessage());
        Files.writeString(dir.resolve("train.tsv"), SECOND + "\n");
        IOException noTest = assertThrows(IOException.class, () -> CriteoReader.readDir(dir));
        assertEquals("CTR data directory " + dir + " lacks test.tsv[.gz]", noTest.getMessage());
        Path absent = dir.resolve("absent");
        assertEquals("CTR data directory " + absent + " does not exist or is not a directory",
                assertThrows(IOException.class, () -> CriteoReader.readDir(absent)).getMessage());
    }
}
