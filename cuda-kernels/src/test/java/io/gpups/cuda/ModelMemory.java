package io.gpups.cuda;

import org.bytedeco.javacpp.Pointer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * "Device" memory of the host kernel model: a direct buffer starting at a 256-byte boundary, as cuMemAlloc's do, whose
 * address the model's kernels take as a pointer argument. Everything past what a test writes holds a sentinel (a
 * signalling-NaN pattern), so a kernel that writes outside its range is seen by {@link #assertUntouchedOutside}.
 */
final class ModelMemory {

    /** A float bit pattern no kernel produces from the tests' data. */
    static final int SENTINEL = 0x7fa5a5a5;

    private final ByteBuffer bytes;
    private final long address;

    private ModelMemory(long byteCount) {
        if (byteCount > Integer.MAX_VALUE - 512) {
            throw new IllegalArgumentException("model memory of " + byteCount + " bytes is too large");
        }
        int size = (int) Math.max(16, (byteCount + 15) / 16 * 16);
        // alignedSlice also rounds the end down to a multiple of 256: allocate past it, then cut the slice to size.
        this.bytes = ByteBuffer.allocateDirect(size + 512).alignedSlice(256).slice(0, size)
                .order(ByteOrder.LITTLE_ENDIAN);
        this.address = new Pointer(bytes).address();
        for (int i = 0; i + 4 <= bytes.capacity(); i += 4) {
            bytes.putInt(i, SENTINEL);
        }
    }

    static ModelMemory bytes(long count) {
        return new ModelMemory(count);
    }

    static ModelMemory floats(long count) {
        return new ModelMemory(4 * count);
    }

    /** The address of byte {@code byteOffset}: a pointer argument. */
    long at(long byteOffset) {
        return address + byteOffset;
    }

    /** The address of float {@code element}. */
    long floatAt(long element) {
        return address + 4 * element;
    }

    void putFloats(long element, float[] values) {
        for (int i = 0; i < values.length; i++) {
            bytes.putFloat((int) (4 * (element + i)), values[i]);
        }
    }

    float[] floats(long element, int count) {
        float[] out = new float[count];
        for (int i = 0; i < count; i++) {
            out[i] = bytes.getFloat((int) (4 * (element + i)));
        }
        return out;
    }

    /** Copies {@code src}'s remaining bytes to byte {@code at}; src's position is unchanged. */
    void putBytes(long at, ByteBuffer src) {
        bytes.put((int) at, src, src.position(), src.remaining());
    }

    byte[] bytes(long at, int count) {
        byte[] out = new byte[count];
        bytes.get((int) at, out);
        return out;
    }

    int intAt(long byteOffset) {
        return bytes.getInt((int) byteOffset);
    }

    void putInt(long byteOffset, int value) {
        bytes.putInt((int) byteOffset, value);
    }

    ByteBuffer buffer() {
        return bytes;
    }

    /** Fails naming the first float outside {@code [from, from + count)} that is no longer the sentinel. */
    void assertUntouchedOutside(String what, long from, long count) {
        int floats = bytes.capacity() / 4;
        for (int i = 0; i < floats; i++) {
            if ((i < from || i >= from + count) && bytes.getInt(4 * i) != SENTINEL) {
                throw new AssertionError(what + ": element " + i + " outside [" + from + ", " + (from + count)
                        + ") was written: " + bytes.getFloat(4 * i));
            }
        }
    }
}
