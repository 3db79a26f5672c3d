package io.gpups.worker.data;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

/** Builds IDX files byte by byte for tests. */
final class IdxFixtures {

    private IdxFixtures() {
    }

    /**
     * An unsigned-byte IDX file: {@code 00 00 08 <rank>}, each dimension as a big-endian int32, then the
     * values.
     */
    static byte[] idx(int[] dimensions, byte[] values) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0x00);
        out.write(0x00);
        out.write(0x08);
        out.write(dimensions.length);
        for (int d : dimensions) {
            out.write(d >>> 24);
            out.write(d >>> 16);
            out.write(d >>> 8);
            out.write(d);
        }
        out.writeBytes(values);
        return out.toByteArray();
    }

    static byte[] gzip(byte[] bytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** Values 0, 1, 2, ... (mod 256). */
    static byte[] counting(int n) {
        byte[] values = new byte[n];
        for (int i = 0; i < n; i++) {
            values[i] = (byte) i;
        }
        return values;
    }

    static Path write(Path dir, String name, byte[] bytes) {
        try {
            return Files.write(dir.resolve(name), bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A complete miniature Fashion-MNIST directory: {@code train} and {@code test} images of 3x2 pixels, 3 classes. */
    static void writeMiniatureSet(Path dir, int train, int test, boolean gzipped) {
        String suffix = gzipped ? ".gz" : "";
        writeSplit(dir, FashionMnist.TRAIN_IMAGES + suffix, FashionMnist.TRAIN_LABELS + suffix, train, gzipped);
        writeSplit(dir, FashionMnist.TEST_IMAGES + suffix, FashionMnist.TEST_LABELS + suffix, test, gzipped);
    }

    private static void writeSplit(Path dir, String images, String labels, int n, boolean gzipped) {
        byte[] labelValues = new byte[n];
        for (int i = 0; i < n; i++) {
            labelValues[i] = (byte) (i % 3);
        }
        byte[] imageFile = idx(new int[] {n, 3, 2}, counting(n * 6));
        byte[] labelFile = idx(new int[] {n}, labelValues);
        write(dir, images, gzipped ? gzip(imageFile) : imageFile);
        write(dir, labels, gzipped ? gzip(labelFile) : labelFile);
    }

    /** Fails unless {@code message} contains every one of {@code parts}. */
    static void assertMentions(String message, String... parts) {
        for (String part : parts) {
            org.junit.jupiter.api.Assertions.assertTrue(message.contains(part),
                    () -> "expected the message to mention '" + part + "': " + message);
        }
    }
}
