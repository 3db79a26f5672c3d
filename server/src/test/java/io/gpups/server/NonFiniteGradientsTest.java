package io.gpups.server;

import io.gpups.core.codec.Codec;
import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.server.checkpoint.CheckpointSettings;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.gpups.server.RawClient.assertError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pushes with NaN or infinite gradients against a shard over real sockets, under each --nonfinite policy and
 * consistency mode, alone and queued in a batch: what is answered, what is counted, and that the model holds exactly
 * what the finite gradients make of it.
 */
class NonFiniteGradientsTest {

    private static final float LR = 0.5f;
    private static final float NAN = Float.NaN;
    private static final float INF = Float.POSITIVE_INFINITY;
    /** One chunk of 4 (sgd, constant 1). */
    private static final TensorSpec SGD = new TensorSpec("w", new long[] {4},
            new Initializer(Initializer.Kind.CONSTANT, 1f, 0), new OptimizerSpec.Sgd(LR, 0f));
    /** One chunk of 4 (adam: its moments would move a parameter that took a step with gradient 0). */
    private static final TensorSpec ADAM = new TensorSpec("a", new long[] {4},
            new Initializer(Initializer.Kind.CONSTANT, 0.5f, 0), new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0f));

    private final CountDownLatch gate = new CountDownLatch(1);
    private Device device;
    private ShardServer server;

    private void start(String consistency, int workers, NonFinitePolicy policy) throws Exception {
        device = Devices.installed().open("cpu", line -> { });
        server = ShardServer.start(new ShardConfig("127.0.0.1", 0, 0, 1, workers, Consistency.parse(consistency), 1 << 20),
                device, ShardSecurity.none(), null, CheckpointSettings.none(), policy);
    }

    @AfterEach
    void stop() {
        gate.countDown();
        if (server != null) {
            server.close();
        }
        if (device != null) {
            device.close();
        }
    }

    private RawClient hello(int rank) throws Exception {
        RawClient c = new RawClient(server.port());
        assertEquals(Opcode.OK.code, c.call(Opcode.HELLO, new Messages.Hello(rank, 0)).opcode());
        return c;
    }

    private static int register(RawClient c, TensorSpec spec) throws Exception {
        RawClient.Answer a = c.call(Opcode.REGISTER, new Messages.Register(spec, 4, new int[] {0}));
        assertEquals(Opcode.OK.code, a.opcode(), () -> a.error().message());
        return Messages.RegisterReply.read(a.payload()).tensorId();
    }

    private static long stat(RawClient c, String field) throws Exception {
        String json = Messages.Text.read(c.call(Opcode.STATS, null).payload()).text();
        Matcher m = Pattern.compile("\"" + field + "\":(\\d+)").matcher(json);
        assertTrue(m.find(), field + " in " + json);
        return Long.parseLong(m.group(1));
    }

    private static RawClient.Answer push(RawClient c, int id, long step, float... g) throws Exception {
        return c.read(c.push(Opcode.PUSH, new Messages.PushHeader(id, 0, step, g.length), g));
    }

    private static void assertOk(RawClient.Answer a, String what) {
        assertEquals(Opcode.OK.code, a.opcode(), () -> what + ": " + (a.opcode() == Opcode.ERROR.code ? a.error().message() : "not OK"));
    }

    /** Holds the agent until the gate opens: what arrives meanwhile queues behind this task (ShardBatchTest). */
    private void hold() throws InterruptedException {
        server.agent().submit(() -> {
            try {
                gate.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        awaitQueued(0);
    }

    private void awaitQueued(long tasks) throws InterruptedException {
        AgentQueue.await(server, tasks);
    }

    private static float[] sgd(float[] p, float scale, float[]... grads) {
        float[] out = p.clone();
        for (int i = 0; i < out.length; i++) {
            float sum = 0;
            for (float[] g : grads) {
                sum += g[i];
            }
            out[i] -= LR * (scale * sum);
        }
        return out;
    }

    // ---- reject (the default) ----------------------------------------------------------------------------

    @Test
    void anAspAllNanPushIsRefusedCountedAndLeavesEveryParameterAsItWas() throws Exception {
        start("asp", 2, NonFinitePolicy.REJECT);
        try (RawClient honest = hello(0); RawClient attacker = hello(1)) {
            int id = register(honest, ADAM);
            assertOk(push(honest, id, 0, 0.5f, -1f, 2f, 0.25f), "a finite push");
            float[] before = honest.pull(id, 0, 0);
            RawClient.Answer refused = push(attacker, id, 7, NAN, NAN, NAN, NAN);
            assertError(refused, ErrorCode.NON_FINITE, "'a' chunk 0 from rank 1 for step 7: 4 of 4 gradient values");
            assertArrayEquals(before, honest.pull(id, 0, 0), "parameters after the refused push, bit for bit");
            assertEquals(1, stat(honest, "nonfinite_pushes"));
            assertEquals(4, stat(honest, "nonfinite_values"));
            assertEquals(1, stat(honest, "errors"));
            assertEquals(2, stat(honest, "updates"), "under asp the refused push's fused step ran: an update");
            assertOk(push(honest, id, 1, 0.5f, -1f, 2f, 0.25f), "the honest worker goes on");
            for (float v : honest.pull(id, 0, 0)) {
                assertTrue(Float.isFinite(v), "parameter " + v);
            }
        }
    }

    @Test
    void anAspPartlyInfinitePushLeavesItsNonFiniteElementsAlone() throws Exception {
        start("asp", 1, NonFinitePolicy.REJECT);
        try (RawClient c = hello(0)) {
            int id = register(c, SGD);
            assertError(push(c, id, 0, 1f, INF, -INF, 2f), ErrorCode.NON_FINITE, "2 of 4 gradient values");
            float[] p = c.pull(id, 0, 0);
            assertEquals(1f, p[1]);
            assertEquals(1f, p[2]);
            for (float v : p) {
                assertTrue(Float.isFinite(v), "parameter " + v);
            }
        }
    }

    @Test
    void aBspInfinitePushForTheNextStepTakesNoWorkersPlace() throws Exception {
        start("bsp", 2, NonFinitePolicy.REJECT);
        try (RawClient w0 = hello(0); RawClient w1 = hello(1)) {
            int id = register(w0, SGD);
            float[] g0 = {1f, -2f, 0.5f, 4f};
            float[] g1 = {3f, 2f, -0.5f, 0f};
            assertError(push(w0, id, 0, INF, INF, INF, INF), ErrorCode.NON_FINITE, "from rank 0 for step 0");
            assertOk(push(w0, id, 0, g0), "rank 0's own gradient");
            assertOk(push(w1, id, 0, g1), "rank 1's gradient");
            assertArrayEquals(sgd(new float[] {1, 1, 1, 1}, 0.5f, g0, g1), w0.pull(id, 0, 1),
                    "the step applies the mean of the two finite gradients");
            assertEquals(0, stat(w0, "duplicate_pushes"));
            assertEquals(1, stat(w0, "updates"));
        }
    }

    @Test
    void aBspPartlyNanPushIsTakenOutOfASumThatAlreadyHoldsAnotherGradient() throws Exception {
        start("bsp", 2, NonFinitePolicy.REJECT);
        try (RawClient w0 = hello(0); RawClient w1 = hello(1)) {
            int id = register(w0, SGD);
            float[] g0 = {1f, -2f, 0.5f, 4f};
            float[] g1 = {3f, 2f, -0.5f, 0f};
            assertOk(push(w1, id, 0, g1), "rank 1 first");
            assertError(push(w0, id, 0, 8f, NAN, 16f, 0.125f), ErrorCode.NON_FINITE, "1 of 4");
            assertOk(push(w0, id, 0, g0), "rank 0's finite gradient after its refused one");
            // The refused push's finite values were subtracted again: within a rounding of the sum they passed through.
            assertArrayEquals(sgd(new float[] {1, 1, 1, 1}, 0.5f, g0, g1), w0.pull(id, 0, 1), 1e-6f);
        }
    }

    @Test
    void aSingleWorkerBspRefusalDoesNotMoveTheStep() throws Exception {
        start("bsp", 1, NonFinitePolicy.REJECT);
        try (RawClient c = hello(0)) {
            int id = register(c, SGD);
            float[] g = {1f, 2f, 3f, 4f};
            assertError(push(c, id, 0, NAN, 1f, 1f, 1f), ErrorCode.NON_FINITE, "for step 0");
            assertOk(push(c, id, 0, g), "the worker's push for step 0 is not a duplicate");
            assertEquals(0, stat(c, "duplicate_pushes"));
            float[] expected = sgd(new float[] {1, 1, 1, 1}, 1f, g);
            expected[1] = 1f - LR * 1f - LR * 2f; // elements 1..3 of the refused push were stepped (no undo under one pass)
            expected[2] = 1f - LR * 1f - LR * 3f;
            expected[3] = 1f - LR * 1f - LR * 4f;
            assertArrayEquals(expected, c.pull(id, 0, 1));
        }
    }

    @Test
    void compressedPushesAreGuardedToo() throws Exception {
        start("asp", 1, NonFinitePolicy.REJECT);
        try (RawClient c = hello(0)) {
            int id = register(c, SGD);
            byte[] halves = {0, 0x3c, 0, 0x7e, 0, 0x7c, 0, (byte) 0xfc}; // 1.0, NaN, +Inf, -Inf in fp16
            RawClient.Answer a = c.read(c.pushRaw(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, Codec.Kind.FP16,
                    Messages.DTYPE_FP32, 4), Unpooled.wrappedBuffer(halves)));
            assertError(a, ErrorCode.NON_FINITE, "3 of 4");
            assertArrayEquals(new float[] {1 - LR, 1, 1, 1}, c.pull(id, 0, 0));
        }
    }

    // ---- zero and skip-step ---------------------------------------------------------------------------------

    @Test
    void zeroCountsNonFiniteValuesAsZeroAndGoesOn() throws Exception {
        start("asp", 1, NonFinitePolicy.ZERO);
        try (RawClient c = hello(0)) {
            int id = register(c, SGD);
            assertOk(push(c, id, 0, NAN, 1f, INF, 2f), "zero answers OK");
            assertArrayEquals(new float[] {1, 1 - LR, 1, 1 - 2 * LR}, c.pull(id, 0, 0));
            assertEquals(1, stat(c, "nonfinite_pushes"));
            assertEquals(2, stat(c, "nonfinite_values"));
            assertEquals(1, stat(c, "updates"));
            assertEquals(0, stat(c, "errors"));
        }
    }

    @Test
    void zeroUnderBspAveragesOverEveryArrivedWorker() throws Exception {
        start("bsp", 2, NonFinitePolicy.ZERO);
        try (RawClient w0 = hello(0); RawClient w1 = hello(1)) {
            int id = register(w0, SGD);
            float[] g1 = {3f, 2f, -0.5f, 0f};
            assertOk(push(w0, id, 0, NAN, 2f, INF, 4f), "zero answers OK");
            assertOk(push(w1, id, 0, g1), "rank 1");
            assertArrayEquals(sgd(new float[] {1, 1, 1, 1}, 0.5f, new float[] {0, 2, 0, 4}, g1), w0.pull(id, 0, 1));
        }
    }

    @Test
    void skipStepAnswersOkCountsAndChangesNothing() throws Exception {
        start("asp", 1, NonFinitePolicy.SKIP_STEP);
        try (RawClient c = hello(0)) {
            int id = register(c, ADAM);
            assertOk(push(c, id, 0, 1f, 1f, 1f, 1f), "finite");
            float[] before = c.pull(id, 0, 0);
            assertOk(push(c, id, 1, NAN, NAN, -INF, NAN), "skip-step answers OK");
            assertArrayEquals(before, c.pull(id, 0, 0));
            assertEquals(1, stat(c, "nonfinite_pushes"));
            assertEquals(0, stat(c, "errors"));
        }
    }

    @Test
    void skipStepUnderBspCountsTheWorkerArrivedWithNoContribution() throws Exception {
        start("bsp", 2, NonFinitePolicy.SKIP_STEP);
        try (RawClient w0 = hello(0); RawClient w1 = hello(1)) {
            int id = register(w0, SGD);
            float[] g1 = {3f, 2f, -0.5f, 0f};
            assertOk(push(w1, id, 0, g1), "rank 1");
            assertOk(push(w0, id, 0, 5f, NAN, 7f, 9f), "skip-step answers OK");
            // rank 0 arrived, so the step is complete; its mean is over the one gradient that contributed.
            assertArrayEquals(sgd(new float[] {1, 1, 1, 1}, 1f, g1), w0.pull(id, 0, 1), 1e-6f);
            assertOk(push(w0, id, 0, 1f, 1f, 1f, 1f), "a retry for the step done is a duplicate");
            assertEquals(1, stat(w0, "duplicate_pushes"));
        }
    }

    @Test
    void skipStepUnderBspWithOnlyEmptyArrivalsLeavesTheParameters() throws Exception {
        start("bsp", 2, NonFinitePolicy.SKIP_STEP);
        try (RawClient w0 = hello(0); RawClient w1 = hello(1)) {
            int id = register(w0, ADAM);
            float[] before = w0.pull(id, 0, 0);
            assertOk(push(w0, id, 0, NAN, NAN, NAN, NAN), "rank 0");
            assertOk(push(w1, id, 0, INF, INF, INF, INF), "rank 1");
            assertArrayEquals(before, w0.pull(id, 0, 1), "a step with no contribution changes nothing");
        }
    }

    // ---- batches ----------------------------------------------------------------------------------------------

    @Test
    void queuedBspPushesRefuseTheInfiniteOneAndKeepTheWorkersOwnGradient() throws Exception {
        start("bsp", 2, NonFinitePolicy.REJECT);
        try (RawClient w0 = hello(0); RawClient w1 = hello(1)) {
            int id = register(w0, SGD);
            float[] g0 = {1f, -2f, 0.5f, 4f};
            float[] g1 = {3f, 2f, -0.5f, 0f};
            hold();
            long bad = w0.push(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, 4), new float[] {INF, 1f, INF, 2f});
            awaitQueued(1);
            long own = w0.push(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, 4), g0);
            awaitQueued(2);
            long other = w1.push(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, 4), g1);
            awaitQueued(3);
            gate.countDown();
            assertError(w0.read(bad), ErrorCode.NON_FINITE, "2 of 4");
            assertOk(w0.read(own), "rank 0's own gradient, queued behind the refused one");
            assertOk(w1.read(other), "rank 1");
            assertArrayEquals(sgd(new float[] {1, 1, 1, 1}, 0.5f, g0, g1), w0.pull(id, 0, 1));
            assertEquals(1, stat(w0, "push_batches"));
            assertEquals(0, stat(w0, "duplicate_pushes"));
            assertEquals(1, stat(w0, "nonfinite_pushes"));
        }
    }

    @Test
    void queuedAspPushesAnswerTheNanOneWithTheRefusalAndApplyTheRest() throws Exception {
        start("asp", 2, NonFinitePolicy.REJECT);
        try (RawClient w0 = hello(0); RawClient w1 = hello(1)) {
            int id = register(w0, SGD);
            float[] g = {1f, 2f, 3f, 4f};
            hold();
            long first = w0.push(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, 4), g);
            long bad = w1.push(Opcode.PUSH, new Messages.PushHeader(id, 0, 0, 4), new float[] {NAN, NAN, NAN, NAN});
            long pushPull = w1.push(Opcode.PUSH_PULL, new Messages.PushHeader(id, 0, 0, 4), new float[] {NAN, 1f, 1f, 1f});
            long last = w0.push(Opcode.PUSH, new Messages.PushHeader(id, 0, 1, 4), g);
            awaitQueued(4);
            gate.countDown();
            assertOk(w0.read(first), "first");
            assertError(w1.read(bad), ErrorCode.NON_FINITE, "4 of 4");
            assertError(w1.read(pushPull), ErrorCode.NON_FINITE, "PUSH_PULL to 'w' chunk 0 from rank 1");
            assertOk(w0.read(last), "last");
            float[] expected = sgd(new float[] {1, 1, 1, 1}, 1f, g, g);
            for (int i = 1; i < 4; i++) {
                expected[i] -= LR * 1f; // the PUSH_PULL's finite elements were stepped before its refusal was known
            }
            assertArrayEquals(expected, w0.pull(id, 0, 0));
            assertEquals(2, stat(w0, "nonfinite_pushes"));
            assertEquals(5, stat(w0, "nonfinite_values"));
            assertEquals(2, stat(w0, "errors"));
            assertEquals(4, stat(w0, "updates"), "queued or not, a refused asp push counts as an update");
        }
    }

    @Test
    void aQueuedBspPushPullIsRefusedBeforeItsPullWaits() throws Exception {
        start("bsp", 2, NonFinitePolicy.REJECT);
        try (RawClient w0 = hello(0); RawClient w1 = hello(1)) {
            int id = register(w0, SGD);
            float[] g0 = {1f, -2f, 0.5f, 4f};
            float[] g1 = {3f, 2f, -0.5f, 0f};
            hold();
            long refused = w0.push(Opcode.PUSH_PULL, new Messages.PushHeader(id, 0, 0, 4), new float[] {NAN, 1f, 1f, 1f});
            awaitQueued(1);
            long own = w0.push(Opcode.PUSH_PULL, new Messages.PushHeader(id, 0, 0, 4), g0);
            awaitQueued(2);
            gate.countDown();
            assertError(w0.read(refused), ErrorCode.NON_FINITE, "PUSH_PULL to 'w' chunk 0 from rank 0 for step 0");
            assertOk(push(w1, id, 0, g1), "rank 1 completes the step");
            RawClient.Answer pulled = w0.read(own);
            assertEquals(Opcode.DATA.code, pulled.opcode());
            assertEquals(1, Messages.PullReplyHeader.read(pulled.payload()).version());
            assertArrayEquals(sgd(new float[] {1, 1, 1, 1}, 0.5f, g0, g1), w0.pull(id, 0, 1));
        }
    }
}
