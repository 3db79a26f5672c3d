package io.gpups.core.tensor;

/**
 * How a tensor of {@code elements} floats is cut into chunks of at most {@code chunkElements}: chunk c
 * covers elements {@code [c*chunkElements, min((c+1)*chunkElements, elements))}.
 */
public record ChunkLayout(long elements, int chunkElements) {

    /** Default chunk size: 4 MiB of float32. */
    public static final int DEFAULT_CHUNK_BYTES = 4 << 20;

    public ChunkLayout {
        if (elements <= 0) {
            throw new IllegalArgumentException("elements must be > 0, got " + elements);
        }
        if (chunkElements <= 0) {
            throw new IllegalArgumentException("chunk elements must be > 0, got " + chunkElements);
        }
        if ((elements + chunkElements - 1) / chunkElements > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("too many chunks for " + elements + " elements of chunk size " + chunkElements);
        }
    }

    public int chunks() {
        return (int) ((elements + chunkElements - 1) / chunkElements);
    }

    public long offset(int chunk) {
        checkChunk(chunk);
        return (long) chunk * chunkElements;
    }

    public int length(int chunk) {
        checkChunk(chunk);
        return (int) Math.min(chunkElements, elements - (long) chunk * chunkElements);
    }

    private void checkChunk(int chunk) {
        if (chunk < 0 || chunk >= chunks()) {
            throw new IndexOutOfBoundsException("chunk " + chunk + " out of range, tensor has " + chunks() + " chunk(s)");
        }
    }
}
