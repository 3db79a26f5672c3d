package io.gpups.server.checkpoint;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.gpups.core.config.Consistency;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.tensor.ChunkLayout;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Atomic writes, the checkpoint layout, and torn or corrupt checkpoints falling back to the previous one. */
class CheckpointFilesTest {

    @TempDir
    Path root;

    private static final OptimizerSpec ADAM = new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0f);
    /** 10 elements in chunks of 4: chunks 0, 1 (4 each) and 2 (2). */
    private static final TensorSpec W = new TensorSpec("layer/w", new long[] {2, 5}, Initializer.zeros(), ADAM);
    private static final TensorSpec B = new TensorSpec("b", new long[] {3}, Initializer.zeros(), new OptimizerSpec.Momentum(0.1f, 0.9f, 0f));
    private static final int CE = 4;

    /** A channel that accepts {@code limit} bytes, then fails like a full disk. */
    private static UnaryOperator<WritableByteChannel> failingAfter(long limit) {
        return inner -> new WritableByteChannel() {
            long written;

            @Override
            public int write(ByteBuffer src) throws IOException {
                if (written + src.remaining() > limit) {
                    ByteBuffer part = src.duplicate();
                    part.limit(part.position() + (int) (limit - written));
                    int n = inner.write(part);
                    src.position(src.position() + n);
                    written += n;
                    throw new IOException("No space left on device (simulated)");
                }
                int n = inner.write(src);
                written += n;
                return n;
            }

            @Override
            public boolean isOpen() {
                return true;
            }

            @Override
            public void close() {
            }
        };
    }

    private List<String> namesIn(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void atomicWriteLeavesTheTargetAndNoTemporaryFileWhenTheOutputFails() throws IOException {
        Path target = root.resolve("f.bin");
        byte[] first = "the previous content".getBytes(StandardCharsets.UTF_8);
        AtomicFiles.Written w = AtomicFiles.write(target, out -> out.write(ByteBuffer.wrap(first)));
        assertArrayEquals(first, Files.readAllBytes(target));
        assertEquals(first.length, w.bytes());
        assertEquals(HexFormat.of().formatHex(sha256(first)), w.sha256());
        assertEquals(w.sha256(), AtomicFiles.sha256(target));
        assertEquals(List.of("f.bin"), namesIn(root), "no temporary file left");

        byte[] big = new byte[100_000];
        IOException e = assertThrows(IOException.class, () -> AtomicFiles.write(target,
                out -> out.write(ByteBuffer.wrap(big)), failingAfter(1000)));
        assertTrue(e.getMessage().contains("No space"));
        assertArrayEquals(first, Files.readAllBytes(target), "the previous file is untouched");
        assertEquals(List.of("f.bin"), namesIn(root), "the temporary file was removed");
    }

    private static byte[] sha256(byte[] b) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(b);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** Values of element i of a tensor at a version: any deterministic function. */
    private static float value(String tensor, int slot, long version, long i) {
        return tensor.length() * 0.5f + slot * 10 + version * 100 + i * 0.25f;
    }

    private static ShardSnapshot.TensorSnapshot tensor(TensorSpec spec, long version, int... chunks) {
        ChunkLayout layout = new ChunkLayout(spec.elements(), CE);
        List<ShardSnapshot.ChunkSnapshot> list = new ArrayList<>();
        int slots = spec.optimizer().slots();
        for (int c : chunks) {
            int n = layout.length(c);
            float[] p = new float[n];
            float[][] s = new float[slots][n];
            for (int i = 0; i < n; i++) {
                p[i] = value(spec.name(), 0, version + c, layout.offset(c) + i);
                for (int k = 0; k < slots; k++) {
                    s[k][i] = value(spec.name(), k + 1, version + c, layout.offset(c) + i);
                }
            }
            list.add(new ShardSnapshot.ChunkSnapshot(c, layout.offset(c), n, version + c, p, s));
        }
        return new ShardSnapshot.TensorSnapshot(spec, CE, layout.chunks(), list);
    }

    /** Two shards: shard 0 holds chunks 0 and 2 of W, shard 1 holds chunk 1 of W and all of B. */
    private void writeCheckpoint(String label, long version) throws IOException {
        CheckpointWriter writer = new CheckpointWriter(root, 0);
        writer.write(new ShardSnapshot(label, 0, 2, 2, Consistency.bsp(), 1000 + version, List.of(tensor(W, version, 0, 2))));
        writer.write(new ShardSnapshot(label, 1, 2, 2, Consistency.bsp(), 1000 + version,
                List.of(tensor(W, version, 1), tensor(B, version, 0))));
    }

    private static Path dir(Path root, String label) {
        return root.resolve(ShardSnapshot.directoryName(label, 2));
    }

    @Test
    void writesTheLayoutAndRestoresEveryChunkFromWhicheverFileHoldsIt() throws IOException {
        writeCheckpoint("step-1", 1);
        Path d = dir(root, "step-1");
        assertEquals(List.of("manifest.json", "shard-0.json", "shard-0.safetensors", "shard-1.json", "shard-1.safetensors"), namesIn(d));

        // Shard 1 holds B whole: full shape, one version per chunk; W in part: per chunk, 1-D.
        MinimalSafeTensorsReader s1 = new MinimalSafeTensorsReader(Files.readAllBytes(d.resolve("shard-1.safetensors")));
        assertEquals(List.of("version/layer/w/chunk1", "version/b", "param/layer/w/chunk1", "state/layer/w/chunk1/m",
                "state/layer/w/chunk1/v", "param/b", "state/b/momentum"), List.copyOf(s1.tensors.keySet()));
        assertArrayEquals(new long[] {3}, s1.tensors.get("param/b").shape());
        assertArrayEquals(new long[] {4}, s1.tensors.get("param/layer/w/chunk1").shape());
        assertArrayEquals(new double[] {2}, s1.tensors.get("version/layer/w/chunk1").values());
        assertEquals("pt", s1.metadata.get("format"));
        assertEquals("1", s1.metadata.get("gpups.shard"));
        assertEquals(value("layer/w", 2, 2, 5), (float) s1.tensors.get("state/layer/w/chunk1/v").values()[1]);

        CheckpointCatalog.Found found = CheckpointCatalog.newestComplete(root, LoggerFactory.getLogger("test"));
        assertNotNull(found);
        assertTrue(found.complete(), found.problem());
        Manifest m = found.manifest();
        assertEquals(2, m.shards());
        assertEquals("bsp", m.consistency());
        assertEquals(List.of("shard-0.safetensors", "shard-0.json", "shard-1.safetensors", "shard-1.json"),
                m.files().stream().map(Manifest.FileEntry::name).toList());
        Manifest.TensorEntry w = m.tensors().stream().filter(t -> t.name().equals("layer/w")).findFirst().orElseThrow();
        assertEquals(3, w.chunkCount());
        assertEquals(List.of(0, 1, 0), w.chunks().stream().map(Manifest.ChunkEntry::shard).toList());
        assertEquals(List.of(1L, 2L, 3L), w.chunks().stream().map(Manifest.ChunkEntry::version).toList());
        assertEquals(List.of("m", "v"), w.optimizer().slots());
        assertEquals(0.999f, w.optimizer().hyperParameters().get("beta2"));
        assertEquals(W, w.spec(), "the tensor's definition round-trips");

        CheckpointRestore restore = new CheckpointRestore(found);
        for (int c = 0; c < 3; c++) {
            CheckpointRestore.Chunk chunk = restore.read("layer/w", c);
            int n = c == 2 ? 2 : 4;
            assertEquals(1 + c, chunk.version());
            for (int i = 0; i < n; i++) {
                assertEquals(value("layer/w", 0, 1 + c, 4L * c + i), chunk.param()[i]);
                assertEquals(value("layer/w", 1, 1 + c, 4L * c + i), chunk.slots()[0][i]);
                assertEquals(value("layer/w", 2, 1 + c, 4L * c + i), chunk.slots()[1][i]);
            }
        }
        assertNull(restore.incompatibility(W, CE));
        assertTrue(restore.incompatibility(W, 8).contains("chunk size 8 elements differs from the checkpoint's 4, whose chunks are at versions 1..3"));
        assertThrows(IllegalArgumentException.class, () -> restore.read("layer/w", new ChunkLayout(10, 8), 0),
                "chunk 0 of 8 elements spans chunks 0 (version 1) and 1 (version 2)");
        assertTrue(restore.incompatibility(new TensorSpec("b", new long[] {4}, Initializer.zeros(), ADAM), CE).contains("shape"));
    }

    /**
     * A bsp checkpoint (every chunk of W at one version) fills chunks cut differently: W's chunks of 4 (4, 4, 2) read
     * back as chunks of 3 (3, 3, 3, 1), each from the old chunks it spans, and as one whole chunk. A checkpoint
     * whose chunks are at different versions cannot be re-cut.
     */
    @Test
    void aCheckpointAtOneVersionRestoresIntoAnotherChunkSize() throws IOException {
        ShardSnapshot.TensorSnapshot mixed = tensor(W, 5, 0, 1, 2);
        List<ShardSnapshot.ChunkSnapshot> atFive = mixed.chunks().stream()
                .map(c -> new ShardSnapshot.ChunkSnapshot(c.index(), c.offset(), c.length(), 5, values(0, c), slotValues(c)))
                .toList();
        new CheckpointWriter(root, 0).write(new ShardSnapshot("bsp", 0, 1, 2, Consistency.bsp(), 1000,
                List.of(new ShardSnapshot.TensorSnapshot(W, CE, 3, atFive))));
        CheckpointRestore restore = new CheckpointRestore(CheckpointCatalog.newestComplete(root, LoggerFactory.getLogger("test")));
        for (int chunkElements : new int[] {3, 10}) {
            assertNull(restore.incompatibility(W, chunkElements));
            ChunkLayout layout = new ChunkLayout(W.elements(), chunkElements);
            for (int c = 0; c < layout.chunks(); c++) {
                CheckpointRestore.Chunk chunk = restore.read("layer/w", layout, c);
                assertEquals(5, chunk.version());
                assertEquals(layout.length(c), chunk.param().length);
                for (int i = 0; i < layout.length(c); i++) {
                    long at = layout.offset(c) + i;
                    assertEquals(value("layer/w", 0, 5, at), chunk.param()[i], "chunks of " + chunkElements + ", element " + at);
                    assertEquals(value("layer/w", 1, 5, at), chunk.slots()[0][i]);
                    assertEquals(value("layer/w", 2, 5, at), chunk.slots()[1][i]);
                }
            }
        }
    }

    private static float[] values(int slot, ShardSnapshot.ChunkSnapshot c) {
        float[] out = new float[c.length()];
        for (int i = 0; i < out.length; i++) {
            out[i] = value("layer/w", slot, 5, c.offset() + i);
        }
        return out;
    }

    private static float[][] slotValues(ShardSnapshot.ChunkSnapshot c) {
        return new float[][] {values(1, c), values(2, c)};
    }

    @Test
    void aWriteThatFailsMidwayLeavesThePreviousCheckpointTheNewestComplete() throws IOException {
        writeCheckpoint("step-1", 1);
        CheckpointWriter writer = new CheckpointWriter(root, 0);
        ShardSnapshot next = new ShardSnapshot("step-2", 0, 2, 2, Consistency.bsp(), 2000, List.of(tensor(W, 2, 0, 2)));
        assertThrows(IOException.class, () -> writer.write(next, failingAfter(200), null));
        Path d = dir(root, "step-2");
        assertEquals(List.of(), namesIn(d), "neither the data file, its part, nor a temporary file");
        CheckpointCatalog.Found found = CheckpointCatalog.newestComplete(root, LoggerFactory.getLogger("test"));
        assertEquals(dir(root, "step-1"), found.directory());
    }

    private List<String> restoreLog(Runnable r) {
        Logger logger = (Logger) LoggerFactory.getLogger("test.restore");
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        logger.addAppender(appender);
        try {
            r.run();
        } finally {
            logger.detachAppender(appender);
        }
        return appender.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    }

    /** Breaks the newest of two checkpoints with {@code damage}; restore picks the older, with one log line. */
    private String fallsBack(IoAction damage) throws IOException {
        writeCheckpoint("step-1", 1);
        writeCheckpoint("step-2", 2);
        damage.run(dir(root, "step-2"));
        CheckpointCatalog.Found[] found = new CheckpointCatalog.Found[1];
        List<String> lines = restoreLog(() -> {
            try {
                found[0] = CheckpointCatalog.newestComplete(root, LoggerFactory.getLogger("test.restore"));
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        });
        assertEquals(dir(root, "step-1"), found[0].directory());
        assertEquals(1, lines.size(), lines.toString());
        assertTrue(lines.get(0).contains("ckpt-step-2-2shards is not usable"), lines.get(0));
        return lines.get(0);
    }

    private interface IoAction {
        void run(Path dir) throws IOException;
    }

    @Test
    void aFlippedByteIsCaughtByTheChecksum() throws IOException {
        String line = fallsBack(d -> {
            try (RandomAccessFile f = new RandomAccessFile(d.resolve("shard-1.safetensors").toFile(), "rw")) {
                f.seek(f.length() - 3);
                int b = f.read();
                f.seek(f.length() - 3);
                f.write(b ^ 0x10);
            }
        });
        assertTrue(line.contains("shard-1.safetensors has SHA-256") && line.contains("corrupt"), line);
    }

    @Test
    void aTruncatedDataFileIsCaught() throws IOException {
        String line = fallsBack(d -> {
            try (RandomAccessFile f = new RandomAccessFile(d.resolve("shard-0.safetensors").toFile(), "rw")) {
                f.setLength(f.length() - 7);
            }
        });
        assertTrue(line.contains("shard-0.safetensors is") && line.contains("(truncated)"), line);
    }

    @Test
    void aMissingPartIsCaught() throws IOException {
        String line = fallsBack(d -> {
            Files.delete(d.resolve("shard-1.json"));
            Files.delete(d.resolve("manifest.json"));
        });
        assertTrue(line.contains("shard-1.json is missing (1 of 2 shards' parts present)"), line);
    }

    @Test
    void aMissingDataFileIsCaught() throws IOException {
        String line = fallsBack(d -> Files.delete(d.resolve("shard-0.safetensors")));
        assertTrue(line.contains("shard-0.safetensors is missing"), line);
    }

    @Test
    void aGarbledPartIsCaught() throws IOException {
        String line = fallsBack(d -> Files.writeString(d.resolve("shard-0.json"), "{\"format\": \"gpups-checkpoint\", tru"));
        assertTrue(line.contains("shard-0.json is not a readable manifest"), line);
    }

    @Test
    void aManifestThatDisagreesWithThePartsIsCaught() throws IOException {
        String line = fallsBack(d -> {
            String m = Files.readString(d.resolve("manifest.json"));
            Manifest parsed = Manifest.read(d.resolve("manifest.json"));
            String sha = parsed.files().get(0).sha256();
            Files.writeString(d.resolve("manifest.json"), m.replace(sha, sha.replace(sha.charAt(0), sha.charAt(0) == 'a' ? 'b' : 'a')));
        });
        assertTrue(line.contains("manifest.json disagrees with shard-0.safetensors"), line);
    }

    @Test
    void noCompleteCheckpointIsAnErrorAndNoCheckpointAtAllIsNull() throws IOException {
        assertNull(CheckpointCatalog.newestComplete(root, LoggerFactory.getLogger("test")));
        writeCheckpoint("step-1", 1);
        Files.delete(dir(root, "step-1").resolve("shard-0.json"));
        IOException e = assertThrows(IOException.class, () -> CheckpointCatalog.newestComplete(root, LoggerFactory.getLogger("test")));
        assertTrue(e.getMessage().contains("no complete checkpoint"), e.getMessage());
    }

    @Test
    void anUnchangedPartIsNotRewrittenAndRetentionKeepsTheNewest() throws IOException {
        writeCheckpoint("step-1", 1);
        Path part = dir(root, "step-1").resolve("shard-0.json");
        long before = Files.getLastModifiedTime(part).toMillis();
        CheckpointWriter.Result again = new CheckpointWriter(root, 0).write(
                new ShardSnapshot("step-1", 0, 2, 2, Consistency.bsp(), 5000, List.of(tensor(W, 1, 0, 2))));
        assertFalse(again.written());
        assertEquals(before, Files.getLastModifiedTime(part).toMillis());

        writeCheckpoint("step-2", 2);
        writeCheckpoint("step-3", 3);
        // keep 2: a write deletes the checkpoints older than the 2 newest complete ones. Shard 0 writes step-4
        // first, when step-4 is not complete yet: step-2 and step-3 are kept, step-1 goes; shard 1 completes
        // step-4, and step-2 goes.
        CheckpointWriter writer = new CheckpointWriter(root, 2);
        writer.write(new ShardSnapshot("step-4", 0, 2, 2, Consistency.bsp(), 1004, List.of(tensor(W, 4, 0, 2))));
        assertEquals(List.of("ckpt-step-2-2shards", "ckpt-step-3-2shards", "ckpt-step-4-2shards"), namesIn(root));
        writer.write(new ShardSnapshot("step-4", 1, 2, 2, Consistency.bsp(), 1004,
                List.of(tensor(W, 4, 1), tensor(B, 4, 0))));
        assertEquals(List.of("ckpt-step-3-2shards", "ckpt-step-4-2shards"), namesIn(root));
        writer.write(new ShardSnapshot("step-5", 0, 2, 2, Consistency.bsp(), 1005, List.of(tensor(W, 5, 0, 2))));
        assertEquals(List.of("ckpt-step-3-2shards", "ckpt-step-4-2shards", "ckpt-step-5-2shards"), namesIn(root));
        assertTrue(CheckpointCatalog.check(dir(root, "step-3"), true, false).complete(), "the kept ones are intact");
    }

    @Test
    void scheduleSyntax() {
        assertEquals(java.time.Duration.ofSeconds(30), CheckpointSchedule.parse("30").period());
        assertEquals(java.time.Duration.ofSeconds(30), CheckpointSchedule.parse("30s").period());
        assertEquals(java.time.Duration.ofMinutes(10), CheckpointSchedule.parse("10m").period());
        assertEquals(java.time.Duration.ofHours(1), CheckpointSchedule.parse("1h").period());
        assertEquals(500, CheckpointSchedule.parse("500steps").steps());
        assertEquals(500, CheckpointSchedule.parse("500 steps").steps());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CheckpointSchedule.parse("0s")).getMessage().contains("> 0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CheckpointSchedule.parse("ten")).getMessage().contains("500steps"));
    }
}
