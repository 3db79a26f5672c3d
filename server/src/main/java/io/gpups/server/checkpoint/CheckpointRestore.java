package io.gpups.server.checkpoint;

import io.gpups.core.tensor.ChunkLayout;
import io.gpups.core.tensor.TensorSpec;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A complete checkpoint opened for restoring: answers, for any tensor and chunk, the parameters, optimizer
 * state and version, reading whichever old shard's file holds them. So a shard of a job with a different
 * shard count fills the chunks it is given at REGISTER, wherever they were before. Used by one thread (the
 * shard's agent).
 */
public final class CheckpointRestore {

    /** A restored chunk: version, parameters, and the optimizer slots in device order. */
    public record Chunk(long version, float[] param, float[][] slots) {
    }

    private final Path directory;
    private final Manifest manifest;
    private final Map<String, Manifest.TensorEntry> tensors = new HashMap<>();
    private final Map<String, SafeTensors.Header> headers = new HashMap<>();

    public CheckpointRestore(CheckpointCatalog.Found found) {
        if (!found.complete()) {
            throw new IllegalArgumentException("checkpoint " + found.directory() + " is not complete: " + found.problem());
        }
        this.directory = found.directory();
        this.manifest = found.manifest();
        for (Manifest.TensorEntry t : manifest.tensors()) {
            tensors.put(t.name(), t);
        }
    }

    public Path directory() {
        return directory;
    }

    public Manifest manifest() {
        return manifest;
    }

    /** The checkpoint's entry for a tensor, or null when the checkpoint does not hold it. */
    public Manifest.TensorEntry tensor(String name) {
        return tensors.get(name);
    }

    /**
     * Checks that a registration can be filled from the checkpoint: same shape and the same optimizer kind
     * (hyper-parameters may change between runs). Chunks may be cut differently from the checkpoint's (another
     * {@code --chunk-bytes}, or a placement that lays the model out in pieces) when all of the tensor's chunks in the
     * checkpoint are at one version, as under bsp, so that each new chunk has one version. Returns null when it can,
     * else what differs.
     */
    public String incompatibility(TensorSpec spec, int chunkElements) {
        Manifest.TensorEntry t = tensors.get(spec.name());
        if (t == null) {
            return null;
        }
        if (!Arrays.equals(t.shape(), spec.shape())) {
            return "shape " + Arrays.toString(spec.shape()) + " differs from the checkpoint's " + Arrays.toString(t.shape());
        }
        if (t.chunkElements() != chunkElements) {
            long min = t.chunks().stream().mapToLong(Manifest.ChunkEntry::version).min().orElse(0);
            long max = t.chunks().stream().mapToLong(Manifest.ChunkEntry::version).max().orElse(0);
            if (min != max) {
                return "chunk size " + chunkElements + " elements differs from the checkpoint's " + t.chunkElements()
                        + ", whose chunks are at versions " + min + ".." + max + " (restore into the layout it was written in: the"
                        + " same model, --chunk-bytes and shard count)";
            }
        }
        String kind = spec.optimizer().kind().cliName();
        if (!kind.equals(t.optimizer().kind())) {
            return "optimizer " + kind + " differs from the checkpoint's " + t.optimizer().kind()
                    + " (its state cannot be carried over)";
        }
        return null;
    }

    /**
     * Reads chunk {@code chunk} of {@code tensor} as {@code layout} cuts it, from the checkpoint's chunks that cover
     * it (one, when the layouts agree); the tensor must be in the checkpoint and pass {@link #incompatibility}.
     */
    public Chunk read(String tensor, ChunkLayout layout, int chunk) throws IOException {
        Manifest.TensorEntry t = tensors.get(tensor);
        if (t == null || layout.elements() != t.elements()) {
            throw new IllegalArgumentException("checkpoint " + directory.getFileName() + " holds no tensor '" + tensor
                    + "' of " + layout.elements() + " elements");
        }
        if (layout.chunkElements() == t.chunkElements()) {
            return read(tensor, chunk);
        }
        ChunkLayout old = new ChunkLayout(t.elements(), t.chunkElements());
        long from = layout.offset(chunk);
        int length = layout.length(chunk);
        float[] param = new float[length];
        float[][] slots = null;
        long version = -1;
        for (int c = (int) (from / old.chunkElements()); c < old.chunks() && old.offset(c) < from + length; c++) {
            Chunk part = read(tensor, c);
            if (version >= 0 && part.version() != version) {
                throw new IllegalArgumentException("chunk " + chunk + " of '" + tensor + "' spans checkpoint chunks at versions "
                        + version + " and " + part.version());
            }
            version = part.version();
            if (slots == null) {
                slots = new float[part.slots().length][length];
            }
            long start = Math.max(from, old.offset(c));
            int count = (int) (Math.min(from + length, old.offset(c) + old.length(c)) - start);
            System.arraycopy(part.param(), (int) (start - old.offset(c)), param, (int) (start - from), count);
            for (int k = 0; k < slots.length; k++) {
                System.arraycopy(part.slots()[k], (int) (start - old.offset(c)), slots[k], (int) (start - from), count);
            }
        }
        return new Chunk(version, param, slots);
    }

    /** Reads chunk {@code chunk} of {@code tensor}; the tensor must be in the checkpoint. */
    public Chunk read(String tensor, int chunk) throws IOException {
        Manifest.TensorEntry t = tensors.get(tensor);
        if (t == null || chunk < 0 || chunk >= t.chunks().size()) {
            throw new IllegalArgumentException("checkpoint " + directory.getFileName() + " holds no chunk " + chunk + " of '" + tensor + "'");
        }
        Manifest.ChunkEntry c = t.chunks().get(chunk);
        Path file = directory.resolve(c.file());
        List<String> slots = Manifest.slotNames(t.optimizer().toSpec().kind());
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            SafeTensors.Header h = headers.get(c.file());
            if (h == null) {
                h = SafeTensors.readHeader(ch, ch.size());
                headers.put(c.file(), h);
            }
            float[] param = SafeTensors.readF32(ch, h, h.entries().get(c.param()), c.entryOffset(), c.length());
            float[][] state = new float[slots.size()][];
            for (int k = 0; k < state.length; k++) {
                state[k] = SafeTensors.readF32(ch, h, h.entries().get(c.state().get(slots.get(k))), c.entryOffset(), c.length());
            }
            return new Chunk(c.version(), param, state);
        }
    }
}
