package io.gpups.server;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A shard's meters over real sockets: every count equals what the client did. */
class ShardMetricsTest {

    /** 6 elements in chunks of 4; sgd keeps no slots, so 24 device bytes under asp. */
    private static final TensorSpec W = new TensorSpec("w", new long[] {6},
            new Initializer(Initializer.Kind.CONSTANT, 1f, 0), new OptimizerSpec.Sgd(0.1f, 0f));

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private Device device;
    private ShardServer server;

    @BeforeEach
    void start() throws Exception {
        device = Devices.installed().open("cpu", line -> { });
        server = ShardServer.start(new ShardConfig("127.0.0.1", 0, 0, 1, 1, Consistency.parse("asp"), 4096), device,
                ShardSecurity.none(), registry);
    }

    @AfterEach
    void stop() {
        server.close();
        device.close();
    }

    @Test
    void countsRequestsBytesUpdatesAndStaleness() throws Exception {
        try (RawClient c = new RawClient(server.port())) {
            assertEquals(Opcode.OK.code, c.call(Opcode.HELLO, new Messages.Hello(0, 0)).opcode());
            int id = Messages.RegisterReply.read(c.call(Opcode.REGISTER, new Messages.Register(W, 4, new int[] {0, 1}))
                    .payload()).tensorId();
            for (int i = 0; i < 2; i++) {
                assertEquals(Opcode.OK.code, c.read(c.push(Opcode.PUSH, new Messages.PushHeader(id, 0, i, 4), new float[4])).opcode());
            }
            RawClient.assertError(c.read(c.push(Opcode.PUSH, new Messages.PushHeader(id, 7, 0, 4), new float[4])),
                    ErrorCode.BAD_CHUNK, "chunk 7");
            // asp: a pull at clock 3 while no worker has reported a clock may miss 3 clocks.
            c.pull(id, 1, 3);
        }
        assertEquals(2, count("gpups.requests", "op", "push", "result", "ok"));
        assertEquals(1, count("gpups.requests", "op", "push", "result", "error"));
        assertEquals(1, registry.get("gpups.request.errors").tags("op", "push", "code", "bad_chunk").counter().count());
        assertEquals(1, count("gpups.requests", "op", "pull", "result", "ok"));
        assertEquals(2, registry.get("gpups.pushes").functionCounter().count());
        assertEquals(32, registry.get("gpups.push").tag("encoding", "wire").functionCounter().count());
        assertEquals(32, registry.get("gpups.push").tag("encoding", "raw").functionCounter().count());
        assertEquals(8, registry.get("gpups.pull").functionCounter().count(), "2 fp32 values pulled");
        assertEquals(8, registry.get("gpups.elements.updated").functionCounter().count());
        assertEquals(2, registry.get("gpups.apply").timer().count());
        assertEquals(1, registry.get("gpups.pull.staleness").summary().count());
        assertEquals(3, registry.get("gpups.pull.staleness").summary().totalAmount());
        assertEquals(24, registry.get("gpups.device.memory").gauge().value());
        // Closing the client queues one task (forget its parked pulls); the agent drains it at once.
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (registry.get("gpups.queue.depth").gauge().value() != 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(0, registry.get("gpups.queue.depth").gauge().value());
    }

    @Test
    void countsNonFinitePushesAndTheirValues() throws Exception {
        try (RawClient c = new RawClient(server.port())) {
            assertEquals(Opcode.OK.code, c.call(Opcode.HELLO, new Messages.Hello(0, 0)).opcode());
            int id = Messages.RegisterReply.read(c.call(Opcode.REGISTER, new Messages.Register(W, 4, new int[] {0, 1}))
                    .payload()).tensorId();
            RawClient.assertError(c.read(c.push(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, 4),
                    new float[] {Float.NaN, 1f, Float.NEGATIVE_INFINITY, 2f})), ErrorCode.NON_FINITE, "2 of 4");
            RawClient.assertError(c.read(c.push(Opcode.PUSH, new Messages.PushHeader(id, 1, 0, 2),
                    new float[] {Float.NaN, Float.NaN})), ErrorCode.NON_FINITE, "2 of 2");
            assertEquals(Opcode.OK.code, c.read(c.push(Opcode.PUSH, new Messages.PushHeader(id, 1, 0, 2), new float[2])).opcode());
        }
        assertEquals(2, registry.get("gpups.nonfinite.pushes").functionCounter().count());
        assertEquals(4, registry.get("gpups.nonfinite.values").functionCounter().count());
        assertEquals(2, registry.get("gpups.request.errors").tags("op", "push", "code", "non_finite").counter().count());
    }

    private double count(String name, String... tags) {
        return registry.get(name).tags(tags).counter().count();
    }
}
