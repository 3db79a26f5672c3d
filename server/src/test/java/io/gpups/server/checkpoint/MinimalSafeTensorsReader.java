package io.gpups.server.checkpoint;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An independent reader of the safetensors format, written from the specification only (no code shared
 * with {@link SafeTensors}, no JSON library): it checks every rule a file must follow and returns the
 * tensors' values. It only understands the compact JSON writers emit, which is enough for tests.
 */
final class MinimalSafeTensorsReader {

    record Tensor(String dtype, long[] shape, long begin, long end, double[] values) {
    }

    private static final Pattern ENTRY = Pattern.compile(
            "\"((?:[^\"\\\\]|\\\\.)+)\":\\{\"dtype\":\"(\\w+)\",\"shape\":\\[([0-9,]*)\\],\"data_offsets\":\\[(\\d+),(\\d+)\\]\\}");
    private static final String STRING = "\"(?:[^\"\\\\]|\\\\.)*\"";
    private static final Pattern METADATA = Pattern.compile("\"__metadata__\":\\{((?:" + STRING + ":" + STRING + ",?)*)\\}");

    /** A JSON string's text, with the escapes \\" and \\\\ undone (all a test needs). */
    private static String unquote(String quoted) {
        return quoted.substring(1, quoted.length() - 1).replace("\\\"", "\"").replace("\\\\", "\\");
    }

    final Map<String, Tensor> tensors = new LinkedHashMap<>();
    final Map<String, String> metadata = new LinkedHashMap<>();
    final long headerLength;

    MinimalSafeTensorsReader(byte[] file) {
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        headerLength = b.getLong(0);
        assertTrue(headerLength > 0 && 8 + headerLength <= file.length, "header length " + headerLength);
        assertEquals(0, (8 + headerLength) % 8, "data section starts 8-byte aligned");
        String header = new String(file, 8, (int) headerLength, StandardCharsets.UTF_8);
        assertTrue(header.startsWith("{"), "header starts with '{'");
        String json = header.stripTrailing();
        assertTrue(header.substring(json.length()).chars().allMatch(c -> c == ' '), "padding is spaces only");
        Matcher meta = METADATA.matcher(json);
        if (meta.find()) {
            Matcher kv = Pattern.compile("(" + STRING + "):(" + STRING + ")").matcher(meta.group(1));
            while (kv.find()) {
                metadata.put(unquote(kv.group(1)), unquote(kv.group(2)));
            }
        }
        String withoutMeta = meta.replaceFirst("");
        Matcher m = ENTRY.matcher(withoutMeta);
        List<Tensor> byOffset = new ArrayList<>();
        int matchedChars = 0;
        long dataStart = 8 + headerLength;
        while (m.find()) {
            matchedChars += m.group().length();
            String dtype = m.group(2);
            String[] dims = m.group(3).isEmpty() ? new String[0] : m.group(3).split(",");
            long[] shape = new long[dims.length];
            long n = 1;
            for (int i = 0; i < dims.length; i++) {
                shape[i] = Long.parseLong(dims[i]);
                n *= shape[i];
            }
            long begin = Long.parseLong(m.group(4));
            long end = Long.parseLong(m.group(5));
            int size = switch (dtype) {
                case "F32" -> 4;
                case "I64", "F64" -> 8;
                default -> throw new AssertionError("unexpected dtype " + dtype);
            };
            assertEquals(n * size, end - begin, m.group(1) + ": data_offsets span = elements x dtype size");
            double[] values = new double[(int) n];
            for (int i = 0; i < n; i++) {
                int at = (int) (dataStart + begin + (long) i * size);
                values[i] = dtype.equals("F32") ? b.getFloat(at) : dtype.equals("I64") ? b.getLong(at) : b.getDouble(at);
            }
            Tensor t = new Tensor(dtype, shape, begin, end, values);
            tensors.put(m.group(1), t);
            byOffset.add(t);
        }
        // Everything between the braces is entries and commas: nothing was left unparsed.
        String leftover = ENTRY.matcher(withoutMeta).replaceAll("");
        assertTrue(leftover.matches("\\{,*\\}"), "every header entry was understood, left: " + leftover);
        assertTrue(matchedChars > 0 || tensors.isEmpty());
        byOffset.sort(Comparator.comparingLong(Tensor::begin));
        long at = 0;
        for (Tensor t : byOffset) {
            assertEquals(at, t.begin(), "tensors are contiguous, non-overlapping");
            at = t.end();
        }
        assertEquals(file.length - dataStart, at, "tensors cover the whole data section");
    }
}
