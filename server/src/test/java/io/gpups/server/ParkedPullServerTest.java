package io.gpups.server;

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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;

import static io.gpups.server.RawClient.assertError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Parked pulls over real sockets: a 2-worker bsp shard, each worker on its own connection. */
class ParkedPullServerTest {

    private static final float LR = 0.5f;
    /** 4 elements, one chunk. */
    private static final TensorSpec W = new TensorSpec("w", new long[] {4},
            new Initializer(Initializer.Kind.CONSTANT, 1f, 0), new OptimizerSpec.Sgd(LR, 0f));
    private static final ObjectMapper JSON = new ObjectMapper();

    private Device device;
    private ShardServer server;

    @BeforeEach
    void start() throws Exception {
        device = Devices.installed().open("cpu", line -> { });
        server = ShardServer.start(new ShardConfig("127.0.0.1", 0, 0, 1, 2, Consistency.parse("bsp"),
                Frame.DEFAULT_MAX_FRAME_BYTES, 5000), device);
    }

    @AfterEach
    void stop() {
        server.close();
        device.close();
    }

    private RawClient worker(int rank) throws Exception {
        RawClient c = new RawClient(server.port());
        assertEquals(Opcode.OK.code, c.call(Opcode.HELLO, new Messages.Hello(rank, 0)).opcode());
        RawClient.Answer a = c.call(Opcode.REGISTER, new Messages.Register(W, 4, new int[] {0}));
        assertEquals(Opcode.OK.code, a.opcode(), () -> a.error().message());
        return c;
    }

    @Test
    void aPullForClockTwoToTheSixtyIsRefusedAtOnceAndTheJobGoesOn() throws Exception {
        try (RawClient w0 = worker(0); RawClient w1 = worker(1)) {
            long far = 1L << 60;
            assertError(w0.call(Opcode.PULL, new Messages.Pull(0, 0, far)), ErrorCode.BAD_ARGUMENT,
                    "at clock 1152921504606846976, but the chunk's version is 0");

            long pull0 = w0.send(Opcode.PULL, new Messages.Pull(0, 0, 1));
            assertEquals(Opcode.OK.code, w1.read(w1.push(Opcode.PUSH, new Messages.PushHeader(0, 0, 0, 4),
                    new float[] {2, 2, 2, 2})).opcode());
            long push0 = w0.push(Opcode.PUSH, new Messages.PushHeader(0, 0, 0, 4), new float[] {4, 4, 4, 4});
            Set<Long> ids = new HashSet<>();
            for (int i = 0; i < 2; i++) {
                RawClient.Answer a = w0.read();
                ids.add(a.requestId());
                assertEquals(a.requestId() == pull0 ? Opcode.DATA.code : Opcode.OK.code, a.opcode());
            }
            assertEquals(Set.of(pull0, push0), ids, "the parked pull and the push were both answered");
            assertArrayEquals(new float[] {1 - 3 * LR, 1 - 3 * LR, 1 - 3 * LR, 1 - 3 * LR}, w1.pull(0, 0, 1));
            assertEquals(1, stats(w1).path("updates").asLong());
        }
    }

    @Test
    void pullsBeyondAConnectionsCapAreRefusedAndAClosedConnectionsPullsGo() throws Exception {
        server.agent().limitParkedPulls(new ParkedPulls.Limits(4, 1000));
        try (RawClient w1 = worker(1)) {
            Set<Long> parked = new HashSet<>();
            try (RawClient w0 = worker(0)) {
                long[] ids = new long[6];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = w0.send(Opcode.PULL, new Messages.Pull(0, 0, 1));
                }
                // The two beyond the cap are answered at once; the four within it wait for step 0.
                for (int i = 4; i < 6; i++) {
                    assertError(w0.read(ids[i]), ErrorCode.OUT_OF_MEMORY,
                            "this connection already has 4 parked pulls, its limit (4)");
                }
                assertEquals(4, stats(w0).path("parked_pulls_now").asLong());

                long push0 = w0.push(Opcode.PUSH, new Messages.PushHeader(0, 0, 0, 4), new float[4]);
                assertEquals(Opcode.OK.code, w1.read(w1.push(Opcode.PUSH, new Messages.PushHeader(0, 0, 0, 4), new float[4])).opcode());
                Set<Long> answered = new HashSet<>();
                for (int i = 0; i < 5; i++) {
                    RawClient.Answer a = w0.read();
                    assertEquals(a.requestId() == push0 ? Opcode.OK.code : Opcode.DATA.code, a.opcode());
                    answered.add(a.requestId());
                }
                assertEquals(Set.of(ids[0], ids[1], ids[2], ids[3], push0), answered, "every pull got its one answer");
                assertEquals(0, stats(w0).path("parked_pulls_now").asLong());

                // Two more wait for step 1; then the connection goes.
                parked.add(w0.send(Opcode.PULL, new Messages.Pull(0, 0, 2)));
                parked.add(w0.send(Opcode.PULL, new Messages.Pull(0, 0, 2)));
                assertEquals(2, stats(w0).path("parked_pulls_now").asLong());
            }
            // The shard learns of the close on its own event loop; wait for the count, bounded.
            long deadline = System.nanoTime() + 10_000_000_000L;
            long now;
            while ((now = stats(w1).path("parked_pulls_now").asLong()) != 0 && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertEquals(0, now, "the closed connection's " + parked.size() + " parked pulls are gone");
            assertEquals(2, stats(w1).path("errors").asLong());
        }
    }

    private static com.fasterxml.jackson.databind.JsonNode stats(RawClient c) throws Exception {
        return JSON.readTree(Messages.Text.read(c.call(Opcode.STATS, null).payload()).text());
    }
}
