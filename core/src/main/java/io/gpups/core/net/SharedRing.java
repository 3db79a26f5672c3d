package io.gpups.core.net;

import io.netty.buffer.ByteBuf;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * A ring of frames in a memory-mapped file, shared by a worker and a shard on the same host: the worker writes
 * whole frames into it and tells the shard over their TCP connection where each one is (a RING_FRAME request,
 * docs/PROTOCOL.md), the shard reads them in place and says how far it is done with them in the file's header.
 * The TCP connection keeps carrying everything else, in order, so a frame that does not fit simply goes over TCP.
 *
 * <p>Layout (little-endian):
 * <pre>
 *  0        8          16               32          64              4096
 *  +--------+----------+----------------+-- ... ----+------------+---+------------------------------
 *  | magic  | capacity | token (16 B)   |           | released   |   | data: capacity bytes
 *  +--------+----------+----------------+-- ... ----+------------+---+------------------------------
 *  magic    = "GPUPSRG1"; capacity = data bytes, a multiple of 4096
 *  token    = 16 random bytes the worker also sends in RING_ATTACH: the shard maps only the file the worker made
 *  released = ring position up to which the shard is done with frames (written by the shard only)
 * </pre>
 * Positions count bytes written since the ring was made; a frame at position p is at data offset p mod capacity.
 * Where a frame would run past the end of the data it starts at the next multiple of the capacity instead
 * ({@link #place}), and every frame starts on a {@value #ALIGNMENT}-byte boundary: both sides compute the same
 * position for the next frame, so the shard checks each one instead of trusting it.
 */
public final class SharedRing {

    public static final long MAGIC = 0x3147525350555047L; // "GPUPSRG1" read as a little-endian long
    public static final int HEADER_BYTES = 4096;
    static final int CAPACITY_OFFSET = 8;
    static final int TOKEN_OFFSET = 16;
    public static final int TOKEN_BYTES = 16;
    static final int RELEASED_OFFSET = 64;
    /** Every frame starts on a multiple of this many bytes. */
    public static final int ALIGNMENT = 64;
    public static final long MIN_CAPACITY = 1L << 20;
    public static final long MAX_CAPACITY = 1L << 30;
    /** Data bytes of a worker's ring per shard connection unless told otherwise: room for a few 16 MiB pushes. */
    public static final long DEFAULT_CAPACITY = 64L << 20;
    /** Where rings are made unless told otherwise: tmpfs on Linux, so the file is memory, never disk. */
    public static final Path DEFAULT_DIRECTORY = Path.of("/dev/shm");
    /** The only names a shard maps: made by {@link #create}, never a path. */
    public static final Pattern FILE_NAME = Pattern.compile("gpups-ring-[0-9a-f]{32}\\.shm");

    private static final VarHandle LONGS = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Path file;
    private final MappedByteBuffer map;
    private final long capacity;
    private final byte[] token;

    private SharedRing(Path file, MappedByteBuffer map, long capacity, byte[] token) {
        this.file = file;
        this.map = map;
        this.capacity = capacity;
        this.token = token;
    }

    /** Checks a capacity: {@value #MIN_CAPACITY}..{@value #MAX_CAPACITY} bytes, a multiple of 4096. */
    public static long checkCapacity(long capacity, String what) {
        if (capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || capacity % 4096 != 0) {
            throw new IllegalArgumentException(what + " " + capacity + ": must be a multiple of 4096 from "
                    + MIN_CAPACITY + " to " + MAX_CAPACITY + " bytes");
        }
        return capacity;
    }

    /**
     * Makes a new ring file in {@code directory}, readable and writable by this user only, its memory taken at
     * once (an {@link IOException} when the directory's file system has no room for it).
     */
    public static SharedRing create(Path directory, long capacity) throws IOException {
        checkCapacity(capacity, "ring capacity");
        byte[] token = new byte[TOKEN_BYTES];
        RANDOM.nextBytes(token);
        byte[] name = new byte[16];
        RANDOM.nextBytes(name);
        Path file = directory.resolve("gpups-ring-" + HexFormat.of().formatHex(name) + ".shm");
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            // Every page written now: a tmpfs too small for the ring fails here, with an IOException, rather than
            // with a fault on some later write into the mapping.
            ByteBuffer zeros = ByteBuffer.allocateDirect(1 << 20);
            for (long at = 0; at < HEADER_BYTES + capacity; at += zeros.capacity()) {
                zeros.clear().limit((int) Math.min(zeros.capacity(), HEADER_BYTES + capacity - at));
                while (zeros.hasRemaining()) {
                    ch.write(zeros, at + zeros.position());
                }
            }
            MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_WRITE, 0, HEADER_BYTES + capacity);
            map.order(ByteOrder.LITTLE_ENDIAN);
            map.putLong(CAPACITY_OFFSET, capacity);
            map.put(TOKEN_OFFSET, token);
            LONGS.setRelease(map, RELEASED_OFFSET, 0L);
            LONGS.setRelease(map, 0, MAGIC);
            return new SharedRing(file, map, capacity, token);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(file);
            throw e;
        }
    }

    /**
     * Maps the ring a worker made: {@code name} must be a name {@link #create} makes, a regular file (not a link)
     * in {@code directory}, of the size {@code capacity} says, with the magic and the token the worker sent.
     * Throws {@link IllegalArgumentException} naming what is wrong.
     */
    public static SharedRing open(Path directory, String name, long capacity, byte[] token) throws IOException {
        if (!FILE_NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("ring file name '" + name + "' is not one a worker makes (gpups-ring-<32 hex>.shm)");
        }
        checkCapacity(capacity, "ring capacity");
        if (token.length != TOKEN_BYTES) {
            throw new IllegalArgumentException("ring token has " + token.length + " bytes, expected " + TOKEN_BYTES);
        }
        Path file = directory.resolve(name);
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            throw new IllegalArgumentException("ring file " + file + " is not a regular file on this host");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE,
                LinkOption.NOFOLLOW_LINKS)) {
            long size = ch.size();
            if (size != HEADER_BYTES + capacity) {
                throw new IllegalArgumentException("ring file " + file + " has " + size + " bytes, expected "
                        + (HEADER_BYTES + capacity) + " for a capacity of " + capacity);
            }
            MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_WRITE, 0, size);
            map.order(ByteOrder.LITTLE_ENDIAN);
            long magic = (long) LONGS.getAcquire(map, 0);
            if (magic != MAGIC) {
                throw new IllegalArgumentException(String.format("ring file %s has magic 0x%016x, expected 0x%016x", file, magic, MAGIC));
            }
            long written = map.getLong(CAPACITY_OFFSET);
            byte[] found = new byte[TOKEN_BYTES];
            map.get(TOKEN_OFFSET, found);
            if (written != capacity || !java.security.MessageDigest.isEqual(found, token)) {
                throw new IllegalArgumentException("ring file " + file + " is not the ring this connection made"
                        + " (capacity or token differ)");
            }
            return new SharedRing(file, map, capacity, token.clone());
        }
    }

    /**
     * Where a frame of {@code length} bytes goes when the previous one ended at {@code end}: the next aligned
     * position, or the start of the next lap when the frame would run past the end of the data.
     */
    public static long place(long end, int length, long capacity) {
        long position = (end + ALIGNMENT - 1) & -ALIGNMENT;
        long offset = position % capacity;
        return offset + length > capacity ? position - offset + capacity : position;
    }

    public Path file() {
        return file;
    }

    public String name() {
        return file.getFileName().toString();
    }

    public long capacity() {
        return capacity;
    }

    public byte[] token() {
        return token.clone();
    }

    /** The position up to which the shard has released frames. */
    public long released() {
        return (long) LONGS.getAcquire(map, RELEASED_OFFSET);
    }

    /** Publishes that every frame before {@code position} has been released (the shard's side). */
    public void release(long position) {
        LONGS.setRelease(map, RELEASED_OFFSET, position);
    }

    /** A view of {@code length} data bytes at ring position {@code position}, which must not wrap. */
    public ByteBuffer data(long position, int length) {
        int offset = HEADER_BYTES + (int) (position % capacity);
        return map.slice(offset, length).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Removes the file; both sides keep their mappings until the memory is unmapped. */
    public void unlink() {
        try {
            Files.deleteIfExists(file);
        } catch (IOException ignored) {
            // tmpfs: the file goes with the machine's next boot at the latest
        }
    }

    /**
     * The worker's side: writes frames at the positions {@link #place} gives and remembers where the last one
     * ended. Not thread-safe: the caller orders writes (and their RING_FRAME requests) under one lock.
     */
    public static final class Writer {
        private final SharedRing ring;
        private long end;
        private long frames;

        public Writer(SharedRing ring) {
            this.ring = ring;
        }

        public SharedRing ring() {
            return ring;
        }

        /**
         * Copies {@code frame}'s readable bytes into the ring and returns their position, or -1 when the ring has
         * no room for them until the shard releases earlier frames (send it over TCP then).
         */
        public long tryWrite(ByteBuf frame) {
            int length = frame.readableBytes();
            if (length > ring.capacity) {
                return -1;
            }
            long position = place(end, length, ring.capacity);
            if (position + length - ring.released() > ring.capacity) {
                return -1;
            }
            frame.getBytes(frame.readerIndex(), ring.data(position, length));
            end = position + length;
            frames++;
            return position;
        }

        /** Frames written so far. */
        public long frames() {
            return frames;
        }
    }
}
