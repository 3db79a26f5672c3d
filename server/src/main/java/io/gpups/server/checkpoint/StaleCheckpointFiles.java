package io.gpups.server.checkpoint;

import org.slf4j.Logger;

import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Removes what interrupted checkpoint writes leave in a checkpoint root: a shard's own temporary files
 * ({@code .shard-<i>.safetensors.<random>.tmp}, {@code .shard-<i>.json.<random>.tmp}, left by a kill during a
 * write; {@link AtomicFiles} deletes them itself on any other failure) and {@code ckpt-*} directories left empty.
 *
 * <p>Shards of one job share the root, so a shard deletes only its own temporary files, and only while none of
 * its writes is in flight (at start, and on the writer thread after a failed write): another shard's temporary
 * file may be a write in progress. An empty directory may be one another shard has just created for a write it
 * is about to begin, so at start only directories empty for at least {@link #EMPTY_GRACE_MILLIS} are removed;
 * after a failed write, the directory of that write is removed at once when it is empty.
 */
public final class StaleCheckpointFiles {

    /** How long a {@code ckpt-*} directory must have been empty (by its modification time) to be removed at start. */
    public static final long EMPTY_GRACE_MILLIS = 60_000;

    private StaleCheckpointFiles() {
    }

    /** What a sweep removed. */
    public record Swept(int temporaryFiles, int emptyDirectories) {
    }

    /**
     * At a shard's start: removes shard {@code shard}'s temporary files from every {@code ckpt-*} directory under
     * {@code root}, then every such directory that is empty and was last modified at least
     * {@link #EMPTY_GRACE_MILLIS} before {@code nowMillis} (its time before the sweep removed anything).
     */
    public static Swept sweep(Path root, int shard, long nowMillis, Logger log) {
        int files = 0;
        int dirs = 0;
        if (!Files.isDirectory(root)) {
            return new Swept(0, 0);
        }
        List<Path> checkpoints;
        try (Stream<Path> s = Files.list(root)) {
            checkpoints = s.filter(Files::isDirectory).filter(p -> p.getFileName().toString().startsWith("ckpt-")).toList();
        } catch (IOException e) {
            log.warn("checkpoint directory {}: cannot list it to remove stale files: {}", root, e.toString());
            return new Swept(0, 0);
        }
        for (Path dir : checkpoints) {
            try {
                long modified = Files.getLastModifiedTime(dir).toMillis();
                files += removeTemporaryFiles(dir, shard, log);
                if (nowMillis - modified >= EMPTY_GRACE_MILLIS && removeIfEmpty(dir)) {
                    log.info("checkpoint {}: removed, it was empty (left by a write that failed)", dir);
                    dirs++;
                }
            } catch (IOException e) {
                log.warn("checkpoint {}: cannot remove stale files: {}", dir, e.toString());
            }
        }
        return new Swept(files, dirs);
    }

    /**
     * After a failed write into {@code root}/{@code name}: removes shard {@code shard}'s temporary files there and
     * the directory itself when nothing else is left in it. A name that is not a checkpoint directory's (the write
     * failed on a bad name) is left alone.
     */
    public static void afterFailedWrite(Path root, String name, int shard, Logger log) {
        if (!name.matches("ckpt-[A-Za-z0-9._-]+") || name.contains("..")) {
            return;
        }
        Path dir = root.resolve(name);
        try {
            if (!Files.isDirectory(dir)) {
                return;
            }
            removeTemporaryFiles(dir, shard, log);
            if (removeIfEmpty(dir)) {
                log.info("checkpoint {}: removed, the failed write left it empty", dir);
            }
        } catch (IOException e) {
            log.warn("checkpoint {}: cannot clean up after the failed write: {}", dir, e.toString());
        }
    }

    /** Whether {@code name} is one of shard {@code shard}'s temporary files. */
    static boolean isTemporaryFileOf(String name, int shard) {
        String data = "." + CheckpointWriter.dataFile(shard) + ".";
        String part = "." + CheckpointWriter.partFile(shard) + ".";
        return name.endsWith(AtomicFiles.TEMP_SUFFIX) && (name.startsWith(data) || name.startsWith(part));
    }

    private static int removeTemporaryFiles(Path dir, int shard, Logger log) throws IOException {
        List<Path> stale;
        try (Stream<Path> s = Files.list(dir)) {
            stale = s.filter(p -> isTemporaryFileOf(p.getFileName().toString(), shard)).toList();
        }
        for (Path p : stale) {
            Files.deleteIfExists(p);
            log.info("checkpoint {}: removed {}, left by a write that did not finish", dir.getFileName(), p.getFileName());
        }
        return stale.size();
    }

    private static boolean removeIfEmpty(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            if (s.findAny().isPresent()) {
                return false;
            }
        }
        try {
            Files.delete(dir);
            return true;
        } catch (DirectoryNotEmptyException | NoSuchFileException e) {
            return false; // another shard began writing into it, or removed it first
        }
    }
}
