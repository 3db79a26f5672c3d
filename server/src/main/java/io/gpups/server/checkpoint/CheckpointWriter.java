package io.gpups.server.checkpoint;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.WritableByteChannel;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * Writes one shard's part of a checkpoint under a root directory:
 * <pre>
 *  ROOT/ckpt-&lt;label&gt;-&lt;S&gt;shards/shard-&lt;i&gt;.safetensors   parameters, optimizer state, versions; table rows
 *  ROOT/ckpt-&lt;label&gt;-&lt;S&gt;shards/shard-&lt;i&gt;.json          this shard's part of the manifest (after the data)
 *  ROOT/ckpt-&lt;label&gt;-&lt;S&gt;shards/manifest.json             all parts merged, by the shard that completes the set
 * </pre>
 * Every file is written atomically ({@link AtomicFiles}); the part is written after its data file and
 * records the data file's SHA-256, so a part on disk always describes a complete data file. Shards of one
 * job agree on the directory name without talking: step labels come from the chunk versions, which are
 * equal on every shard at a bsp step boundary. After writing, checkpoints older than the {@code keep}
 * newest complete ones are deleted.
 */
public final class CheckpointWriter {

    private static final Logger log = LoggerFactory.getLogger(CheckpointWriter.class);

    public static final String MANIFEST = "manifest.json";

    /**
     * What a write did.
     *
     * @param written false when this shard's part already held exactly these versions (nothing rewritten)
     */
    public record Result(Path directory, boolean written, long bytes, int chunks, long minVersion) {
    }

    private final Path root;
    private final int keep;

    /** @param keep complete checkpoints to keep (older ones are deleted); 0 keeps all */
    public CheckpointWriter(Path root, int keep) {
        if (keep < 0) {
            throw new IllegalArgumentException("checkpoint keep must be >= 0, got " + keep);
        }
        this.root = root;
        this.keep = keep;
    }

    public Path root() {
        return root;
    }

    public static String dataFile(int shard) {
        return "shard-" + shard + ".safetensors";
    }

    public static String partFile(int shard) {
        return "shard-" + shard + ".json";
    }

    public Result write(ShardSnapshot s) throws IOException {
        return write(s, UnaryOperator.identity(), null);
    }

    /**
     * Writes {@code s}. {@code wrap} sees the data file's output channel (tests make it fail midway);
     * {@code protect} is a checkpoint directory retention must not delete (the one this shard restored from).
     */
    public Result write(ShardSnapshot s, UnaryOperator<WritableByteChannel> wrap, Path protect) throws IOException {
        requireLabel(s.label());
        Path dir = root.resolve(s.directoryName());
        Path part = dir.resolve(partFile(s.shard()));
        if (Files.exists(part) && sameVersions(part, s)) {
            log.info("checkpoint {}: shard {}'s part already holds these versions, not rewritten", dir.getFileName(), s.shard());
            mergeIfComplete(dir, s.shards());
            return new Result(dir, false, 0, s.chunkCount(), s.minVersion());
        }
        Files.createDirectories(dir);
        if (Files.exists(part)) {
            // This shard's part is rewritten with other contents (newer versions or table rows under the same name):
            // the merged manifest describes the old part, so it goes first; the shard that completes the set writes it
            // again.
            Files.deleteIfExists(dir.resolve(MANIFEST));
        }
        List<Manifest.TensorEntry> tensors = new ArrayList<>();
        List<Manifest.TableEntry> tables = new ArrayList<>();
        SafeTensors.Writer data = dataWriter(s, tensors, tables);
        AtomicFiles.Written w = AtomicFiles.write(dir.resolve(dataFile(s.shard())), data::writeTo, wrap);
        Manifest manifest = new Manifest(Manifest.FORMAT, Manifest.FORMAT_VERSION, s.directoryName(), s.createdMs(),
                s.shard(), s.shards(), s.workers(), s.consistency().toString(), tensors, tables,
                List.of(new Manifest.FileEntry(dataFile(s.shard()), w.bytes(), w.sha256())));
        byte[] json = manifest.toJson();
        AtomicFiles.write(part, out -> out.write(java.nio.ByteBuffer.wrap(json)));
        mergeIfComplete(dir, s.shards());
        retain(protect);
        return new Result(dir, true, w.bytes(), s.chunkCount(), s.minVersion());
    }

