package io.gpups.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.server.checkpoint.CheckpointSettings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.concurrent.TimeUnit;

import static io.gpups.server.RawClient.assertError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A shard's checkpoints tell the truth, over real sockets: CHECKPOINT answers OK only for files that read back
 * as a restore would read them, failures are counted, what failed writes leave is removed, and {@code --restore}
 * naming a directory without a checkpoint stops the shard from starting.
 */
class CheckpointVerificationTest {

    /** 6 elements in chunks of 4: 2 chunks. */
    private static final TensorSpec W = new TensorSpec("w", new long[] {6},
            new Initializer(Initializer.Kind.CONSTANT, 1f, 0), new OptimizerSpec.Sgd(0.5f, 0f));

    @TempDir
    Path dir;

    private Device device;
    private ShardServer server;
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    private ShardServer start(int shard, int shards, CheckpointSettings checkpoints) throws Exception {
        device = Devices.installed().open("cpu", line -> { });
        server = ShardServer.start(new ShardConfig("127.0.0.1", 0, shard, shards, 1, Consistency.parse("asp"),
                Frame.DEFAULT_MAX_FRAME_BYTES), device, ShardSecurity.none(), registry, checkpoints);
        return server;
    }

    private RawClient hello() throws Exception {
        return hello(-1);
    }

    /** A connection that said HELLO as {@code rank} (-1: an admin tool; a worker rank to PULL). */
    private RawClient hello(int rank) throws Exception {
        RawClient c = new RawClient(server.port());
        assertEquals(Opcode.OK.code, c.call(Opcode.HELLO, new Messages.Hello(rank, 0)).opcode());
        return c;
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        if (device != null) {
            device.close();
        }
    }

    private static JsonNode stats(RawClient c) throws Exception {
        RawClient.Answer a = c.call(Opcode.STATS, null);
        return new ObjectMapper().readTree(Messages.Text.read(a.payload()).text());
    }

    private double failuresMetric() {
        return registry.get("gpups.checkpoint.failures").functionCounter().count();
    }

    @Test
    void aCheckpointThatWouldNotRestoreAnswersAnErrorNamingTheMissingChunkAndIsCounted() throws Exception {
        start(0, 1, new CheckpointSettings(dir, null, 0, null));
        try (RawClient c = hello()) {
            // The only shard holds chunk 0 of w's 2: a checkpoint of it cannot restore w.
            assertEquals(Opcode.OK.code, c.call(Opcode.REGISTER, new Messages.Register(W, 4, new int[] {0})).opcode());
            assertError(c.call(Opcode.CHECKPOINT, new Messages.Checkpoint("half")), ErrorCode.INTERNAL,
                    "ckpt-half-1shards was written but cannot be restored: tensor 'w': chunk 1 of 2 is in no part");
            assertEquals(1, stats(c).path("checkpoint_failures").asLong());
            assertEquals(1, failuresMetric());
        }
    }

    @Test
    void aWriteTheFileSystemRefusesAnswersAnErrorIsCountedAndLeavesNoEmptyDirectory() throws Exception {
        // A root so deep that the checkpoint's directory fits within Linux's 4095-byte path limit, but no file in
        // it does: the directory is created, then the data file's temporary file cannot be.
        String label = "x".repeat(100);
        String name = "ckpt-" + label + "-1shards";
        int rootLength = 4080 - 1 - name.length();
        Path root = dir.toAbsolutePath();
        while (root.toString().length() < rootLength) {
            int left = rootLength - root.toString().length() - 1;
            root = root.resolve("d".repeat(Math.min(200, Math.max(1, left))));
        }
        assertEquals(rootLength, root.toString().length());
        Files.createDirectories(root);
        start(0, 1, new CheckpointSettings(root, null, 0, null));
        try (RawClient c = hello()) {
            assertEquals(Opcode.OK.code, c.call(Opcode.REGISTER, new Messages.Register(W, 4, new int[] {0, 1})).opcode());
            assertError(c.call(Opcode.CHECKPOINT, new Messages.Checkpoint(label)), ErrorCode.INTERNAL,
                    "checkpoint " + name + " failed on shard 0");
            assertFalse(Files.exists(root.resolve(name)), "the failed write's empty directory is removed");
            assertEquals(1, stats(c).path("checkpoint_failures").asLong());
            assertEquals(1, failuresMetric());
            // The next checkpoint, with a name whose files fit, is written and answered OK.
            RawClient.Answer ok = c.call(Opcode.CHECKPOINT, new Messages.Checkpoint("short"));
            assertEquals(Opcode.OK.code, ok.opcode(), () -> ok.error().message());
            assertEquals(Messages.CheckpointReply.WRITTEN | Messages.CheckpointReply.SET_COMPLETE,
                    Messages.CheckpointReply.read(ok.payload()).flags());
            assertEquals(1, stats(c).path("checkpoint_failures").asLong());
        }
    }

