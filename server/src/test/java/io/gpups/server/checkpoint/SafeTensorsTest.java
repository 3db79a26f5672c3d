package io.gpups.server.checkpoint;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The writer against the safetensors specification, byte by byte, and the reader's validation. */
class SafeTensorsTest {

    private static byte[] bytes(SafeTensors.Writer w) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        w.writeTo(Channels.newChannel(out));
        return out.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    @Test
    void matchesAHandComputedFileByteForByte() throws IOException {
        SafeTensors.Writer w = new SafeTensors.Writer()
                .metadata("format", "pt")
                .f32("w", new long[] {2, 2}, new float[] {1.0f, -2.0f, 0.5f, 3.0f})
                .i64("v", new long[] {1}, new long[] {7});
        // The JSON, compact, metadata first, then tensors in data order (I64 before F32 for alignment):
        String json = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"v\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}";
        // 141 bytes: 1 + 14 + 1 + 15 ({"format":"pt"}) + 1 + 3 ("v") + 1 + 48 + 1 + 3 ("w") + 1 + 51 + 1,
        // padded with 3 spaces to 144 so the data starts at 8 + 144 = 152, a multiple of 8.
        assertEquals(141, json.length());
        byte[] expected = concat(
                new byte[] {(byte) 144, 0, 0, 0, 0, 0, 0, 0},                // N = 144, u64 little-endian
                (json + "   ").getBytes(StandardCharsets.US_ASCII),           // header + 3 spaces
                new byte[] {7, 0, 0, 0, 0, 0, 0, 0},                          // v[0] = 7 (I64 LE)
                new byte[] {0, 0, (byte) 0x80, 0x3f},                         // w[0] = 1.0f  = 0x3F800000
                new byte[] {0, 0, 0, (byte) 0xc0},                            // w[1] = -2.0f = 0xC0000000
                new byte[] {0, 0, 0, 0x3f},                                   // w[2] = 0.5f  = 0x3F000000
                new byte[] {0, 0, 0x40, 0x40});                               // w[3] = 3.0f  = 0x40400000
        assertEquals(176, expected.length);
        byte[] got = bytes(w);
        assertArrayEquals(expected, got);
        assertEquals(expected.length, w.fileLength());

        MinimalSafeTensorsReader r = new MinimalSafeTensorsReader(got);
        assertEquals("pt", r.metadata.get("format"));
        assertArrayEquals(new long[] {2, 2}, r.tensors.get("w").shape());
        assertArrayEquals(new double[] {1.0, -2.0, 0.5, 3.0}, r.tensors.get("w").values());
        assertArrayEquals(new double[] {7}, r.tensors.get("v").values());
    }

    @Test
    void randomTensorsRoundTripThroughTheIndependentReaderAndOurs() throws IOException {
        Random rnd = new Random(5);
        SafeTensors.Writer w = new SafeTensors.Writer().metadata("gpups.shard", "1").metadata("quote\"key", "a\\b");
        float[][] parts = new float[3][];
        for (int i = 0; i < parts.length; i++) {
            parts[i] = new float[1 + rnd.nextInt(300_000)];
            for (int j = 0; j < parts[i].length; j++) {
                parts[i][j] = (float) rnd.nextGaussian();
            }
        }
        long total = parts[0].length + parts[1].length + parts[2].length;
        w.f32("param/layer1/w", new long[] {total}, List.of(parts));
        w.f32("odd", new long[] {3}, new float[] {1, 2, 3});
        w.i64("version/x", new long[] {2}, new long[] {5, 6});
        byte[] file = bytes(w);

        MinimalSafeTensorsReader r = new MinimalSafeTensorsReader(file);
        double[] values = r.tensors.get("param/layer1/w").values();
        int k = 0;
        for (float[] p : parts) {
            for (float v : p) {
                assertEquals(v, (float) values[k++]);
            }
        }
        assertArrayEquals(new double[] {5, 6}, r.tensors.get("version/x").values());

        java.nio.file.Path tmp = java.nio.file.Files.createTempFile("st", ".safetensors");
        try {
            java.nio.file.Files.write(tmp, file);
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(tmp)) {
                SafeTensors.Header h = SafeTensors.readHeader(ch, ch.size());
                assertEquals("a\\b", h.metadata().get("quote\"key"));
                assertEquals(r.headerLength + 8, h.dataStart());
                SafeTensors.Entry e = h.entries().get("param/layer1/w");
                float[] slice = SafeTensors.readF32(ch, h, e, parts[0].length, parts[1].length);
                assertArrayEquals(parts[1], slice);
                assertArrayEquals(new long[] {5, 6}, SafeTensors.readI64(ch, h, h.entries().get("version/x")));
            }
        } finally {
            java.nio.file.Files.delete(tmp);
        }
    }

    private static String headerError(String json, long dataLength) {
        IOException e = assertThrows(IOException.class,
                () -> SafeTensors.parseHeader(json.getBytes(StandardCharsets.UTF_8), dataLength));
        return e.getMessage();
    }

    @Test
    void readerRejectsHeadersThatBreakTheFormat() {
        String a = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
        assertTrue(headerError("{" + a + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8)
                .contains("overlapping"));
        assertTrue(headerError("{" + a + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", 16)
                .contains("hole"));
        assertTrue(headerError("{" + a + "}", 4).contains("truncated"));
        assertTrue(headerError("{" + a + "}", 12).contains("trailing"));
        assertTrue(headerError("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8).contains("needs 12 bytes"));
        assertTrue(headerError("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8).contains("dtype 'Q4'"));
        assertTrue(headerError("[1,2]", 0).contains("'{'"));
        assertTrue(headerError("{\"a\":", 0).contains("not valid JSON"));
    }

    @Test
    void readerRejectsATruncatedFile() throws IOException {
        byte[] file = bytes(new SafeTensors.Writer().f32("w", new long[] {4}, new float[] {1, 2, 3, 4}));
        java.nio.file.Path tmp = java.nio.file.Files.createTempFile("st", ".safetensors");
        try {
            for (int cut : new int[] {3, 20, file.length - 1}) {
                java.nio.file.Files.write(tmp, java.util.Arrays.copyOf(file, cut));
                try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(tmp)) {
                    IOException e = assertThrows(IOException.class, () -> SafeTensors.readHeader(ch, ch.size()));
                    assertTrue(e.getMessage().contains("truncated") || e.getMessage().contains("shorter"), e.getMessage());
                }
            }
        } finally {
            java.nio.file.Files.delete(tmp);
        }
    }
}
