package io.gpups.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The kernel images this jar carries (see {@link KernelNames}), read from the class path: the fatbin bytes with an
 * index of what it holds, and the PTX text. Used to load the module and to say precisely why a GPU cannot run it.
 *
 * <p>Fatbin layout (little-endian; what {@code cuobjdump --list-elf / --list-ptx} reads):
 * <pre>
 *   file header (16 bytes)
 *   0      4  magic 0xBA55ED50
 *   4      2  version (1)
 *   6      2  header size (16)
 *   8      8  size of the entries that follow
 *   entry header, then its payload padded to "payload size"; the next entry follows
 *   0      2  kind: 1 = PTX, 2 = ELF (SASS)
 *   2      2  version
 *   4      4  entry header size
 *   8      8  payload size (padded)
 *   28     4  architecture, e.g. 80 for sm_80 / compute_80
 * </pre>
 */
final class KernelImage {

    static final int FATBIN_MAGIC = 0xBA55ED50;
    private static final int KIND_PTX = 1;
    private static final int KIND_ELF = 2;
    private static final Pattern TOOLKIT_RELEASE = Pattern.compile("Cuda compilation tools, release (\\d+)\\.(\\d+)");

    /** One entry of a fatbin: SASS for {@code sm_<arch>} or PTX for {@code compute_<arch>}. */
    record Entry(boolean ptx, int arch) {
        @Override
        public String toString() {
            return (ptx ? "compute_" : "sm_") + arch;
        }
    }

    private KernelImage() {
    }

    /** The entries of a fatbin, in file order; a malformed file is an {@link IllegalArgumentException}. */
    static List<Entry> entries(byte[] fatbin) {
        ByteBuffer b = ByteBuffer.wrap(fatbin).order(ByteOrder.LITTLE_ENDIAN);
        if (fatbin.length < 16 || b.getInt(0) != FATBIN_MAGIC) {
            throw new IllegalArgumentException("not a fatbin: " + fatbin.length + " bytes without magic 0xBA55ED50");
        }
        int headerSize = Short.toUnsignedInt(b.getShort(6));
        long end = headerSize + b.getLong(8);
        if (end > fatbin.length) {
            throw new IllegalArgumentException("fatbin header claims " + end + " bytes, file has " + fatbin.length);
        }
        List<Entry> entries = new ArrayList<>();
        long offset = headerSize;
        while (offset < end) {
            if (offset + 32 > end) {
                throw new IllegalArgumentException("truncated fatbin entry at byte " + offset);
            }
            int at = (int) offset;
            int kind = Short.toUnsignedInt(b.getShort(at));
            long entryHeader = Integer.toUnsignedLong(b.getInt(at + 4));
            long payload = b.getLong(at + 8);
            if (kind != KIND_PTX && kind != KIND_ELF) {
                throw new IllegalArgumentException("fatbin entry at byte " + offset + " has unknown kind " + kind);
            }
            if (entryHeader < 32 || payload < 0) {
                throw new IllegalArgumentException("fatbin entry at byte " + offset + " has header size " + entryHeader
                        + " and payload size " + payload);
            }
            entries.add(new Entry(kind == KIND_PTX, b.getInt(at + 28)));
            offset += entryHeader + payload;
        }
        return entries;
    }

    /**
     * The CUDA release (major * 1000 + minor * 10, the encoding of {@code cuDriverGetVersion}) of the nvcc that wrote
     * this PTX, from its header comment; -1 when the comment is missing.
     */
    static int toolkitVersion(String ptx) {
        Matcher m = TOOLKIT_RELEASE.matcher(ptx);
        return m.find() ? Integer.parseInt(m.group(1)) * 1000 + Integer.parseInt(m.group(2)) * 10 : -1;
    }

    /** {@code 12040} as {@code 12.4}. */
    static String versionString(int cudaVersion) {
        return cudaVersion / 1000 + "." + (cudaVersion % 1000) / 10;
    }

    /** A class-path resource's bytes, or null when the jar does not carry it. */
    static byte[] resource(String name) {
        try (InputStream in = KernelImage.class.getClassLoader().getResourceAsStream(name)) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read class-path resource " + name + ": " + e.getMessage(), e);
        }
    }

    /** The PTX resource as text, or null when absent. */
    static String ptx() {
        byte[] bytes = resource(KernelNames.PTX_RESOURCE);
        return bytes == null ? null : new String(bytes, StandardCharsets.US_ASCII);
    }
}
