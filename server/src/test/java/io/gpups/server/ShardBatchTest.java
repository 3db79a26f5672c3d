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
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.gpups.server.RawClient.assertError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pushes that queue behind a busy agent run as a batch whose uncompressed updates go to the device together
 * ({@link Device#applyBatch}; on the CPU device its default, one call per update): every push gets the answer it
 * gets alone, in order, and the parameters are those of the optimizer's textbook rule applied push by push in plain
 * Java (within float32 rounding), or of sgd's closed form. The agent is held
 * by a task waiting on a latch while the client sends, so the pushes are queued, not raced.
 */
class ShardBatchTest {

    /** Chunks of 4 elements: "a" (adam) holds 4 + 4 + 2, "s" (sgd) 4 + 2. */
    private static final int CHUNK = 4;
    private static final TensorSpec ADAM = new TensorSpec("a", new long[] {10},
            new Initializer(Initializer.Kind.CONSTANT, 0.5f, 0), new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0f));
    private static final float LR = 0.5f;
    private static final TensorSpec SGD = new TensorSpec("s", new long[] {6},
            new Initializer(Initializer.Kind.CONSTANT, 1f, 0), new OptimizerSpec.Sgd(LR, 0f));

    private final CountDownLatch gate = new CountDownLatch(1);
    private Device device;
    private ShardServer server;

    private void start(String consistency, int workers, Device shardDevice) throws Exception {
        device = shardDevice;
        server = ShardServer.start(new ShardConfig("127.0.0.1", 0, 0, 1, workers, Consistency.parse(consistency),
                1 << 20), device);
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

    private static Device cpu() {
        return Devices.installed().open("cpu", line -> { });
    }

    /** Holds the agent until {@link #release}: what arrives meanwhile queues behind this task. */
    private void hold() throws InterruptedException {
        server.agent().submit(() -> {
            try {
                gate.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        awaitQueued(0); // the agent took the holding task
    }

    private void release() {
        gate.countDown();
    }

    private void awaitQueued(long tasks) throws InterruptedException {
        AgentQueue.await(server, tasks);
    }

    private RawClient hello(int rank) throws Exception {
        RawClient c = new RawClient(server.port());
        assertEquals(Opcode.OK.code, c.call(Opcode.HELLO, new Messages.Hello(rank, 0)).opcode());
        return c;
    }

    private static int register(RawClient c, TensorSpec spec, int... chunks) throws Exception {
        RawClient.Answer a = c.call(Opcode.REGISTER, new Messages.Register(spec, CHUNK, chunks));
        assertEquals(Opcode.OK.code, a.opcode(), () -> a.error().message());
        return Messages.RegisterReply.read(a.payload()).tensorId();
    }

    private static long stat(RawClient c, String field) throws Exception {
        RawClient.Answer a = c.call(Opcode.STATS, null);
        String json = Messages.Text.read(a.payload()).text();
        Matcher m = Pattern.compile("\"" + field + "\":(\\d+)").matcher(json);
        assertTrue(m.find(), field + " in " + json);
        return Long.parseLong(m.group(1));
    }

    private static float[] floats(RawClient.Answer a, long version) {
        assertEquals(Opcode.DATA.code, a.opcode(), () -> a.opcode() == Opcode.ERROR.code ? a.error().message() : "DATA");
        Messages.PullReplyHeader h = Messages.PullReplyHeader.read(a.payload());
        assertEquals(version, h.version(), "version");
        float[] v = new float[h.count()];
        for (int i = 0; i < v.length; i++) {
            v[i] = a.payload().readFloatLE();
        }
        return v;
    }

    /**
     * One chunk replayed in plain Java, in double precision, one push at a time: the textbook update rules (Adam as
     * Kingma and Ba write it, sgd as {@code w - lr * g}), sharing no code with the devices, so a fault in the device's
     * update (its batch loop or the step it calls) shows as a difference.
     */
    private static final class ReferenceChunk {
        final OptimizerSpec spec;
        final double[] param;
        final double[] m;
        final double[] v;
        long version;

        ReferenceChunk(TensorSpec tensor, int n) {
            this.spec = tensor.optimizer();
            float[] init = new float[n];
            tensor.initializer().fill(0, init, n); // constant initializers: the offset does not matter
            param = new double[n];
            for (int i = 0; i < n; i++) {
                param[i] = init[i];
            }
            m = new double[n];
            v = new double[n];
        }

        void apply(float[] g) {
            version++;
            if (spec instanceof OptimizerSpec.Sgd sgd) {
                for (int i = 0; i < param.length; i++) {
                    param[i] -= sgd.lr() * (double) g[i];
                }
            } else if (spec instanceof OptimizerSpec.Adam adam) {
                double correction1 = 1 - Math.pow(adam.beta1(), version);
                double correction2 = 1 - Math.pow(adam.beta2(), version);
                for (int i = 0; i < param.length; i++) {
                    m[i] = adam.beta1() * m[i] + (1 - adam.beta1()) * g[i];
                    v[i] = adam.beta2() * v[i] + (1 - adam.beta2()) * g[i] * (double) g[i];
                    param[i] -= adam.lr() * (m[i] / correction1) / (Math.sqrt(v[i] / correction2) + adam.eps());
                }
            } else {
                throw new IllegalArgumentException("no reference for " + spec);
            }
        }

        float[] values() {
            float[] out = new float[param.length];
            for (int i = 0; i < out.length; i++) {
                out[i] = (float) param[i];
            }
            return out;
        }
    }

    /** Float32 rounding of the device against the reference's doubles. */
    private static final float TOLERANCE = 2e-6f;

    /**
     * The fp16 bits of {@code value}, which must be a normal fp16 number exactly (sign, exponent within fp16's range,
     * at most 10 mantissa bits).
     */
    private static short fp16(float value) {
        int bits = Float.floatToIntBits(value);
        int exponent = ((bits >>> 23) & 0xff) - 127 + 15;
        if ((bits & 0x1fff) != 0 || exponent <= 0 || exponent >= 31) {
            throw new IllegalArgumentException(value + " is not a normal fp16 value exactly");
        }
        return (short) (((bits >>> 16) & 0x8000) | (exponent << 10) | ((bits >>> 13) & 0x3ff));
    }

    @Test
    void queuedAspPushesAreAppliedAsBatchesWithTheValuesOfOneByOne() throws Exception {
        start("asp", 1, cpu());
        try (RawClient c = hello(0)) {
            int a = register(c, ADAM, 0, 1, 2);
            int s = register(c, SGD, 0, 1);
            int[][] lengths = {{4, 4, 2}, {4, 2}};
            int[] ids = {a, s};
            ReferenceChunk[][] ref = {
                    {new ReferenceChunk(ADAM, 4), new ReferenceChunk(ADAM, 4), new ReferenceChunk(ADAM, 2)},
                    {new ReferenceChunk(SGD, 4), new ReferenceChunk(SGD, 2)}};
            hold();
            Random random = new Random(3);
            int pushes = 30;
            long[] requests = new long[pushes];
            float[] pulledAt15 = null;
            long versionAt15 = 0;
            for (int k = 0; k < pushes; k++) {
                int t = k % 3 == 2 ? 1 : 0;
                int chunk = random.nextInt(lengths[t].length);
                int n = lengths[t][chunk];
                float[] g = new float[n];
                for (int i = 0; i < n; i++) {
                    g[i] = (float) random.nextGaussian();
                }
                ReferenceChunk r = ref[t][chunk];
                if (k == 10) {
                    // fp16: decoded by its own kernel, so the updates queued before it go first. Quarters in
                    // [-4, 4), exact in fp16, so the reference applies the very values the shard decodes.
                    byte[] bytes = new byte[2 * n];
                    for (int i = 0; i < n; i++) {
                        g[i] = Math.round(g[i] * 4f) / 4f;
                        g[i] = g[i] == 0f ? 0.25f : g[i];
                        short h = fp16(g[i]);
                        bytes[2 * i] = (byte) h;
                        bytes[2 * i + 1] = (byte) (h >>> 8);
                    }
                    requests[k] = c.pushRaw(Opcode.PUSH, new Messages.PushHeader(ids[t], chunk, 0, Codec.Kind.FP16,
                            Messages.DTYPE_FP32, n), Unpooled.wrappedBuffer(bytes));
                    r.apply(g);
                } else if (k == 15) {
                    // PUSH_PULL: its pull sees every update before it, its own included.
                    requests[k] = c.push(Opcode.PUSH_PULL, new Messages.PushHeader(ids[t], chunk, 0, n), g);
                    r.apply(g);
                    pulledAt15 = r.values();
                    versionAt15 = r.version;
                } else if (k == 20) {
                    requests[k] = c.push(Opcode.PUSH, new Messages.PushHeader(s, 5, 0, n), g);
                } else {
                    requests[k] = c.push(Opcode.PUSH, new Messages.PushHeader(ids[t], chunk, 0, n), g);
                    r.apply(g);
                }
            }
            awaitQueued(pushes);
            release();
            for (int k = 0; k < pushes; k++) {
                RawClient.Answer answer = c.read(requests[k]); // in request order
                if (k == 15) {
                    assertArrayEquals(pulledAt15, floats(answer, versionAt15), TOLERANCE, "PUSH_PULL answer");
                } else if (k == 20) {
                    assertError(answer, ErrorCode.BAD_CHUNK, "chunk 5 is not held");
                } else {
                    assertEquals(Opcode.OK.code, answer.opcode(), "push " + k);
                }
            }
            for (int t = 0; t < 2; t++) {
                for (int chunk = 0; chunk < lengths[t].length; chunk++) {
                    ReferenceChunk r = ref[t][chunk];
                    assertArrayEquals(r.values(), floats(c.call(Opcode.PULL,
                            new Messages.Pull(ids[t], chunk, 0)), r.version), TOLERANCE, "tensor " + t + " chunk " + chunk);
                }
            }
            assertEquals(1, stat(c, "push_batches"));
            assertEquals(pushes, stat(c, "batched_pushes"));
            // Issued before the fp16 push (10 updates), before the PUSH_PULL's copy (11..15), and at the end (16..29
            // less the bad chunk): every uncompressed update, in three device calls.
            assertEquals(3, stat(c, "update_batches"));
            assertEquals(28, stat(c, "batched_updates"));
            assertEquals(29, stat(c, "updates"));
        }
    }

    @Test
    void queuedBspPushesAccumulateTogetherAndEachStepIsAppliedOnce() throws Exception {
        start("bsp", 2, cpu());
        TensorSpec b = new TensorSpec("b", new long[] {10}, new Initializer(Initializer.Kind.CONSTANT, 1f, 0),
                new OptimizerSpec.Sgd(LR, 0f));
        try (RawClient w0 = hello(0); RawClient w1 = hello(1)) {
            int id = register(w0, b, 0, 1, 2);
            register(w1, b, 0, 1, 2);
            int[] n = {4, 4, 2};
            float[][][] g = new float[2][3][]; // [worker][chunk], step 0
            Random random = new Random(9);
            for (int w = 0; w < 2; w++) {
                for (int c = 0; c < 3; c++) {
                    g[w][c] = new float[n[c]];
                    for (int i = 0; i < n[c]; i++) {
                        g[w][c][i] = (float) random.nextGaussian();
                    }
                }
            }
            float[] step1w0 = {0.25f, -1f, 2f, 0.5f};
            float[] step1w1 = {1f, 1f, -3f, 0f};
            hold();
            List<Long> from0 = new ArrayList<>();
            List<Long> from1 = new ArrayList<>();
            for (int c = 0; c < 3; c++) {
                from0.add(w0.push(Opcode.PUSH, new Messages.PushHeader(id, c, 0, n[c]), g[0][c]));
            }
            from0.add(w0.push(Opcode.PUSH, new Messages.PushHeader(id, 1, 0, n[1]), g[0][1])); // a retry: duplicate
            awaitQueued(4);
            for (int c = 0; c < 3; c++) {
                from1.add(w1.push(Opcode.PUSH, new Messages.PushHeader(id, c, 0, n[c]), g[1][c]));
            }
            awaitQueued(7);
            from0.add(w0.push(Opcode.PUSH, new Messages.PushHeader(id, 0, 1, 4), step1w0));
            awaitQueued(8);
            from1.add(w1.push(Opcode.PUSH, new Messages.PushHeader(id, 0, 1, 4), step1w1));
            awaitQueued(9);
            release();
            for (long r : from0) {
                assertEquals(Opcode.OK.code, w0.read(r).opcode());
            }
            for (long r : from1) {
                assertEquals(Opcode.OK.code, w1.read(r).opcode());
            }
            // sgd over the mean of the two workers' gradients, one step per chunk, two for chunk 0.
            for (int c = 0; c < 3; c++) {
                float[] expected = new float[n[c]];
                for (int i = 0; i < n[c]; i++) {
                    expected[i] = 1f - LR * (0.5f * (g[0][c][i] + g[1][c][i]));
                    if (c == 0) {
                        expected[i] -= LR * (0.5f * (step1w0[i] + step1w1[i]));
                    }
                }
                assertArrayEquals(expected, w0.pull(id, c, c == 0 ? 2 : 1), 1e-6f, "chunk " + c);
            }
            assertEquals(1, stat(w0, "duplicate_pushes"));
            assertEquals(1, stat(w0, "push_batches"));
            assertEquals(9, stat(w0, "batched_pushes"));
            // The retry of a gradient still queued issues what is queued first (the queued one may yet be refused as
            // non-finite, and then the retry is no duplicate): chunks 0, 1, 2. Then the second worker's push to a chunk
            // completes its step, which issues what is queued first: chunk 0; then 1; then 2; then chunk 0's two
            // step-1 gradients (one accumulator, in order).
            assertEquals(5, stat(w0, "update_batches"));
            assertEquals(8, stat(w0, "batched_updates"));
            assertEquals(4, stat(w0, "updates"));
        }
    }

    @Test
    void aBatchThatFailsOnTheDeviceAnswersItsPushesWithTheError() throws Exception {
        Device cpu = cpu(); // closed through the proxy
        Device faulty = (Device) Proxy.newProxyInstance(Device.class.getClassLoader(), new Class<?>[] {Device.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("applyBatch")) {
                        throw new IllegalStateException("injected device fault");
                    }
                    try {
                        return method.invoke(cpu, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        start("asp", 1, faulty);
        try (RawClient c = hello(0)) {
            int s = register(c, SGD, 0, 1);
            hold();
            long queued = c.push(Opcode.PUSH, new Messages.PushHeader(s, 0, 0, 4), new float[] {1, 1, 1, 1});
            byte[] fp16Ones = new byte[4];
            Arrays.fill(fp16Ones, (byte) 0);
            fp16Ones[1] = 0x3c; // 1.0 in fp16, little-endian
            fp16Ones[3] = 0x3c;
            long compressed = c.pushRaw(Opcode.PUSH, new Messages.PushHeader(s, 1, 0, Codec.Kind.FP16,
                    Messages.DTYPE_FP32, 2), Unpooled.wrappedBuffer(fp16Ones));
            long last = c.push(Opcode.PUSH, new Messages.PushHeader(s, 1, 0, 2), new float[] {2, 2});
            awaitQueued(3);
            release();
            assertError(c.read(queued), ErrorCode.INTERNAL, "injected device fault");
            assertEquals(Opcode.OK.code, c.read(compressed).opcode(), "the fp16 push goes alone, and works");
            assertError(c.read(last), ErrorCode.INTERNAL, "injected device fault");
            assertArrayEquals(new float[] {1 - LR, 1 - LR}, c.pull(s, 1, 0), "only the fp16 push was applied");
            assertEquals(2, stat(c, "errors"));
        }
    }
}
