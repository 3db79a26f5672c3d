package io.gpups.server.checkpoint;

import org.slf4j.Logger;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * Finds checkpoints and decides whether each is complete. A checkpoint directory is complete when, for
 * its shard count S, every part {@code shard-0.json .. shard-(S-1).json} is there and readable, the parts
 * agree (shard count, consistency, tensor and table definitions), every chunk of every tensor is described
 * exactly once, every table has exactly one part from every shard, every data file has the length its part
 * records and a valid safetensors header holding the entries the part names (with the dtypes and shapes
 * they must have), and (when checksums are verified) every file's SHA-256 matches. A
 * {@code manifest.json}, when present, must list the same files with the same checksums. Anything else
 * makes the checkpoint unusable, with one line saying why.
 */
public final class CheckpointCatalog {

    private CheckpointCatalog() {
    }

    /**
     * One checkpoint directory as found.
     *
     * @param manifest  all parts merged (null when the parts could not be read)
     * @param problem   why the checkpoint is not usable, or null when it is complete
     * @param createdMs the newest part's snapshot time (the directory's modification time when no part reads)
     */
    public record Found(Path directory, boolean complete, String problem, Manifest manifest, long createdMs,
                        int partsFound, boolean manifestFilePresent) {
        public String name() {
            return directory.getFileName().toString();
        }
    }

