package io.gpups.worker.data;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * Reads IDX files, the format of MNIST and Fashion-MNIST, plain or gzipped (recognised by the gzip magic
 * bytes {@code 1f 8b}, whatever the file name says).
 *
 * <pre>
 *  0      1      2      3      4 ...                 4+4n ...
 * +------+------+------+------+--------------------+----------------------------------+
 * | 0x00 | 0x00 | type | n    | n x int32 BE dims  | prod(dims) values, row-major     |
 * +------+------+------+------+--------------------+----------------------------------+
 * </pre>
 *
 * Only type {@code 0x08} (unsigned byte) is supported, the type every MNIST-family file uses.
 * The file must end right after the last value.
 */
public final class IdxReader {

    static final int UNSIGNED_BYTE = 0x08;
    static final int MAX_DIMENSIONS = 8;

    private IdxReader() {
    }

    public static IdxArray read(Path file) throws IOException {
        try (InputStream in = open(file)) {
            return read(in, file.toString());
        }
    }

    /** Reads one IDX array from {@code in}; {@code source} names it in error messages. */
    public static IdxArray read(InputStream in, String source) throws IOException {
        DataInputStream data = new DataInputStream(in);
        byte[] magic = new byte[4];
        readFully(data, magic, source, "the 4-byte magic number");
        if (magic[0] != 0 || magic[1] != 0) {
            throw new IdxFormatException(source + ": not an IDX file, magic number starts with "
                    + hex(magic[0]) + " " + hex(magic[1]) + " instead of 00 00");
        }
        int type = magic[2] & 0xFF;
        if (type != UNSIGNED_BYTE) {
            throw new IdxFormatException(source + ": IDX value type " + hex(magic[2])
                    + " is not supported, only 08 (unsigned byte)");
        }
        int rank = magic[3] & 0xFF;
        if (rank < 1 || rank > MAX_DIMENSIONS) {
            throw new IdxFormatException(source + ": IDX file has " + rank + " dimensions, expected 1.." + MAX_DIMENSIONS);
        }
        int[] dimensions = new int[rank];
        long total = 1;
        for (int i = 0; i < rank; i++) {
            byte[] dim = new byte[4];
            readFully(data, dim, source, "dimension " + i + " of " + rank);
            dimensions[i] = ((dim[0] & 0xFF) << 24) | ((dim[1] & 0xFF) << 16) | ((dim[2] & 0xFF) << 8) | (dim[3] & 0xFF);
            if (dimensions[i] < 0) {
                throw new IdxFormatException(source + ": dimension " + i + " is " + Integer.toUnsignedString(dimensions[i])
                        + ", larger than " + Integer.MAX_VALUE);
            }
            total *= dimensions[i];
            if (total > Integer.MAX_VALUE - 8) {
                throw new IdxFormatException(source + ": " + describe(dimensions, i + 1) + " holds more than "
                        + (Integer.MAX_VALUE - 8) + " values, too many for one array");
            }
        }
        byte[] values = new byte[(int) total];
        int read;
        try {
            read = data.readNBytes(values, 0, values.length);
        } catch (EOFException e) {
            throw new IdxFormatException(source + ": truncated, the compressed stream ends before the "
                    + values.length + " values of dimensions " + describe(dimensions, rank));
        }
        if (read < values.length) {
            throw new IdxFormatException(source + ": truncated, dimensions " + describe(dimensions, rank)
                    + " need " + values.length + " values but the file holds " + read);
        }
        if (data.read() >= 0) {
            throw new IdxFormatException(source + ": unexpected bytes after the " + values.length
                    + " values of dimensions " + describe(dimensions, rank));
        }
        return new IdxArray(dimensions, values);
    }

    /** Opens {@code file}, inflating it when it starts with the gzip magic bytes. */
    static InputStream open(Path file) throws IOException {
        BufferedInputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
        in.mark(2);
        int b0 = in.read();
        int b1 = in.read();
        in.reset();
        if (b0 == 0x1f && b1 == 0x8b) {
            return new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16);
        }
        return in;
    }

    private static void readFully(DataInputStream in, byte[] into, String source, String what) throws IOException {
        try {
            in.readFully(into);
        } catch (EOFException e) {
            throw new IdxFormatException(source + ": truncated, the file ends inside " + what);
        }
    }

    private static String describe(int[] dimensions, int count) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < count; i++) {
            s.append(i == 0 ? "" : "x").append(dimensions[i]);
        }
        return s.toString();
    }

    private static String hex(byte b) {
        return String.format("%02x", b & 0xFF);
    }
}
