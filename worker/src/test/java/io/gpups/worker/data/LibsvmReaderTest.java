package io.gpups.worker.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LibsvmReaderTest {

    @TempDir
    Path dir;

    private static SparseDataset read(String text) throws IOException {
        return LibsvmReader.read(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)), "t.svm");
    }

    private static String failure(String text) {
        return assertThrows(LibsvmReader.MalformedLineException.class, () -> read(text)).getMessage();
    }

    @Test
    void readsLabelsIdsAndValuesInCsrLayout() throws IOException {
        // An id of 2^64 - 1 is unsigned; tabs and runs of spaces separate tokens; a repeated id is kept twice.
        SparseDataset d = read("2 5:1 18446744073709551615:0.5\n0\t7:2  7:1\r\n3 1:1e-3");
        assertArrayEquals(new int[] {2, 0, 3}, d.labels());
        assertArrayEquals(new int[] {0, 2, 4, 5}, d.offsets());
        assertArrayEquals(new long[] {5, -1L, 7, 7, 1}, d.ids());
        assertArrayEquals(new float[] {1f, 0.5f, 2f, 1f, 1e-3f}, d.values());
        assertEquals(4, d.classes());
    }

    @Test
    void minusOneAndPlusOneAreTheBinaryLabels() throws IOException {
        assertArrayEquals(new int[] {0, 1, 1}, read("-1 1:1\n+1 2:1\n1 3:1\n").labels());
    }

    @Test
    void aGzippedDirectoryReadsAsThePlainOne() throws IOException {
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(dir.resolve("train.svm.gz")))) {
            out.write("1 10:1 11:2\n0 12:1\n".getBytes(StandardCharsets.UTF_8));
        }
        Files.writeString(dir.resolve("test.svm"), "2 10:1\n");
        SparseSplit split = LibsvmReader.readDir(dir);
        assertEquals(read("1 10:1 11:2\n0 12:1\n"), split.train());
        assertEquals(read("2 10:1\n"), split.test());
        assertEquals(3, split.classes(), "classes count the labels of both sets");
    }

    @Test
    void aDirectoryWithoutTheFilesNamesThem() throws IOException {
        Files.writeString(dir.resolve("train.svm"), "1 1:1\n");
        IOException e = assertThrows(IOException.class, () -> LibsvmReader.readDir(dir));
        assertTrue(e.getMessage().endsWith("lacks test.svm[.gz]"), e.getMessage());
    }

    @Test
    void anEmptyLineIsNamed() {
        assertEquals("t.svm line 2: empty, expected a label and at least one id:value (id an unsigned 64-bit decimal,"
                + " value a finite float > 0)", failure("1 1:1\n  \n"));
    }

    @Test
    void aLabelWithoutFeaturesIsNamed() {
        assertEquals("t.svm line 1: label '1' alone, expected at least one id:value (id an unsigned 64-bit decimal,"
                + " value a finite float > 0) after it", failure("1\n"));
    }

    @Test
    void aBadLabelIsNamed() {
        for (String label : new String[] {"x", "2.5", "-2", "65536"}) {
            assertEquals("t.svm line 1, token 1: '" + label + "' is not a label, expected a class index 0..65535 (or -1"
                    + " or +1)", failure(label + " 1:1\n"));
        }
    }

    @Test
    void aBadFeatureIsNamed() {
        for (String token : new String[] {"5", "a:1", "5:", ":1", "18446744073709551616:1", "-3:1", "5:x"}) {
            assertEquals("t.svm line 2, token 3: '" + token + "' is not a feature, expected id:value (id an unsigned"
                    + " 64-bit decimal, value a finite float > 0)", failure("0 1:1\n1 2:1 " + token + "\n"), token);
        }
    }

    @Test
    void aValueThatIsNotPositiveAndFiniteIsNamed() {
        for (String token : new String[] {"5:0", "5:-1", "5:NaN", "5:Infinity", "5:1e40", "5:1f"}) {
            assertEquals("t.svm line 1, token 2: '" + token + "' has a value that is not a finite float > 0, expected"
                    + " id:value (id an unsigned 64-bit decimal, value a finite float > 0)", failure("0 " + token), token);
        }
    }

    @Test
    void theLineNumberAndTokenAreOnTheException() {
        LibsvmReader.MalformedLineException e = assertThrows(LibsvmReader.MalformedLineException.class,
                () -> read("0 1:1\n0 1:1\n0 1:1 x\n"));
        assertEquals(3, e.line());
        assertEquals(3, e.token());
    }
}
