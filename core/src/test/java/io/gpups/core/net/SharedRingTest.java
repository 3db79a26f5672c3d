package io.gpups.core.net;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SharedRingTest {

    private static final long MIB = 1 << 20;

    @TempDir
    Path dir;

    @Test
    void framesStartAlignedAndMoveToTheNextLapRatherThanWrap() {
        assertEquals(0, SharedRing.place(0, 100, MIB));
        assertEquals(128, SharedRing.place(100, 100, MIB), "the next multiple of 64 after 100");
        assertEquals(192, SharedRing.place(192, 100, MIB), "an aligned end is where the next frame goes");
        assertEquals(MIB - 64, SharedRing.place(MIB - 100, 64, MIB), "a frame that just fits stays");
        assertEquals(MIB, SharedRing.place(MIB - 100, 65, MIB), "one byte more goes to the next lap");
        assertEquals(3 * MIB, SharedRing.place(3 * MIB - 10, 40, MIB));
    }

    @Test
    void theShardMapsWhatTheWorkerMadeAndReadsItsFrames() throws IOException {
        SharedRing worker = SharedRing.create(dir, MIB);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(worker.file())));
        SharedRing shard = SharedRing.open(dir, worker.name(), MIB, worker.token());
        SharedRing.Writer writer = new SharedRing.Writer(worker);
        byte[] first = bytes(100, 1);
        byte[] second = bytes(300, 2);
        assertEquals(0, writer.tryWrite(Unpooled.wrappedBuffer(first)));
        assertEquals(128, writer.tryWrite(Unpooled.wrappedBuffer(second)));
        assertArrayEquals(first, read(shard.data(0, 100)));
        assertArrayEquals(second, read(shard.data(128, 300)));
        shard.release(428);
        assertEquals(428, worker.released(), "the worker sees what the shard released");
        worker.unlink();
        assertTrue(Files.notExists(worker.file()));
        byte[] third = bytes(50, 3);
        long at = writer.tryWrite(Unpooled.wrappedBuffer(third));
        assertArrayEquals(third, read(shard.data(at, 50)), "the mappings outlive the file's name");
    }

    @Test
    void aFullRingSaysSoUntilTheShardReleases() throws IOException {
        SharedRing ring = SharedRing.create(dir, MIB);
        SharedRing.Writer writer = new SharedRing.Writer(ring);
        ByteBuf frame = Unpooled.wrappedBuffer(new byte[400 << 10]);
        assertEquals(0, writer.tryWrite(frame));
        assertEquals(400 << 10, writer.tryWrite(frame));
        assertEquals(-1, writer.tryWrite(frame), "a third 400 KiB frame would reach past the end: next lap, over the first");
        ring.release(400 << 10);
        assertEquals(MIB, writer.tryWrite(frame), "with the first released it starts the next lap");
        assertEquals(3, writer.frames());
        assertEquals(-1, writer.tryWrite(Unpooled.wrappedBuffer(new byte[(int) MIB + 1])), "larger than the ring");
    }

    @Test
    void theShardMapsNothingButARingFileTheWorkerMade() throws IOException {
        SharedRing ring = SharedRing.create(dir, MIB);
        byte[] token = ring.token();
        assertRefused("is not one a worker makes", () -> SharedRing.open(dir, "../" + dir.getFileName() + "/" + ring.name(), MIB, token));
        assertRefused("is not one a worker makes", () -> SharedRing.open(dir, "passwd", MIB, token));
        byte[] wrong = token.clone();
        wrong[0] ^= 1;
        assertRefused("not the ring this connection made", () -> SharedRing.open(dir, ring.name(), MIB, wrong));
        assertRefused("has " + (SharedRing.HEADER_BYTES + MIB) + " bytes, expected",
                () -> SharedRing.open(dir, ring.name(), 2 * MIB, token));
        assertRefused("must be a multiple of 4096", () -> SharedRing.open(dir, ring.name(), MIB + 1, token));

        String missing = "gpups-ring-" + "0".repeat(32) + ".shm";
        assertRefused("is not a regular file", () -> SharedRing.open(dir, missing, MIB, token));
        Path target = Files.createFile(dir.resolve("target"));
        Files.createSymbolicLink(dir.resolve(missing), target);
        assertRefused("is not a regular file", () -> SharedRing.open(dir, missing, MIB, token));

        String plain = "gpups-ring-" + "1".repeat(32) + ".shm";
        try (FileChannel ch = FileChannel.open(dir.resolve(plain), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate((int) (SharedRing.HEADER_BYTES + MIB)));
        }
        assertRefused("has magic 0x0000000000000000", () -> SharedRing.open(dir, plain, MIB, token));
    }

    private interface Opening {
        SharedRing open() throws IOException;
    }

    private static void assertRefused(String fragment, Opening opening) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, opening::open);
        assertTrue(e.getMessage().contains(fragment), "'" + e.getMessage() + "' lacks '" + fragment + "'");
    }

    private static byte[] bytes(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (seed * 31 + i);
        }
        return b;
    }

    private static byte[] read(ByteBuffer data) {
        byte[] b = new byte[data.remaining()];
        data.get(b);
        return b;
    }
}
