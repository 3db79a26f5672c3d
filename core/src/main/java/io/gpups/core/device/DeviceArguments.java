package io.gpups.core.device;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.CodecPayloads;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Argument checks shared by the devices, so every device words them alike and names the bad values. */
public final class DeviceArguments {

    private DeviceArguments() {
    }

    /** Checks that {@code count} floats fit the buffer from its position; returns their size in bytes. */
    public static long checkFloats(ByteBuffer buffer, String role, int count) {
        if (buffer == null) {
            throw new IllegalArgumentException(role + " buffer is null");
        }
        if (count < 0) {
            throw new IllegalArgumentException(role + ": count must be >= 0, got " + count);
        }
        long bytes = (long) count * Float.BYTES;
        if (bytes > buffer.remaining()) {
            throw new IllegalArgumentException(role + ": count " + count + " floats (" + bytes
                    + " bytes) exceeds the " + buffer.remaining() + " bytes remaining in the buffer");
        }
        return bytes;
    }

    /** Checks that {@code bytes} bytes fit the buffer from its position. */
    public static void checkBytes(ByteBuffer buffer, String role, long bytes) {
        if (buffer == null) {
            throw new IllegalArgumentException(role + " buffer is null");
        }
        if (bytes > buffer.remaining()) {
            throw new IllegalArgumentException(role + ": " + bytes + " bytes needed, the buffer has "
                    + buffer.remaining() + " remaining");
        }
    }

    /** Checks that {@code [offset, offset + count)} lies inside a host array. */
    public static void checkArrayRange(String role, float[] array, int offset, int count) {
        if (array == null) {
            throw new IllegalArgumentException(role + " array is null");
        }
        if (offset < 0 || count < 0 || offset > array.length - count) {
            throw new IllegalArgumentException(role + ": offset " + offset + " + count " + count
                    + " does not fit an array of " + array.length + " floats");
        }
    }

    /** Checks a matrix shape. */
    public static void checkShape(String op, int rows, int cols) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException(op + ": rows and cols must be >= 0, got rows=" + rows + " cols=" + cols);
        }
    }

    /** Checks that {@code [offset, offset + count)} lies inside {@code buffer}'s elements. */
    public static void checkRange(String role, DeviceBuffer buffer, long offset, long count) {
        if (offset < 0 || count < 0) {
            throw new IllegalArgumentException(role + ": offset " + offset + " and count " + count + " must be >= 0");
        }
        if (offset > buffer.elements() - count) {
            throw new IllegalArgumentException(role + ": offset " + offset + " + count " + count + " exceeds the "
                    + buffer.elements() + " floats of " + buffer);
        }
    }

    /**
     * Checks that the payload holds what its codec reads for {@code count} elements, so no kernel reads past it;
     * returns a sparse payload's k (0 for dense codecs). The full check (exact length, top-k indices ascending and in
     * range) is {@link CodecPayloads#check}'s, done before a payload reaches a device.
     */
    public static int checkPayload(Codec.Kind codec, ByteBuffer payload, int count) {
        if (codec == null) {
            throw new IllegalArgumentException("codec is null");
        }
        if (payload == null) {
            throw new IllegalArgumentException("payload buffer is null");
        }
        int bytes = payload.remaining();
        long k = 0;
        long needed = switch (codec) {
            case NONE -> 4L * count;
            case FP16, BF16 -> 2L * count;
            case INT8 -> 4L * Codec.blocks(count) + count;
            case SIGN -> 4L * Codec.blocks(count) + 4L * Codec.words(count);
            case TOPK, RANDOMK -> {
                if (bytes < CodecPayloads.SPARSE_HEADER) {
                    yield CodecPayloads.SPARSE_HEADER;
                }
                k = Integer.toUnsignedLong(payload.duplicate().order(ByteOrder.LITTLE_ENDIAN).getInt(payload.position()));
                if (k > count || (codec == Codec.Kind.RANDOMK && k == 0)) {
                    throw new IllegalArgumentException(codec.cliName + " payload k " + k + " out of range "
                            + (codec == Codec.Kind.RANDOMK ? 1 : 0) + ".." + count);
                }
                yield CodecPayloads.SPARSE_HEADER + (codec == Codec.Kind.TOPK ? 8 : 4) * k;
            }
        };
        if (bytes < needed) {
            throw new IllegalArgumentException(codec.cliName + " payload for " + count + " elements needs " + needed
                    + " bytes, got " + bytes);
        }
        return (int) k;
    }
}
