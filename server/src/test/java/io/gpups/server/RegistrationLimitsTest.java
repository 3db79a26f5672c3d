package io.gpups.server;

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
import io.gpups.server.checkpoint.CheckpointCatalog;
import io.gpups.server.checkpoint.CheckpointSettings;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static io.gpups.server.RawClient.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What a REGISTER may take from a shard, over real sockets: no empty registrations, and a byte floor per tensor. */
class RegistrationLimitsTest {

    @TempDir
    Path dir;

    private Device device;
    private ShardServer server;

    private RawClient start(ShardSecurity security, CheckpointSettings checkpoints) throws Exception {
        device = Devices.installed().open("cpu", line -> { });
        server = ShardServer.start(new ShardConfig("127.0.0.1", 0, 0, 1, 1, Consistency.parse("asp"),
                Frame.DEFAULT_MAX_FRAME_BYTES), device, security, null, checkpoints);
        RawClient c = new RawClient(server.port());
        assertEquals(Opcode.OK.code, c.call(Opcode.HELLO, new Messages.Hello(-1, 0)).opcode());
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

    private static TensorSpec tiny(String name) {
        return new TensorSpec(name, new long[] {1}, Initializer.zeros(), new OptimizerSpec.Sgd(0.1f, 0f));
    }

    @Test
    void aRegisterListingNoChunkIsRefusedAndTheNextCheckpointIsUsable() throws Exception {
        try (RawClient c = start(ShardSecurity.none(), new CheckpointSettings(dir, null, 0, null))) {
            TensorSpec ghost = new TensorSpec("ghost", new long[] {8}, Initializer.zeros(), new OptimizerSpec.Sgd(0.1f, 0f));
            assertError(c.call(Opcode.REGISTER, new Messages.Register(ghost, 4, new int[0])), ErrorCode.BAD_ARGUMENT,
                    "REGISTER 'ghost' lists no chunk");
            TensorSpec w = new TensorSpec("w", new long[] {8}, Initializer.zeros(), new OptimizerSpec.Sgd(0.1f, 0f));
            assertEquals(Opcode.OK.code, c.call(Opcode.REGISTER, new Messages.Register(w, 4, new int[] {0, 1})).opcode());

            RawClient.Answer a = c.call(Opcode.CHECKPOINT, new Messages.Checkpoint("after-ghost"));
            assertEquals(Opcode.OK.code, a.opcode(), () -> a.error().message());
            CheckpointCatalog.Found found = CheckpointCatalog.check(dir.resolve("ckpt-after-ghost-1shards"), true, false);
            assertTrue(found.complete(), found.problem());
            assertEquals(1, found.manifest().tensors().size(), "only w is in it");
        }
    }

    @Test
    void aHundredThousandTinyRegistrationsAreStoppedByTheByteLimit() throws Exception {
        // Each 1-element sgd tensor takes 4 device bytes, and 4096 + its name's length for its metadata.
        long limit = 1 << 20;
        try (RawClient c = start(new ShardSecurity(null, null, ShardSecurity.DEFAULT_MAX_CONNECTIONS, limit),
                CheckpointSettings.none())) {
            int accepted = 0;
            RawClient.Answer refused = null;
            for (int i = 0; i < 100_000 && refused == null; i++) {
                RawClient.Answer a = c.call(Opcode.REGISTER, new Messages.Register(tiny(String.format("t%06d", i)), 1, new int[] {0}));
                if (a.opcode() == Opcode.OK.code) {
                    accepted++;
                } else {
                    refused = a;
                }
            }
            long each = 4 + RegistrationBytes.METADATA_FLOOR_BYTES + 7;
            assertEquals(limit / each, accepted, "registrations the limit holds, at " + each + " bytes each");
            assertTrue(refused != null, "the limit stopped them");
            assertError(refused, ErrorCode.OUT_OF_MEMORY, "needs " + each + " bytes (device memory and 4103 for its metadata)");
            // The shard goes on serving: a registration already made is still answered.
            assertEquals(Opcode.OK.code, c.call(Opcode.REGISTER, new Messages.Register(tiny("t000000"), 1, new int[] {0})).opcode());
        }
    }
}