    /**
     * The safetensors layout of a snapshot. A tensor this shard holds whole is stored in its full shape
     * ({@code param/<t>}, {@code state/<t>/<slot>}, {@code version/<t>} with one I64 per chunk); a tensor
     * held in part is stored per chunk ({@code param/<t>/chunk<c>}, {@code state/<t>/chunk<c>/<slot>},
     * {@code version/<t>/chunk<c>} of shape [1]). A table's rows here are {@code table/<t>/ids} (I64 [n]),
     * {@code table/<t>/values} (F32 [n, dim]), {@code table/<t>/state/<slot>} (F32 [n, dim]) and
     * {@code table/<t>/step}, {@code table/<t>/last_touch}, {@code table/<t>/touches} (I64 [n]), row i of each
     * the same row; its definition and clock are in the part ({@link Manifest.TableEntry}).
     */
    static SafeTensors.Writer dataWriter(ShardSnapshot s, List<Manifest.TensorEntry> tensorsOut,
                                         List<Manifest.TableEntry> tablesOut) {
        String file = dataFile(s.shard());
        SafeTensors.Writer w = new SafeTensors.Writer()
                .metadata("format", "pt")
                .metadata("gpups.checkpoint", s.directoryName())
                .metadata("gpups.shard", Integer.toString(s.shard()))
                .metadata("gpups.shards", Integer.toString(s.shards()))
                .metadata("gpups.manifest", partFile(s.shard()));
        for (ShardSnapshot.TensorSnapshot t : s.tensors()) {
            String name = t.spec().name();
            List<String> slots = Manifest.slotNames(t.spec().optimizer().kind());
            List<Manifest.ChunkEntry> chunks = new ArrayList<>();
            if (t.whole()) {
                long[] versions = new long[t.chunks().size()];
                List<float[]> params = new ArrayList<>();
                for (int i = 0; i < versions.length; i++) {
                    versions[i] = t.chunks().get(i).version();
                    params.add(t.chunks().get(i).param());
                }
                w.i64("version/" + name, new long[] {versions.length}, versions);
                w.f32("param/" + name, t.spec().shape(), params);
                Map<String, String> state = new LinkedHashMap<>();
                for (int k = 0; k < slots.size(); k++) {
                    List<float[]> values = new ArrayList<>();
                    for (ShardSnapshot.ChunkSnapshot c : t.chunks()) {
                        values.add(c.slots()[k]);
                    }
                    String entry = "state/" + name + "/" + slots.get(k);
                    w.f32(entry, t.spec().shape(), values);
                    state.put(slots.get(k), entry);
                }
                for (ShardSnapshot.ChunkSnapshot c : t.chunks()) {
                    chunks.add(new Manifest.ChunkEntry(c.index(), s.shard(), c.version(), c.offset(), c.length(), file,
                            "param/" + name, c.offset(), state));
                }
            } else {
                for (ShardSnapshot.ChunkSnapshot c : t.chunks()) {
                    String base = name + "/chunk" + c.index();
                    w.i64("version/" + base, new long[] {1}, new long[] {c.version()});
                    w.f32("param/" + base, new long[] {c.length()}, c.param());
                    Map<String, String> state = new LinkedHashMap<>();
                    for (int k = 0; k < slots.size(); k++) {
                        String entry = "state/" + base + "/" + slots.get(k);
                        w.f32(entry, new long[] {c.length()}, c.slots()[k]);
                        state.put(slots.get(k), entry);
                    }
                    chunks.add(new Manifest.ChunkEntry(c.index(), s.shard(), c.version(), c.offset(), c.length(), file,
                            "param/" + base, 0, state));
                }
            }
            tensorsOut.add(Manifest.tensorEntry(t.spec(), t.chunkElements(), t.chunkCount(), chunks));
        }
        for (ShardSnapshot.TableSnapshot t : s.tables()) {
            String base = "table/" + t.spec().name() + "/";
            long n = t.rows();
            long[] rows = {n};
            long[] matrix = {n, t.spec().dim()};
            w.i64(base + "ids", rows, t.ids());
            w.f32(base + "values", matrix, t.values());
            Map<String, String> state = new LinkedHashMap<>();
            List<String> slots = Manifest.slotNames(t.spec().optimizer().kind());
            for (int k = 0; k < slots.size(); k++) {
                w.f32(base + "state/" + slots.get(k), matrix, t.state().get(k));
                state.put(slots.get(k), base + "state/" + slots.get(k));
            }
            w.i64(base + "step", rows, t.steps());
            w.i64(base + "last_touch", rows, t.lastTouch());
            w.i64(base + "touches", rows, t.touches());
            tablesOut.add(Manifest.TableEntry.of(t.spec(), List.of(new Manifest.TablePartEntry(s.shard(), file, n,
                    t.clock(), base + "ids", base + "values", state, base + "step", base + "last_touch",
                    base + "touches"))));
        }
        return w;
    }

