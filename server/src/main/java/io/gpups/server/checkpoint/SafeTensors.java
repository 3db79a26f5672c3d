package io.gpups.server.checkpoint;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors file format (https://github.com/huggingface/safetensors), as PyTorch's
 * {@code safetensors.torch.load_file} reads it:
 * <pre>
 *  0              8                      8+N
 *  +--------------+----------------------+------------------------------------------
 *  | N (u64, LE)  | header: N bytes JSON | data: the tensors' bytes, little-endian,
 *  +--------------+----------------------+ back to back, no holes
 *
 *  header = {"__metadata__":{"k":"v",...},
 *            "name":{"dtype":"F32","shape":[d0,d1,...],"data_offsets":[begin,end]}, ...}
 * </pre>
 * Offsets are relative to the start of the data section; {@code end - begin} is the element count times
 * the dtype's size. The writer emits compact JSON (no whitespace), the metadata first, then the tensors in
 * data order, and pads the header with spaces (0x20) so the data starts 8-byte aligned. It lays out I64
 * tensors before F32 ones so every tensor is aligned to its element size. Metadata values are strings, as
 * the format requires.
 */
public final class SafeTensors {

    private SafeTensors() {
    }

    /** Largest header accepted when reading (the reference implementation's limit). */
    public static final long MAX_HEADER_BYTES = 100L << 20;

    /** The element types gpups writes (the format has more; a reader rejects the others by name). */
    public enum Dtype {
        F32(4), I64(8);

        public final int bytes;

        Dtype(int bytes) {
            this.bytes = bytes;
        }
    }

    /** One tensor in a header: offsets relative to the data section. */
    public record Entry(String name, Dtype dtype, long[] shape, long begin, long end) {
        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Entry e && name.equals(e.name) && dtype == e.dtype && Arrays.equals(shape, e.shape)
                    && begin == e.begin && end == e.end;
        }

        @Override
        public int hashCode() {
            return name.hashCode();
        }

        @Override
        public String toString() {
            return name + " " + dtype + Arrays.toString(shape) + " [" + begin + ", " + end + ")";
        }
    }

    /** A parsed header: entries by name (in data order), metadata, and where the data section starts. */
    public record Header(Map<String, Entry> entries, Map<String, String> metadata, long dataStart, long dataLength) {
    }

    /** Where a tensor's bytes come from while the file is written. */
    public interface Source {
        /** Puts exactly the tensor's bytes, little-endian, into {@code out} (called with a large enough buffer). */
        void write(ByteBuffer out);
    }

    /**
     * Builds one file: add tensors, then {@link #writeTo}. The data of {@code float[]} and {@code long[]}
     * arrays is referenced, not copied, until written.
     */
    public static final class Writer {
        private record Pending(String name, Dtype dtype, long[] shape, long bytes, Object data) {
        }

        private final List<Pending> tensors = new ArrayList<>();
        private final Map<String, String> metadata = new LinkedHashMap<>();

        public Writer metadata(String key, String value) {
            metadata.put(key, value);
            return this;
        }

        /** A float32 tensor of {@code shape} whose elements are {@code parts} concatenated. */
        public Writer f32(String name, long[] shape, List<float[]> parts) {
            long n = 0;
            for (float[] p : parts) {
                n += p.length;
            }
            return add(name, Dtype.F32, shape, n, List.copyOf(parts));
        }

        public Writer f32(String name, long[] shape, float[] values) {
            return f32(name, shape, List.of(values));
        }

        public Writer i64(String name, long[] shape, long[] values) {
            return add(name, Dtype.I64, shape, values.length, values.clone());
        }

        private Writer add(String name, Dtype dtype, long[] shape, long elements, Object data) {
            if (name.equals("__metadata__") || tensors.stream().anyMatch(t -> t.name.equals(name))) {
                throw new IllegalArgumentException("safetensors: tensor name '" + name + "' is reserved or used twice");
            }
            long n = 1;
            for (long d : shape) {
                if (d < 0) {
                    throw new IllegalArgumentException("safetensors: tensor '" + name + "' has a negative dimension: " + Arrays.toString(shape));
                }
                n *= d;
            }
            if (n != elements) {
                throw new IllegalArgumentException("safetensors: tensor '" + name + "' of shape " + Arrays.toString(shape)
                        + " needs " + n + " elements, got " + elements);
            }
            tensors.add(new Pending(name, dtype, shape.clone(), elements * dtype.bytes, data));
            return this;
        }

        /** Data order: wider dtypes first (I64 before F32), then in the order added. */
        private List<Pending> ordered() {
            List<Pending> out = new ArrayList<>(tensors);
            out.sort(Comparator.comparingInt((Pending p) -> -p.dtype.bytes));
            return out;
        }

        /** The header, JSON and padding included, exactly as written (without the 8-byte length). */
        public byte[] header() {
            ByteArrayOutputStream json = new ByteArrayOutputStream();
            try (JsonGenerator g = new JsonFactory().createGenerator(json)) {
                g.writeStartObject();
                if (!metadata.isEmpty()) {
                    g.writeObjectFieldStart("__metadata__");
                    for (Map.Entry<String, String> e : metadata.entrySet()) {
                        g.writeStringField(e.getKey(), e.getValue());
                    }
                    g.writeEndObject();
                }
                long at = 0;
                for (Pending p : ordered()) {
                    g.writeObjectFieldStart(p.name);
                    g.writeStringField("dtype", p.dtype.name());
                    g.writeArrayFieldStart("shape");
                    for (long d : p.shape) {
                        g.writeNumber(d);
                    }
                    g.writeEndArray();
                    g.writeArrayFieldStart("data_offsets");
                    g.writeNumber(at);
                    g.writeNumber(at + p.bytes);
                    g.writeEndArray();
                    g.writeEndObject();
                    at += p.bytes;
                }
                g.writeEndObject();
            } catch (IOException e) {
                throw new IllegalStateException("cannot happen: writing JSON to memory", e);
            }
            byte[] raw = json.toByteArray();
            byte[] padded = Arrays.copyOf(raw, (raw.length + 7) & ~7);
            Arrays.fill(padded, raw.length, padded.length, (byte) ' ');
            return padded;
        }

        /** Bytes of the whole file. */
        public long fileLength() {
            return 8L + header().length + tensors.stream().mapToLong(Pending::bytes).sum();
        }

        /** Writes the whole file to {@code out}, streaming the data through one buffer. */
        public void writeTo(WritableByteChannel out) throws IOException {
            byte[] header = header();
            ByteBuffer head = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(header.length).put(header).flip();
            writeFully(out, head);
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (Pending p : ordered()) {
                if (p.data instanceof long[] longs) {
                    for (long v : longs) {
                        if (buf.remaining() < 8) {
                            drain(out, buf);
                        }
                        buf.putLong(v);
                    }
                } else {
                    @SuppressWarnings("unchecked")
                    List<float[]> parts = (List<float[]>) p.data;
                    for (float[] part : parts) {
                        int i = 0;
                        while (i < part.length) {
                            if (buf.remaining() < 4) {
                                drain(out, buf);
                            }
                            int n = Math.min(part.length - i, buf.remaining() / 4);
                            buf.asFloatBuffer().put(part, i, n);
                            buf.position(buf.position() + 4 * n);
                            i += n;
                        }
                    }
                }
            }
            drain(out, buf);
        }

        private static void drain(WritableByteChannel out, ByteBuffer buf) throws IOException {
            buf.flip();
            writeFully(out, buf);
            buf.clear();
        }

        private static void writeFully(WritableByteChannel out, ByteBuffer buf) throws IOException {
            while (buf.hasRemaining()) {
                out.write(buf);
            }
        }
    }

    // ---- reading ------------------------------------------------------------------------------------------

    /**
     * Reads and validates the header of a file of {@code fileLength} bytes: the length field, UTF-8 JSON
     * object, every entry's dtype, shape and offsets, and that the entries cover the data section exactly,
     * back to back. Throws {@link IOException} naming what is wrong.
     */
    public static Header readHeader(FileChannel ch, long fileLength) throws IOException {
        if (fileLength < 8) {
            throw new IOException("safetensors: file is " + fileLength + " bytes, shorter than the 8-byte header length");
        }
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, len, 0);
        long n = len.getLong(0);
        if (n < 2 || n > MAX_HEADER_BYTES || n > fileLength - 8) {
            throw new IOException("safetensors: header length " + n + " is impossible for a file of " + fileLength
                    + " bytes (truncated or not a safetensors file)");
        }
        ByteBuffer json = ByteBuffer.allocate((int) n);
        readFully(ch, json, 8);
        return parseHeader(json.array(), fileLength - 8 - n);
    }

    /** Parses header bytes (JSON plus padding) for a data section of {@code dataLength} bytes. */
    public static Header parseHeader(byte[] headerBytes, long dataLength) throws IOException {
        if (headerBytes.length == 0 || headerBytes[0] != '{') {
            throw new IOException("safetensors: header does not start with '{'");
        }
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(new String(headerBytes, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IOException("safetensors: header is not valid JSON: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw new IOException("safetensors: header is not a JSON object");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        List<Entry> entries = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            JsonNode v = f.getValue();
            if (f.getKey().equals("__metadata__")) {
                if (!v.isObject()) {
                    throw new IOException("safetensors: __metadata__ is not an object");
                }
                for (Iterator<Map.Entry<String, JsonNode>> m = v.fields(); m.hasNext(); ) {
                    Map.Entry<String, JsonNode> kv = m.next();
                    if (!kv.getValue().isTextual()) {
                        throw new IOException("safetensors: __metadata__ value of '" + kv.getKey() + "' is not a string");
                    }
                    metadata.put(kv.getKey(), kv.getValue().asText());
                }
                continue;
            }
            entries.add(entry(f.getKey(), v));
        }
        entries.sort(Comparator.comparingLong(Entry::begin));
        long at = 0;
        for (Entry e : entries) {
            if (e.begin != at) {
                throw new IOException("safetensors: tensor '" + e.name + "' starts at " + e.begin + ", expected " + at
                        + (e.begin < at ? " (overlapping tensors)" : " (a hole in the data)"));
            }
            at = e.end;
        }
        if (at != dataLength) {
            throw new IOException("safetensors: tensors cover " + at + " data bytes, the file holds " + dataLength
                    + (at > dataLength ? " (truncated)" : " (trailing bytes)"));
        }
        Map<String, Entry> byName = new LinkedHashMap<>();
        for (Entry e : entries) {
            byName.put(e.name, e);
        }
        return new Header(Collections.unmodifiableMap(byName), Collections.unmodifiableMap(metadata),
                8L + headerBytes.length, dataLength);
    }

    private static Entry entry(String name, JsonNode v) throws IOException {
        if (!v.isObject()) {
            throw new IOException("safetensors: entry '" + name + "' is not an object");
        }
        Dtype dtype;
        try {
            dtype = Dtype.valueOf(v.path("dtype").asText());
        } catch (IllegalArgumentException e) {
            throw new IOException("safetensors: tensor '" + name + "' has dtype '" + v.path("dtype").asText()
                    + "', gpups reads F32 and I64");
        }
        JsonNode shapeNode = v.path("shape");
        JsonNode offsets = v.path("data_offsets");
        if (!shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
            throw new IOException("safetensors: tensor '" + name + "' lacks a shape array or a [begin, end] data_offsets");
        }
        long[] shape = new long[shapeNode.size()];
        long n = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.canConvertToLong() || d.asLong() < 0) {
                throw new IOException("safetensors: tensor '" + name + "' has a bad dimension " + d);
            }
            shape[i] = d.asLong();
            n = Math.multiplyExact(n, shape[i]);
        }
        long begin = offsets.get(0).asLong(-1);
        long end = offsets.get(1).asLong(-1);
        if (!offsets.get(0).canConvertToLong() || !offsets.get(1).canConvertToLong() || begin < 0 || end < begin) {
            throw new IOException("safetensors: tensor '" + name + "' has bad data_offsets " + offsets);
        }
        if (end - begin != n * dtype.bytes) {
            throw new IOException("safetensors: tensor '" + name + "' of shape " + Arrays.toString(shape) + " " + dtype
                    + " needs " + n * dtype.bytes + " bytes, data_offsets give " + (end - begin));
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    /** Reads {@code count} float32 values of {@code e} starting at element {@code first}. */
    public static float[] readF32(FileChannel ch, Header h, Entry e, long first, int count) throws IOException {
        if (e.dtype != Dtype.F32 || first < 0 || first + count > e.elements()) {
            throw new IOException("safetensors: cannot read " + count + " F32 values at " + first + " of " + e);
        }
        ByteBuffer buf = ByteBuffer.allocate(4 * count).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, buf, h.dataStart() + e.begin + 4 * first);
        float[] out = new float[count];
        buf.asFloatBuffer().get(out);
        return out;
    }

    /** Reads every value of an I64 tensor. */
    public static long[] readI64(FileChannel ch, Header h, Entry e) throws IOException {
        if (e.dtype != Dtype.I64) {
            throw new IOException("safetensors: " + e + " is not I64");
        }
        ByteBuffer buf = ByteBuffer.allocate((int) (e.end - e.begin)).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, buf, h.dataStart() + e.begin);
        long[] out = new long[(int) e.elements()];
        buf.asLongBuffer().get(out);
        return out;
    }

    /** Reads {@code count} int64 values of {@code e} starting at element {@code first}. */
    public static long[] readI64(FileChannel ch, Header h, Entry e, long first, int count) throws IOException {
        if (e.dtype != Dtype.I64 || first < 0 || count < 0 || first + count > e.elements()) {
            throw new IOException("safetensors: cannot read " + count + " I64 values at " + first + " of " + e);
        }
        ByteBuffer buf = ByteBuffer.allocate(8 * count).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, buf, h.dataStart() + e.begin + 8 * first);
        long[] out = new long[count];
        buf.asLongBuffer().get(out);
        return out;
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long at = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, at);
            if (n < 0) {
                throw new IOException("safetensors: unexpected end of file at byte " + at + " (truncated)");
            }
            at += n;
        }
        buf.flip();
    }
}
