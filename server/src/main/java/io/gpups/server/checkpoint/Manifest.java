package io.gpups.server.checkpoint;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The JSON that describes a checkpoint. Each shard writes its part, {@code shard-<i>.json} (with
 * {@code shard} set, the chunks it holds, its part of every embedding table and its one data file);
 * {@code manifest.json} is the same document merged over all shards ({@code shard} absent, every chunk, every
 * table with one part per shard, every file including the parts). Field names are snake_case; docs in the
 * "Checkpoints" section of the README. A manifest written before tables were checkpointed has no
 * {@code tables}: it reads as holding none.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Manifest(
        String format,
        @JsonProperty("format_version") int formatVersion,
        String name,
        @JsonProperty("created_ms") long createdMs,
        Integer shard,
        int shards,
        int workers,
        String consistency,
        List<TensorEntry> tensors,
        List<TableEntry> tables,
        List<FileEntry> files) {

    public static final String FORMAT = "gpups-checkpoint";
    public static final int FORMAT_VERSION = 1;

    public Manifest {
        tables = tables == null ? List.of() : tables;
    }

    /**
     * A tensor: its definition, and where each of its chunks is.
     *
     * @param chunkCount chunks the whole tensor has; {@code chunks} lists those described here (all of them in
     *                   a complete manifest)
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record TensorEntry(
            String name,
            long[] shape,
            String dtype,
            long elements,
            @JsonProperty("chunk_elements") int chunkElements,
            @JsonProperty("chunk_count") int chunkCount,
            InitializerEntry initializer,
            OptimizerEntry optimizer,
            List<ChunkEntry> chunks) {

        /** The tensor's definition as clients register it. */
        public TensorSpec spec() {
            return new TensorSpec(name, shape, initializer.toInitializer(), optimizer.toSpec());
        }

        /** This entry with another chunk list. */
        public TensorEntry withChunks(List<ChunkEntry> list) {
            return new TensorEntry(name, shape, dtype, elements, chunkElements, chunkCount, initializer, optimizer, list);
        }

        /** The same definition (everything but the chunk list). */
        public boolean sameDefinition(TensorEntry o) {
            return name.equals(o.name) && java.util.Arrays.equals(shape, o.shape) && dtype.equals(o.dtype)
                    && chunkElements == o.chunkElements && chunkCount == o.chunkCount
                    && initializer.equals(o.initializer) && optimizer.equals(o.optimizer);
        }
    }

    /**
     * An embedding table: its definition (as REGISTER_TABLE gives it; {@code capacity} is rows per shard), and each
     * shard's rows ({@code parts}: one per shard of the checkpoint in a complete manifest, in shard order).
     */
    public record TableEntry(
            String name,
            int dim,
            long capacity,
            String eviction,
            InitializerEntry initializer,
            OptimizerEntry optimizer,
            List<TablePartEntry> parts) {

        public static TableEntry of(TableSpec spec, List<TablePartEntry> parts) {
            return new TableEntry(spec.name(), spec.dim(), spec.capacity(), spec.eviction().cliName(),
                    InitializerEntry.of(spec.initializer()), OptimizerEntry.of(spec.optimizer()), parts);
        }

        /** The table's definition as clients register it; throws naming the bad field when it is not one. */
        public TableSpec spec() {
            return new TableSpec(name, dim, initializer.toInitializer(), optimizer.toSpec(), capacity,
                    Eviction.ofName(eviction));
        }

        /** This entry with another part list. */
        public TableEntry withParts(List<TablePartEntry> list) {
            return new TableEntry(name, dim, capacity, eviction, initializer, optimizer, list);
        }

        /** The same definition (everything but the parts). */
        public boolean sameDefinition(TableEntry o) {
            return name.equals(o.name) && dim == o.dim && capacity == o.capacity && eviction.equals(o.eviction)
                    && initializer.equals(o.initializer) && optimizer.equals(o.optimizer);
        }

        /** Rows in all parts. */
        public long rows() {
            return parts.stream().mapToLong(TablePartEntry::rows).sum();
        }

        /** The largest clock of any part: every row's last touch is at or below it. */
        public long clock() {
            return parts.stream().mapToLong(TablePartEntry::clock).max().orElse(0);
        }
    }

    /**
     * One shard's rows of a table: how many, the table's clock there, and the entries of its data file holding
     * them ({@code ids}, I64 [rows]; {@code values} and each {@code state} slot by name, F32 [rows, dim];
     * {@code step}, {@code last_touch} and {@code touches}, I64 [rows]), row i of each being the same row.
     */
    public record TablePartEntry(int shard, String file, long rows, long clock, String ids, String values,
                                 Map<String, String> state, String step, @JsonProperty("last_touch") String lastTouch,
                                 String touches) {
    }

    public record InitializerEntry(String kind, float value, long seed) {
        static InitializerEntry of(Initializer i) {
            return new InitializerEntry(i.kind().name().toLowerCase(Locale.ROOT), i.value(), i.seed());
        }

        Initializer toInitializer() {
            return new Initializer(Initializer.Kind.valueOf(kind.toUpperCase(Locale.ROOT)), value, seed);
        }
    }

    /**
     * An optimizer: its kind, the names of its state slots (in device order), and its hyper-parameters by
     * name (in wire order).
     */
    public record OptimizerEntry(String kind, List<String> slots,
                                 @JsonProperty("hyper_parameters") Map<String, Float> hyperParameters) {
        public static OptimizerEntry of(OptimizerSpec spec) {
            Map<String, Float> h = new LinkedHashMap<>();
            List<String> names = hyperParameterNames(spec.kind());
            float[] values = spec.hyperParameters();
            for (int i = 0; i < values.length; i++) {
                h.put(names.get(i), values[i]);
            }
            return new OptimizerEntry(spec.kind().cliName(), slotNames(spec.kind()), h);
        }

        OptimizerSpec toSpec() {
            OptimizerSpec.OptimizerKind k = OptimizerSpec.OptimizerKind.valueOf(kind.toUpperCase(Locale.ROOT));
            List<String> names = hyperParameterNames(k);
            float[] values = new float[names.size()];
            for (int i = 0; i < values.length; i++) {
                Float v = hyperParameters.get(names.get(i));
                if (v == null) {
                    throw new IllegalArgumentException(kind + " optimizer lacks hyper-parameter '" + names.get(i) + "'");
                }
                values[i] = v;
            }
            return OptimizerSpec.of(k, values);
        }
    }

    /**
     * Where one chunk is: which shard held it, its version, the tensor entries of its data file holding its
     * parameters ({@code param}) and state slots ({@code state}, by slot name), and at which element of
     * those entries the chunk starts ({@code entry_offset}: 0 for per-chunk entries, the chunk's offset in
     * the tensor for whole-tensor entries).
     */
    public record ChunkEntry(int chunk, int shard, long version, long offset, int length, String file, String param,
                             @JsonProperty("entry_offset") long entryOffset, Map<String, String> state) {
    }

    /** A file of the checkpoint with its length and SHA-256 (lower-case hex). */
    public record FileEntry(String name, long bytes, String sha256) {
    }

    /** Names of an optimizer's state slots, in the order the device keeps them. */
    public static List<String> slotNames(OptimizerSpec.OptimizerKind kind) {
        return kind.slotNames;
    }

    /** Names of an optimizer's hyper-parameters, in wire order (docs/PROTOCOL.md, REGISTER). */
    public static List<String> hyperParameterNames(OptimizerSpec.OptimizerKind kind) {
        return kind.hyperParameterNames;
    }

    static TensorEntry tensorEntry(TensorSpec spec, int chunkElements, int chunkCount, List<ChunkEntry> chunks) {
        return new TensorEntry(spec.name(), spec.shape(), "F32", spec.elements(), chunkElements, chunkCount,
                InitializerEntry.of(spec.initializer()), OptimizerEntry.of(spec.optimizer()), chunks);
    }

    // ---- JSON ---------------------------------------------------------------------------------------------

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    public byte[] toJson() {
        try {
            return JSON.writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException("cannot happen: writing JSON to memory", e);
        }
    }

    /** Reads a manifest or part, naming the file and the problem when it is not one. */
    public static Manifest read(Path file) throws IOException {
        Manifest m;
        try {
            m = JSON.readValue(Files.readAllBytes(file), Manifest.class);
        } catch (IOException e) {
            throw new IOException(file.getFileName() + " is not a readable manifest: " + firstLine(e.getMessage()));
        }
        if (m == null || !FORMAT.equals(m.format) || m.formatVersion != FORMAT_VERSION) {
            throw new IOException(file.getFileName() + " is not a " + FORMAT + " manifest of version " + FORMAT_VERSION);
        }
        if (m.tensors == null || m.files == null || m.shards <= 0) {
            throw new IOException(file.getFileName() + " lacks tensors, files or a shard count");
        }
        for (TableEntry t : m.tables) {
            if (t == null || t.name == null || t.eviction == null || t.initializer == null || t.optimizer == null
                    || t.parts == null) {
                throw new IOException(file.getFileName() + ": a table entry lacks its name, eviction, initializer,"
                        + " optimizer or parts");
            }
            for (TablePartEntry p : t.parts) {
                if (p == null || p.file == null || p.ids == null || p.values == null || p.step == null
                        || p.lastTouch == null || p.touches == null || p.rows < 0 || p.clock < 0) {
                    throw new IOException(file.getFileName() + ": a part of table '" + t.name + "' lacks its file, an"
                            + " entry name, or has a negative row count or clock");
                }
            }
        }
        return m;
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
