package io.gpups.server.checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.UnaryOperator;

/**
 * Writes a file so that a reader sees either the previous file or the complete new one, never a torn one:
 * the bytes go to a temporary file beside the target ({@code .<name>.<random>.tmp}), which is fsynced,
 * renamed over the target (an atomic rename on POSIX file systems), and the directory is fsynced so the
 * rename itself survives a crash. On any failure the temporary file is deleted and the target is untouched.
 * The SHA-256 and length of the bytes are computed on the way, without reading the file back.
 */
public final class AtomicFiles {

    private AtomicFiles() {
    }

    /** Writes the body of a file into a channel. */
    @FunctionalInterface
    public interface Body {
        void write(WritableByteChannel out) throws IOException;
    }

    /** What was written: length in bytes and SHA-256 in lower-case hex. */
    public record Written(Path path, long bytes, String sha256) {
    }

    /** Suffix of temporary files; readers of a checkpoint directory ignore them. */
    public static final String TEMP_SUFFIX = ".tmp";

    public static Written write(Path target, Body body) throws IOException {
        return write(target, body, UnaryOperator.identity());
    }

    /**
     * As {@link #write(Path, Body)}; {@code wrap} sees the channel the body writes to (tests use it to make
     * the output fail midway).
     */
    public static Written write(Path target, Body body, UnaryOperator<WritableByteChannel> wrap) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path temp = dir.resolve("." + target.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong())
                + TEMP_SUFFIX);
        boolean moved = false;
        try {
            Hashing hashing;
            try (FileChannel file = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                hashing = new Hashing(file);
                body.write(wrap.apply(hashing));
                file.force(true);
            }
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot rename " + temp + " to " + target + " atomically on this file system", e);
            }
            moved = true;
            fsyncDirectory(dir);
            return new Written(target, hashing.bytes, HexFormat.of().formatHex(hashing.digest.digest()));
        } finally {
            if (!moved) {
                Files.deleteIfExists(temp);
            }
        }
    }

    /** Makes a directory's entries (a rename, a new file) durable. A no-op where the OS cannot open directories. */
    public static void fsyncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException e) {
            // Windows and some file systems do not allow this; POSIX ones do.
        }
    }

    /** SHA-256 of a file, read in full, in lower-case hex. */
    public static String sha256(Path file) throws IOException {
        MessageDigest digest = newDigest();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
            while (ch.read(buf) >= 0) {
                buf.flip();
                digest.update(buf);
                buf.clear();
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    /** Passes bytes to the file, hashing and counting them. */
    private static final class Hashing implements WritableByteChannel {
        private final FileChannel file;
        private final MessageDigest digest = newDigest();
        private long bytes;

        Hashing(FileChannel file) {
            this.file = file;
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            ByteBuffer view = src.duplicate();
            int n = file.write(src);
            view.limit(view.position() + n);
            digest.update(view);
            bytes += n;
            return n;
        }

        @Override
        public boolean isOpen() {
            return file.isOpen();
        }

        @Override
        public void close() {
            // the file is closed by write()
        }
    }
}
