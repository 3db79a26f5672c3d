package io.gpups.server;

import io.gpups.core.tensor.ChunkLayout;

import java.nio.charset.StandardCharsets;

/**
 * What one REGISTER takes from a shard's {@code --max-registered-bytes}: the device bytes of the chunks it
 * places here (parameters, optimizer slots, the bsp sum) plus a floor for what the shard keeps about the tensor
 * whatever its size ({@value #METADATA_FLOOR_BYTES} bytes and the name's UTF-8 length: its definition, its chunk
 * map and its entry in every checkpoint manifest). The floor is what stops a flood of tiny registrations, whose
 * device bytes alone would round to nothing.
 */
final class RegistrationBytes {

    /** Bytes counted for a tensor's metadata, beside its name's length. */
    static final long METADATA_FLOOR_BYTES = 4096;

    private RegistrationBytes() {
    }

    static long metadataBytes(String name) {
        return METADATA_FLOOR_BYTES + name.getBytes(StandardCharsets.UTF_8).length;
    }

    /** The bytes a registration of {@code chunks} of a tensor laid out as {@code layout} counts. */
    static long of(String name, ChunkLayout layout, int[] chunks, int slots, boolean bsp) {
        long bytes = metadataBytes(name);
        for (int c : chunks) {
            bytes += ChunkState.deviceBytes(layout.length(c), slots, bsp);
        }
        return bytes;
    }
}
