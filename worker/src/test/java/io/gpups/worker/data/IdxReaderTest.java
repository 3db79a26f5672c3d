package io.gpups.worker.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;

import static io.gpups.worker.data.IdxFixtures.counting;
import static io.gpups.worker.data.IdxFixtures.gzip;
import static io.gpups.worker.data.IdxFixtures.idx;
import static io.gpups.worker.data.IdxFixtures.write;
import static io.gpups.worker.data.IdxFixtures.assertMentions;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class IdxReaderTest {

    @TempDir
    Path dir;

    @Test
    void readsPlainThreeDimensionalImages() throws IOException {
        // 00 00 08 03 | 00 00 00 02 | 00 00 00 03 | 00 00 00 04 | 24 values
        Path file = write(dir, "images", idx(new int[] {2, 3, 4}, counting(24)));

        IdxArray images = IdxReader.read(file);

        assertArrayEquals(new int[] {2, 3, 4}, images.dimensions());
        assertEquals(2, images.items());
        assertEquals(12, images.itemSize());
        assertEquals(23, images.unsigned(23));
    }

    @Test
    void readsGzippedLabelsWhateverTheFileName() throws IOException {
        byte[] labels = {9, 0, (byte) 200};
        Path file = write(dir, "labels-without-gz-suffix", gzip(idx(new int[] {3}, labels)));

        IdxArray read = IdxReader.read(file);

        assertArrayEquals(new int[] {3}, read.dimensions());
        assertEquals(1, read.itemSize());
        assertArrayEquals(new int[] {9, 0, 200}, new int[] {read.unsigned(0), read.unsigned(1), read.unsigned(2)});
    }

    @Test
    void rejectsABadMagicNumberNamingTheFile() {
        byte[] bytes = idx(new int[] {1}, new byte[] {1});
        bytes[1] = 0x12;
        Path file = write(dir, "bad-magic", bytes);

        assertMentions(readError(file), file.toString(), "magic", "12");
    }

    @Test
    void rejectsAnUnsupportedValueType() {
        byte[] bytes = idx(new int[] {1}, new byte[4]);
        bytes[2] = 0x0D; // float
        Path file = write(dir, "floats", bytes);

        assertMentions(readError(file), file.toString(), "0d", "08");
    }

    @Test
    void rejectsTruncatedValues() {
        byte[] whole = idx(new int[] {2, 3, 4}, counting(24));
        Path file = write(dir, "short", Arrays.copyOf(whole, whole.length - 5));

        assertMentions(readError(file), file.toString(), "truncated", "2x3x4", "24", "19");
    }

    @Test
    void rejectsATruncatedHeader() {
        byte[] whole = idx(new int[] {2, 3, 4}, counting(24));
        Path file = write(dir, "header", Arrays.copyOf(whole, 10));

        assertMentions(readError(file), file.toString(), "truncated", "dimension 1");
    }

    @Test
    void rejectsATruncatedGzipStream() {
        byte[] gz = gzip(idx(new int[] {50, 10}, counting(500)));
        Path file = write(dir, "short.gz", Arrays.copyOf(gz, gz.length / 2));

        assertMentions(readError(file), file.toString(), "truncated");
    }

    @Test
    void rejectsTrailingBytes() {
        byte[] whole = idx(new int[] {2}, new byte[] {1, 2});
        Path file = write(dir, "long", Arrays.copyOf(whole, whole.length + 1));

        assertMentions(readError(file), file.toString(), "after the 2 values");
    }

    @Test
    void rejectsImagesAndLabelsOfDifferentCounts() throws IOException {
        Path images = write(dir, "images", idx(new int[] {3, 2, 2}, counting(12)));
        Path labels = write(dir, "labels", idx(new int[] {2}, new byte[] {0, 1}));

        IdxFormatException e = assertThrows(IdxFormatException.class,
                () -> Dataset.fromIdx("t", IdxReader.read(images), IdxReader.read(labels), images.toString(),
                        labels.toString()));

        assertMentions(e.getMessage(), images.toString(), "3 images", labels.toString(), "2 labels");
    }

    @Test
    void scalesPixelsToTheUnitIntervalAndCountsClasses() throws IOException {
        IdxArray images = IdxReader.read(write(dir, "i", idx(new int[] {2, 1, 2}, new byte[] {0, (byte) 255, 51, 102})));
        IdxArray labels = IdxReader.read(write(dir, "l", idx(new int[] {2}, new byte[] {4, 1})));

        Dataset data = Dataset.fromIdx("t", images, labels, "i", "l");

        assertEquals(2, data.samples());
        assertEquals(2, data.featureCount());
        assertEquals(5, data.classes());
        assertArrayEquals(new float[] {0f, 1f, 0.2f, 0.4f}, data.features(), 1e-6f);
    }

    private static String readError(Path file) {
        IdxFormatException e = assertThrows(IdxFormatException.class,
                () -> IdxReader.read(file));
        return e.getMessage();
    }
}