    private static boolean sameVersions(Path part, ShardSnapshot s) {
        try {
            Manifest old = Manifest.read(part);
            Map<String, Long> had = new LinkedHashMap<>();
            for (Manifest.TensorEntry t : old.tensors()) {
                for (Manifest.ChunkEntry c : t.chunks()) {
                    had.put(t.name() + "#" + c.chunk(), c.version());
                }
            }
            Map<String, Long> now = new LinkedHashMap<>();
            for (ShardSnapshot.TensorSnapshot t : s.tensors()) {
                for (ShardSnapshot.ChunkSnapshot c : t.chunks()) {
                    now.put(t.spec().name() + "#" + c.index(), c.version());
                }
            }
            // A table's clock counts its requests: the same clock means the same rows.
            for (Manifest.TableEntry t : old.tables()) {
                had.put("table " + t.name(), t.clock());
            }
            for (ShardSnapshot.TableSnapshot t : s.tables()) {
                now.put("table " + t.spec().name(), t.clock());
            }
            return had.equals(now) && Files.exists(part.resolveSibling(dataFile(s.shard())));
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Writes {@code manifest.json} when every shard's part is in {@code dir} and the set checks out (sizes,
     * definitions, every chunk once; checksums were computed by the writers). Two shards finishing together
     * both write the same document; the rename makes either one win whole.
     */
    static void mergeIfComplete(Path dir, int shards) {
        for (int i = 0; i < shards; i++) {
            if (!Files.exists(dir.resolve(partFile(i)))) {
                return;
            }
        }
        try {
            CheckpointCatalog.Found found = CheckpointCatalog.check(dir, false, false);
            if (!found.complete()) {
                log.warn("checkpoint {}: every part is there but the set is not usable: {}", dir.getFileName(), found.problem());
                return;
            }
            byte[] json = found.manifest().toJson();
            AtomicFiles.write(dir.resolve(MANIFEST), out -> out.write(java.nio.ByteBuffer.wrap(json)));
            log.info("checkpoint {} complete: {} shard(s), {} tensor(s)", dir.getFileName(), shards,
                    found.manifest().tensors().size());
        } catch (IOException e) {
            log.warn("checkpoint {}: cannot write {}: {}", dir.getFileName(), MANIFEST, e.toString());
        }
    }

    /** Deletes checkpoints older than the {@code keep} newest complete ones. */
    private void retain(Path protect) {
        if (keep == 0) {
            return;
        }
        List<CheckpointCatalog.Found> all;
        try {
            all = CheckpointCatalog.scanRoot(root, false, true);
        } catch (IOException e) {
            log.warn("checkpoint retention: cannot list {}: {}", root, e.toString());
            return;
        }
        int complete = 0;
        for (CheckpointCatalog.Found f : all) {
            if (complete < keep) {
                if (f.complete()) {
                    complete++;
                }
                continue;
            }
            if (protect != null && f.directory().toAbsolutePath().normalize().equals(protect.toAbsolutePath().normalize())) {
                continue;
            }
            deleteCheckpoint(f.directory());
        }
    }

    /**
     * Deletes a checkpoint beyond retention: the manifest first (so it stops being complete at once), then
     * every part and data file, then the directory. The set of complete checkpoints kept only moves forward,
     * so one older than it is never needed again, whichever shard deletes it.
     */
    private static void deleteCheckpoint(Path dir) {
        try {
            Files.deleteIfExists(dir.resolve(MANIFEST));
            List<Path> files;
            try (Stream<Path> s = Files.list(dir)) {
                files = s.toList();
            }
            for (Path p : files) {
                Files.deleteIfExists(p);
            }
            Files.deleteIfExists(dir);
            log.info("checkpoint {} deleted (older than the newest complete ones kept)", dir.getFileName());
        } catch (DirectoryNotEmptyException | NoSuchFileException e) {
            // another shard is deleting the same directory: it finishes the job
        } catch (IOException e) {
            log.warn("checkpoint retention: cannot delete {}: {}", dir, e.toString());
        }
    }

    static String requireLabel(String label) {
        Objects.requireNonNull(label, "label");
        if (label.isEmpty() || label.length() > 128 || !label.matches("[A-Za-z0-9._-]+") || label.startsWith(".")) {
            throw new IllegalArgumentException("checkpoint name '" + label
                    + "' must be 1..128 characters of A-Z a-z 0-9 . _ - and not start with '.'");
        }
        return label;
    }
}