    /** True when {@code dir} looks like one checkpoint (holds a part or a manifest) rather than a root. */
    public static boolean isCheckpoint(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString())
                    .anyMatch(n -> n.equals(CheckpointWriter.MANIFEST) || n.matches("shard-\\d+\\.json"));
        }
    }

    /** Every checkpoint under {@code dir} (or {@code dir} itself when it is one), newest first. */
    public static List<Found> scan(Path dir, boolean verifyChecksums) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IOException("checkpoint directory " + dir + " does not exist or is not a directory");
        }
        if (isCheckpoint(dir)) {
            return List.of(check(dir, verifyChecksums, false));
        }
        return scanRoot(dir, verifyChecksums, false);
    }

    static List<Found> scanRoot(Path root, boolean verifyChecksums, boolean quick) throws IOException {
        List<Found> out = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return out;
        }
        List<Path> dirs;
        try (Stream<Path> s = Files.list(root)) {
            dirs = s.filter(Files::isDirectory).filter(p -> p.getFileName().toString().startsWith("ckpt-")).toList();
        }
        for (Path d : dirs) {
            out.add(check(d, verifyChecksums, quick));
        }
        out.sort(Comparator.comparingLong(Found::createdMs).thenComparing(Found::name).reversed());
        return out;
    }

    /**
     * The newest complete checkpoint under {@code dir} (checksums verified), or null when there is no
     * checkpoint at all. Each newer checkpoint that is not usable gets one log line saying why. Throws when
     * checkpoints exist but none is complete.
     */
    public static Found newestComplete(Path dir, Logger log) throws IOException {
        List<Found> all = scan(dir, true);
        if (all.isEmpty()) {
            return null;
        }
        for (Found f : all) {
            if (f.complete()) {
                return f;
            }
            log.warn("checkpoint {} is not usable: {}; trying the previous one", f.directory(), f.problem());
        }
        throw new IOException("no complete checkpoint in " + dir + ": the newest, " + all.get(0).name() + ", "
                + all.get(0).problem());
    }

    /**
     * How a shard's part of a checkpoint checks out right after it was written.
     *
     * @param problem     why the checkpoint cannot be restored, or null
     * @param setComplete every shard's part was there, and the whole set is complete as a restore would find it
     */
    public record Verified(String problem, boolean setComplete) {
    }

    /**
     * Re-reads what shard {@code shard} just wrote into {@code dir}, as a restore would: its part reads and says
     * it is that shard; its data file has the length and SHA-256 the part records and a safetensors header holding
     * every entry the part names; every tensor in the part lists a chunk. When every shard's part is there, the
     * whole set must also be complete ({@link #check}, the other shards' checksums being theirs to verify).
     */
    public static Verified verifyWritten(Path dir, int shard) {
        Path partPath = dir.resolve(CheckpointWriter.partFile(shard));
        Manifest part;
        try {
            part = Manifest.read(partPath);
        } catch (IOException e) {
            return new Verified(CheckpointWriter.partFile(shard) + " does not read back: " + e.getMessage(), false);
        }
        if (!Objects.equals(part.shard(), shard)) {
            return new Verified(CheckpointWriter.partFile(shard) + " says it is shard " + part.shard(), false);
        }
        for (Manifest.TensorEntry t : part.tensors()) {
            if (t.chunks().isEmpty()) {
                return new Verified("tensor '" + t.name() + "' has none of its " + t.chunkCount() + " chunk(s) in "
                        + CheckpointWriter.partFile(shard), false);
            }
        }
        try {
            checkData(dir, part, true, false);
        } catch (IOException e) {
            return new Verified(e.getMessage(), false);
        }
        for (int i = 0; i < part.shards(); i++) {
            if (!Files.exists(dir.resolve(CheckpointWriter.partFile(i)))) {
                return new Verified(null, false); // the set is complete once the other shards have written theirs
            }
        }
        Found set = check(dir, false, false);
        return set.complete() ? new Verified(null, true) : new Verified(set.problem(), false);
    }

    /**
     * What {@code dir} holds instead of a checkpoint, for a message: "it does not exist", "it is empty", or its
     * first entries.
     */
    public static String describeAbsent(Path dir) {
        if (!Files.exists(dir)) {
            return "it does not exist";
        }
        if (!Files.isDirectory(dir)) {
            return "it is not a directory";
        }
        try (Stream<Path> s = Files.list(dir)) {
            List<String> names = s.map(p -> p.getFileName().toString() + (Files.isDirectory(p) ? "/" : "")).sorted().toList();
            if (names.isEmpty()) {
                return "it is empty";
            }
            return "it holds " + names.size() + " entr" + (names.size() == 1 ? "y" : "ies") + ", no ckpt-* directory: "
                    + String.join(", ", names.subList(0, Math.min(5, names.size()))) + (names.size() > 5 ? ", ..." : "");
        } catch (IOException e) {
            return "it cannot be listed: " + e.getMessage();
        }
    }

    /** Checks one checkpoint directory; {@code quick} checks only that the files exist with their lengths. */
    public static Found check(Path dir, boolean verifyChecksums, boolean quick) {
        long fallbackTime = 0;
        try {
            fallbackTime = Files.getLastModifiedTime(dir).toMillis();
        } catch (IOException ignored) {
            // keep 0
        }
        Map<Integer, Manifest> parts = new HashMap<>();
        List<String> unreadable = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                if (!n.matches("shard-\\d+\\.json")) {
                    continue;
                }
                int index = Integer.parseInt(n.substring(6, n.length() - 5));
                try {
                    Manifest m = Manifest.read(p);
                    if (!Objects.equals(m.shard(), index)) {
                        unreadable.add(n + " says it is shard " + m.shard());
                    } else {
                        parts.put(index, m);
                    }
                } catch (IOException e) {
                    unreadable.add(e.getMessage());
                }
            }
        } catch (IOException e) {
            return new Found(dir, false, "cannot list the directory: " + e.getMessage(), null, fallbackTime, 0, false);
        }
        boolean manifestPresent = Files.exists(dir.resolve(CheckpointWriter.MANIFEST));
        long created = parts.values().stream().mapToLong(Manifest::createdMs).max().orElse(fallbackTime);
        if (!unreadable.isEmpty()) {
            return new Found(dir, false, unreadable.get(0), null, created, parts.size(), manifestPresent);
        }
        if (parts.isEmpty()) {
            return new Found(dir, false, "no shard part (shard-<i>.json) in it", null, created, 0, manifestPresent);
        }
        Manifest any = parts.values().iterator().next();
        int shards = any.shards();
        for (Manifest m : parts.values()) {
            if (m.shards() != shards || !m.consistency().equals(any.consistency()) || m.workers() != any.workers()) {
                return new Found(dir, false, "parts disagree: shard-" + any.shard() + ".json says " + any.shards()
                        + " shards, " + any.consistency() + ", " + any.workers() + " workers; shard-" + m.shard() + ".json says "
                        + m.shards() + " shards, " + m.consistency() + ", " + m.workers() + " workers", null, created,
                        parts.size(), manifestPresent);
            }
        }
        for (int i = 0; i < shards; i++) {
            if (!parts.containsKey(i)) {
                return new Found(dir, false, CheckpointWriter.partFile(i) + " is missing (" + parts.size() + " of "
                        + shards + " shards' parts present)", null, created, parts.size(), manifestPresent);
            }
        }
        Manifest merged;
        try {
            merged = merge(dir.getFileName().toString(), parts, shards, dir);
        } catch (IOException e) {
            return new Found(dir, false, e.getMessage(), null, created, parts.size(), manifestPresent);
        }
        try {
            for (Manifest part : parts.values()) {
                checkData(dir, part, verifyChecksums, quick);
            }
            if (manifestPresent && !quick) {
                checkManifestFile(dir, merged);
            }
        } catch (IOException e) {
            return new Found(dir, false, e.getMessage(), merged, created, parts.size(), manifestPresent);
        }
        if (merged.tensors().isEmpty() && merged.tables().isEmpty()) {
            return new Found(dir, false, "it holds no tensors and no tables", merged, created, parts.size(), manifestPresent);
        }
        return new Found(dir, true, null, merged, created, parts.size(), manifestPresent);
    }

    /**
     * All parts as one manifest: tensors merged by name (definitions must agree), every chunk exactly once; tables
     * merged by name (definitions must agree), one part from every shard.
     */
    private static Manifest merge(String name, Map<Integer, Manifest> parts, int shards, Path dir) throws IOException {
        Map<String, Manifest.TensorEntry> tensors = new LinkedHashMap<>();
        Map<String, List<Manifest.ChunkEntry>> chunks = new HashMap<>();
        Map<String, Manifest.TableEntry> tables = new LinkedHashMap<>();
        Map<String, List<Manifest.TablePartEntry>> tableParts = new HashMap<>();
        List<Manifest.FileEntry> files = new ArrayList<>();
        long created = 0;
        for (int i = 0; i < shards; i++) {
            Manifest p = parts.get(i);
            created = Math.max(created, p.createdMs());
            files.addAll(p.files());
            Path partPath = dir.resolve(CheckpointWriter.partFile(i));
            files.add(new Manifest.FileEntry(CheckpointWriter.partFile(i), Files.size(partPath), AtomicFiles.sha256(partPath)));
            for (Manifest.TensorEntry t : p.tensors()) {
                Manifest.TensorEntry seen = tensors.get(t.name());
                if (seen == null) {
                    tensors.put(t.name(), t);
                } else if (!seen.sameDefinition(t)) {
                    throw new IOException("parts disagree about tensor '" + t.name() + "'");
                }
                chunks.computeIfAbsent(t.name(), k -> new ArrayList<>()).addAll(t.chunks());
            }
            for (Manifest.TableEntry t : p.tables()) {
                Manifest.TableEntry seen = tables.get(t.name());
                if (seen == null) {
                    tables.put(t.name(), t);
                } else if (!seen.sameDefinition(t)) {
                    throw new IOException("parts disagree about table '" + t.name() + "': " + describe(seen)
                            + " in one, " + describe(t) + " in " + CheckpointWriter.partFile(i));
                }
                for (Manifest.TablePartEntry tp : t.parts()) {
                    if (tp.shard() != i) {
                        throw new IOException(CheckpointWriter.partFile(i) + ": table '" + t.name()
                                + "' lists a part of shard " + tp.shard());
                    }
                }
                tableParts.computeIfAbsent(t.name(), k -> new ArrayList<>()).addAll(t.parts());
            }
        }
        List<Manifest.TableEntry> tablesOut = new ArrayList<>();
        for (Manifest.TableEntry t : tables.values()) {
            List<Manifest.TablePartEntry> list = new ArrayList<>(tableParts.get(t.name()));
            list.sort(Comparator.comparingInt(Manifest.TablePartEntry::shard));
            for (int s = 0; s < shards; s++) {
                if (s >= list.size() || list.get(s).shard() != s) {
                    throw new IOException("table '" + t.name() + "': " + CheckpointWriter.partFile(s)
                            + (s < list.size() && list.get(s).shard() < s ? " describes its rows twice"
                            : " does not hold its rows (every shard holds some of a table's rows)"));
                }
            }
            if (list.size() != shards) {
                throw new IOException("table '" + t.name() + "': " + list.size() + " parts for " + shards + " shards");
            }
            tablesOut.add(t.withParts(list));
        }
        List<Manifest.TensorEntry> out = new ArrayList<>();
        for (Manifest.TensorEntry t : tensors.values()) {
            List<Manifest.ChunkEntry> list = new ArrayList<>(chunks.get(t.name()));
            list.sort(Comparator.comparingInt(Manifest.ChunkEntry::chunk));
            for (int c = 0; c < t.chunkCount(); c++) {
                if (c >= list.size() || list.get(c).chunk() != c) {
                    throw new IOException("tensor '" + t.name() + "': chunk " + c + " of " + t.chunkCount()
                            + " is in no part" + (c < list.size() && list.get(c).chunk() < c ? " or twice" : ""));
                }
            }
            if (list.size() != t.chunkCount()) {
                throw new IOException("tensor '" + t.name() + "': " + list.size() + " chunk entries for " + t.chunkCount() + " chunks");
            }
            out.add(t.withChunks(list));
        }
        Manifest first = parts.get(0);
        return new Manifest(Manifest.FORMAT, Manifest.FORMAT_VERSION, name, created, null, shards, first.workers(),
                first.consistency(), out, tablesOut, files);
    }

    private static String describe(Manifest.TableEntry t) {
        return "dim " + t.dim() + ", " + t.capacity() + " rows/shard, eviction " + t.eviction() + ", init "
                + t.initializer() + ", optimizer " + t.optimizer().kind() + t.optimizer().hyperParameters();
    }

    private static void checkData(Path dir, Manifest part, boolean verifyChecksums, boolean quick) throws IOException {
        for (Manifest.FileEntry f : part.files()) {
            Path p = dir.resolve(f.name());
            if (!p.normalize().startsWith(dir.normalize()) || !Files.isRegularFile(p)) {
                throw new IOException(f.name() + " is missing (named by shard-" + part.shard() + ".json)");
            }
            long size = Files.size(p);
            if (size != f.bytes()) {
                throw new IOException(f.name() + " is " + size + " bytes, its part records " + f.bytes()
                        + (size < f.bytes() ? " (truncated)" : ""));
            }
            if (quick) {
                continue;
            }
            if (verifyChecksums) {
                String sha = AtomicFiles.sha256(p);
                if (!sha.equals(f.sha256())) {
                    throw new IOException(f.name() + " has SHA-256 " + sha + ", its part records " + f.sha256() + " (corrupt)");
                }
            }
            SafeTensors.Header h;
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
                h = SafeTensors.readHeader(ch, size);
            } catch (IOException e) {
                throw new IOException(f.name() + ": " + e.getMessage());
            }
            for (Manifest.TensorEntry t : part.tensors()) {
                for (Manifest.ChunkEntry c : t.chunks()) {
                    if (!c.file().equals(f.name())) {
                        continue;
                    }
                    checkEntry(f.name(), h, c.param(), c.entryOffset(), c.length());
                    for (String slot : Manifest.slotNames(t.optimizer().toSpec().kind())) {
                        String e = c.state() == null ? null : c.state().get(slot);
                        if (e == null) {
                            throw new IOException("tensor '" + t.name() + "' chunk " + c.chunk() + " has no '" + slot + "' state entry");
                        }
                        checkEntry(f.name(), h, e, c.entryOffset(), c.length());
                    }
                }
            }
            for (Manifest.TableEntry t : part.tables()) {
                for (Manifest.TablePartEntry tp : t.parts()) {
                    if (tp.file().equals(f.name())) {
                        checkTableEntries(f.name(), h, t, tp);
                    }
                }
            }
        }
        for (Manifest.TableEntry t : part.tables()) {
            for (Manifest.TablePartEntry tp : t.parts()) {
                if (part.files().stream().noneMatch(f -> f.name().equals(tp.file()))) {
                    throw new IOException("table '" + t.name() + "' of shard " + tp.shard() + " names " + tp.file()
                            + ", which its part does not list");
                }
            }
        }
        for (Manifest.TensorEntry t : part.tensors()) {
            for (Manifest.ChunkEntry c : t.chunks()) {
                if (part.files().stream().noneMatch(f -> f.name().equals(c.file()))) {
                    throw new IOException("tensor '" + t.name() + "' chunk " + c.chunk() + " names " + c.file()
                            + ", which its part does not list");
                }
            }
        }
    }

    /** A table part's entries: ids and counters I64 [rows], values and each state slot F32 [rows, dim]. */
    private static void checkTableEntries(String file, SafeTensors.Header h, Manifest.TableEntry t,
                                          Manifest.TablePartEntry tp) throws IOException {
        long[] rows = {tp.rows()};
        long[] matrix = {tp.rows(), t.dim()};
        checkShape(file, h, t, tp.ids(), SafeTensors.Dtype.I64, rows);
        checkShape(file, h, t, tp.values(), SafeTensors.Dtype.F32, matrix);
        List<String> slots;
        try {
            slots = Manifest.slotNames(t.optimizer().toSpec().kind());
        } catch (RuntimeException e) {
            throw new IOException("table '" + t.name() + "': optimizer " + t.optimizer().kind() + " does not read: "
                    + e.getMessage());
        }
        for (String slot : slots) {
            String e = tp.state() == null ? null : tp.state().get(slot);
            if (e == null) {
                throw new IOException("table '" + t.name() + "' of shard " + tp.shard() + " has no '" + slot
                        + "' state entry");
            }
            checkShape(file, h, t, e, SafeTensors.Dtype.F32, matrix);
        }
        checkShape(file, h, t, tp.step(), SafeTensors.Dtype.I64, rows);
        checkShape(file, h, t, tp.lastTouch(), SafeTensors.Dtype.I64, rows);
        checkShape(file, h, t, tp.touches(), SafeTensors.Dtype.I64, rows);
    }

    private static void checkShape(String file, SafeTensors.Header h, Manifest.TableEntry t, String entry,
                                   SafeTensors.Dtype dtype, long[] shape) throws IOException {
        SafeTensors.Entry e = h.entries().get(entry);
        if (e == null) {
            throw new IOException(file + " lacks tensor '" + entry + "' of table '" + t.name() + "'");
        }
        if (e.dtype() != dtype || !java.util.Arrays.equals(e.shape(), shape)) {
            throw new IOException(file + ": tensor '" + entry + "' (" + e + ") of table '" + t.name() + "' should be "
                    + dtype + java.util.Arrays.toString(shape));
        }
    }

    private static void checkEntry(String file, SafeTensors.Header h, String entry, long offset, int length) throws IOException {
        SafeTensors.Entry e = h.entries().get(entry);
        if (e == null) {
            throw new IOException(file + " lacks tensor '" + entry + "'");
        }
        if (e.dtype() != SafeTensors.Dtype.F32 || offset < 0 || offset + length > e.elements()) {
            throw new IOException(file + ": tensor '" + entry + "' (" + e + ") cannot hold " + length
                    + " F32 values at element " + offset);
        }
    }

    /** manifest.json must list exactly the files the parts describe, with the same lengths and checksums. */
    private static void checkManifestFile(Path dir, Manifest merged) throws IOException {
        Manifest written = Manifest.read(dir.resolve(CheckpointWriter.MANIFEST));
        Map<String, Manifest.FileEntry> expected = new HashMap<>();
        for (Manifest.FileEntry f : merged.files()) {
            expected.put(f.name(), f);
        }
        Map<String, Manifest.FileEntry> listed = new HashMap<>();
        for (Manifest.FileEntry f : written.files()) {
            listed.put(f.name(), f);
        }
        for (Manifest.FileEntry f : expected.values()) {
            Manifest.FileEntry l = listed.get(f.name());
            if (l == null || l.bytes() != f.bytes() || !l.sha256().equals(f.sha256())) {
                throw new IOException(CheckpointWriter.MANIFEST + " disagrees with " + f.name() + " (manifest: "
                        + (l == null ? "not listed" : l.bytes() + " bytes, SHA-256 " + l.sha256()) + "; file: "
                        + f.bytes() + " bytes, SHA-256 " + f.sha256() + ")");
            }
        }
        if (!listed.keySet().equals(expected.keySet())) {
            throw new IOException(CheckpointWriter.MANIFEST + " lists files " + listed.keySet() + ", the parts make " + expected.keySet());
        }
    }
}
