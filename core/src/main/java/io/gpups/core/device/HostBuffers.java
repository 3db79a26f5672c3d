package io.gpups.core.device;

import java.nio.ByteBuffer;

/** Argument checks for the host buffers devices read and write, shared so every device words them alike. */
public final class HostBuffers {

    private HostBuffers() {
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
}