    @Test
    void staleTemporaryFilesOfThisShardAndLongEmptyDirectoriesAreRemovedAtStart() throws Exception {
        FileTime longAgo = FileTime.fromMillis(0);
        FileTime tomorrow = FileTime.fromMillis(System.currentTimeMillis() + TimeUnit.DAYS.toMillis(1));
        Path a = Files.createDirectories(dir.resolve("ckpt-a-2shards"));
        Files.writeString(a.resolve(".shard-0.safetensors.1f2e.tmp"), "torn");
        Files.writeString(a.resolve("shard-1.json"), "{}");
        Path b = Files.createDirectories(dir.resolve("ckpt-b-2shards"));
        Files.writeString(b.resolve(".shard-1.safetensors.3c4d.tmp"), "shard 1 may be writing this");
        Path c = Files.createDirectories(dir.resolve("ckpt-c-2shards"));
        Files.setLastModifiedTime(c, longAgo);
        Path d = Files.createDirectories(dir.resolve("ckpt-d-2shards"));
        Files.setLastModifiedTime(d, tomorrow); // as if another shard had just created it for a write
        Path e = Files.createDirectories(dir.resolve("ckpt-e-2shards"));
        Files.writeString(e.resolve(".shard-0.json.5a.tmp"), "{");
        Files.setLastModifiedTime(e, longAgo);
        Path notCheckpoint = Files.createDirectories(dir.resolve("notes"));

        start(0, 2, new CheckpointSettings(dir, null, 0, null));

        assertFalse(Files.exists(a.resolve(".shard-0.safetensors.1f2e.tmp")), "this shard's torn temporary file");
        assertTrue(Files.exists(a.resolve("shard-1.json")), "another shard's part stays");
        assertTrue(Files.exists(b.resolve(".shard-1.safetensors.3c4d.tmp")), "another shard's temporary file stays");
        assertFalse(Files.exists(c), "empty for long: removed");
        assertTrue(Files.exists(d), "empty since just now: another shard may be about to write into it");
        assertFalse(Files.exists(e), "emptied of this shard's temporary file, and empty for long: removed");
        assertTrue(Files.exists(notCheckpoint), "not a checkpoint directory: left alone");
    }

    @Test
    void restoreFromADirectoryWithoutACheckpointIsAnErrorNamingWhatItHolds() throws Exception {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> start(0, 1, new CheckpointSettings(null, null, 0, empty)));
        assertTrue(e.getMessage().contains("--restore " + empty + ": no checkpoint to restore (it is empty)"), e.getMessage());
        assertTrue(e.getMessage().contains("--restore-if-present"), e.getMessage());
        device.close();
        device = null;

        Path other = Files.createDirectories(dir.resolve("other"));
        Files.writeString(other.resolve("notes.txt"), "not a checkpoint", StandardCharsets.UTF_8);
        e = assertThrows(IllegalArgumentException.class, () -> start(0, 1, new CheckpointSettings(null, null, 0, other)));
        assertTrue(e.getMessage().contains("(it holds 1 entry, no ckpt-* directory: notes.txt)"), e.getMessage());
        device.close();
        device = null;

        Path missing = dir.resolve("missing");
        e = assertThrows(IllegalArgumentException.class, () -> start(0, 1, new CheckpointSettings(null, null, 0, missing)));
        assertTrue(e.getMessage().contains("--restore " + missing + ": no checkpoint to restore (it does not exist)"), e.getMessage());
    }

    @Test
    void restoreIfPresentStartsFromTheInitializersWhenTheDirectoryHoldsNoCheckpoint() throws Exception {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        start(0, 1, new CheckpointSettings(null, null, 0, empty, true));
        try (RawClient c = hello(0)) {
            RawClient.Answer a = c.call(Opcode.REGISTER, new Messages.Register(W, 4, new int[] {0, 1}));
            assertEquals(Opcode.OK.code, a.opcode(), () -> a.error().message());
            int id = Messages.RegisterReply.read(a.payload()).tensorId();
            assertArrayEquals(new float[] {1f, 1f}, c.pull(id, 1, 0), "chunk 1 holds the initializer's values");
        }
    }
}
