package io.gpups.server;

import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.protocol.TableMessages;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.RowIds;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

import static io.gpups.server.EmbeddedShard.MS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * Tables on a bsp shard of two workers, below the socket: a step is applied once, with the mean of the workers'
 * gradients, when both pushed for it; pulls ahead of the table's version wait for it; stale, repeated and early pushes;
 * parked pulls dropped with their connection and bounded; a worker dropped by the liveness timeout.
 */
class ShardTablesBspTest {

    private static final int DIM = 4;
    private static final float LR = 0.25f;
    private static final Initializer INIT = new Initializer(Initializer.Kind.UNIFORM, 0.5f, 17);
    private static final TableSpec ITEMS = new TableSpec("items", DIM, INIT, new OptimizerSpec.Sgd(LR, 0f), 256,
            Eviction.NONE);
    private static final long TIMEOUT_MS = 1000;

    @AutoClose
    private final EmbeddedShard shard = new EmbeddedShard("bsp", 2, TIMEOUT_MS);
    private final EmbeddedChannel w0 = shard.worker(0);
    private final EmbeddedChannel w1 = shard.worker(1);
    private final int table = register();

    private int register() {
        EmbeddedShard.Answer a = shard.call(w0, Opcode.REGISTER_TABLE, new TableMessages.RegisterTable(ITEMS)).ok();
        int id = Messages.RegisterReply.read(a.payload()).tensorId();
        EmbeddedShard.Answer b = shard.call(w1, Opcode.REGISTER_TABLE, new TableMessages.RegisterTable(ITEMS)).ok();
        assertEquals(id, Messages.RegisterReply.read(b.payload()).tensorId());
        return id;
    }

    private ByteBuf rows(long clock, long[] ids, float[] grads) {
        ByteBuf b = Unpooled.buffer();
        new TableMessages.RowsHeader(table, RowDtype.FP32, ids.length, clock).writeTo(b);
        for (long id : ids) {
            b.writeLongLE(id);
        }
        if (grads != null) {
            for (float g : grads) {
                b.writeFloatLE(g);
            }
        }
        return b;
    }

    /** Sends a PULL_ROWS at {@code clock} and runs the agent; returns its request id (the answer may be parked). */
    private long sendPull(EmbeddedChannel ch, long clock, long... ids) {
        long id = shard.sendRaw(ch, Opcode.PULL_ROWS, rows(clock, ids, null));
        shard.run();
        return id;
    }

    /** A PUSH_ROWS for {@code step}, run, and its answer. */
    private EmbeddedShard.Answer push(EmbeddedChannel ch, long step, long[] ids, float... grads) {
        long id = shard.sendRaw(ch, Opcode.PUSH_ROWS, rows(step, ids, grads));
        shard.run();
        EmbeddedShard.Answer a = shard.answer(ch);
        assertEquals(id, a.requestId());
        return a;
    }

    private static float[] values(EmbeddedShard.Answer a, int count) {
        assertEquals(Opcode.DATA, a.opcode(), a::toString);
        ByteBuf p = a.payload().duplicate();
        TableMessages.RowsReplyHeader h = TableMessages.RowsReplyHeader.read(p, DIM);
        assertEquals(count, h.count());
        float[] v = new float[count * DIM];
        for (int i = 0; i < v.length; i++) {
            v[i] = p.readFloatLE();
        }
        return v;
    }

    /** A pull answered at once: its rows. */
    private float[] pullNow(EmbeddedChannel ch, long clock, long... ids) {
        long id = sendPull(ch, clock, ids);
        EmbeddedShard.Answer a = shard.answer(ch);
        assertEquals(id, a.requestId());
        return values(a, ids.length);
    }

    private long version() {
        return shard.agent.tables().get(table).version;
    }

    /** Plain-Java SGD on the rows, each step with the mean over {@code workers} of the gradients summed per row. */
    private static final class Reference {
        final Map<Long, float[]> rows = new HashMap<>();

        float[] row(long id) {
            return rows.computeIfAbsent(id, k -> {
                float[] v = new float[DIM];
                RowIds.initialValues(INIT, k, DIM, v, 0);
                return v;
            });
        }

        /** One step: {@code sums} maps each touched id to its summed gradient. */
        void step(Map<Long, float[]> sums, int workers) {
            sums.forEach((id, g) -> {
                float[] p = row(id);
                for (int j = 0; j < DIM; j++) {
                    p[j] -= LR * (g[j] * (1f / workers));
                }
            });
        }

        float[] rows(long... ids) {
            float[] out = new float[ids.length * DIM];
            for (int i = 0; i < ids.length; i++) {
                System.arraycopy(row(ids[i]), 0, out, i * DIM, DIM);
            }
            return out;
        }
    }

    private static void add(Map<Long, float[]> sums, long[] ids, float[] grads) {
        for (int i = 0; i < ids.length; i++) {
            float[] s = sums.computeIfAbsent(ids[i], k -> new float[DIM]);
            for (int j = 0; j < DIM; j++) {
                s[j] += grads[i * DIM + j];
            }
        }
    }

    @Test
    void aStepAppliesTheMeanOfBothWorkersOnceAndPullsAheadWaitForIt() {
        long[] ids0 = {1, 2, 3};
        float[] g0 = {1, 2, 3, 4, -1, -2, -3, -4, 0.5f, 0.5f, 0.5f, 0.5f};
        long[] ids1 = {3, 4, 1};
        float[] g1 = {2, 2, -2, 2, 8, 4, 2, 1, 3, -1, 0.25f, 6};
        Reference ref = new Reference();
        float[] initial = ref.rows(1, 2, 3, 4);

        push(w0, 0, ids0, g0).ok();
        long ahead = sendPull(w1, 1, 1, 2, 3, 4);
        assertNull(shard.poll(w1), "a pull at clock 1 waits while step 0 misses worker 1's push");
        assertEquals(1, shard.agent.parkedRowPulls());
        assertArrayEquals(initial, pullNow(w0, 0, 1, 2, 3, 4), "a pull at clock 0 is answered at once, nothing applied");
        assertEquals(0, version());

        long pushId = shard.sendRaw(w1, Opcode.PUSH_ROWS, rows(0, ids1, g1));
        shard.run();
        Map<Long, float[]> sums = new HashMap<>();
        add(sums, ids0, g0);
        add(sums, ids1, g1);
        ref.step(sums, 2);
        EmbeddedShard.Answer first = shard.answer(w1);
        EmbeddedShard.Answer second = shard.answer(w1);
        EmbeddedShard.Answer pushAnswer = first.requestId() == pushId ? first : second;
        EmbeddedShard.Answer pullAnswer = first.requestId() == pushId ? second : first;
        pushAnswer.ok();
        assertEquals(ahead, pullAnswer.requestId());
        assertArrayEquals(ref.rows(1, 2, 3, 4), values(pullAnswer, 4),
                "every row minus lr times the mean of the two workers' gradients, a row one worker touched at half");
        assertEquals(1, version());
        assertEquals(0, shard.agent.parkedRowPulls());
        assertArrayEquals(ref.rows(1, 2, 3, 4), pullNow(w0, 1, 1, 2, 3, 4), "applied once");
    }

    @Test
    void staleDuplicateAndEarlyPushes() {
        Reference ref = new Reference();
        float[] a = {1, 1, 1, 1};
        float[] c = {4, -4, 2, -2};
        float[] d = {0.5f, 1, 1.5f, 2};
        push(w0, 0, new long[] {1}, a).ok();
        push(w0, 0, new long[] {1}, 100, 100, 100, 100).ok();          // a duplicate: answered OK, not applied
        push(w0, 1, new long[] {1}, c).ok();                           // early: held for step 1
        assertEquals(0, version(), "nothing is applied before worker 1 pushes step 0");
        push(w1, 0, new long[] {2}, d).ok();
        assertEquals(1, version(), "step 0 applied; step 1 still waits for worker 1");
        ref.step(Map.of(1L, a, 2L, d), 2);
        assertArrayEquals(ref.rows(1, 2), pullNow(w1, 1, 1, 2), "the duplicate changed nothing, the early push waits");

        push(w1, 0, new long[] {2}, d).refused(ErrorCode.STALE_STEP,
                "from rank 1 for step 0, but the table has applied 1 steps");
        push(w1, 1, new long[0]).ok();                                 // an empty push: worker 1 had no rows here
        assertEquals(2, version());
        ref.step(Map.of(1L, c), 2);
        assertArrayEquals(ref.rows(1, 2), pullNow(w0, 2, 1, 2));
    }

    @Test
    void aClosedConnectionsParkedPullsAreDropped() {
        sendPull(w0, 1, 5);
        long waiting = sendPull(w1, 1, 6);
        assertEquals(2, shard.agent.parkedRowPulls());
        w0.close();
        shard.run();
        assertEquals(1, shard.agent.parkedRowPulls(), "the closed connection's pull is forgotten, the other waits on");
        EmbeddedChannel again = shard.worker(0);
        push(again, 0, new long[0]).ok();
        long pushId = shard.sendRaw(w1, Opcode.PUSH_ROWS, rows(0, new long[0], null));
        shard.run();
        assertEquals(0, shard.agent.parkedRowPulls());
        assertEquals(pushId, shard.answer(w1).ok().requestId());
        EmbeddedShard.Answer a = shard.answer(w1);
        assertEquals(waiting, a.requestId());
        values(a, 1);
        assertNull(shard.poll(again), "the closed connection's pull is not answered on another");
    }

    @Test
    void parkedPullsBeyondTheLimitAreRefused() {
        for (int i = 0; i < ShardTables.MAX_PARKED_ROW_PULLS; i++) {
            shard.sendRaw(w0, Opcode.PULL_ROWS, rows(1, new long[] {i}, null));
        }
        shard.run();
        assertNull(shard.poll(w0));
        assertEquals(ShardTables.MAX_PARKED_ROW_PULLS, shard.agent.parkedRowPulls());
        long id = sendPull(w1, 1, 7);
        EmbeddedShard.Answer a = shard.answer(w1);
        assertEquals(id, a.requestId());
        a.refused(ErrorCode.OUT_OF_MEMORY, "the shard already holds 4096 parked row pulls, its limit (4096)");
    }

    @Test
    void aWorkerDroppedByTheTimeoutLetsTheStepCompleteWithTheOthersGradientAlone() {
        float[] g = {2, -2, 1, 0.5f};
        Reference ref = new Reference();
        push(w0, 0, new long[] {9}, g).ok();
        long ahead = sendPull(w0, 1, 9);
        assertNull(shard.poll(w0));
        shard.now.addAndGet((TIMEOUT_MS + 500) * MS);
        long now = sendPull(w0, 0, 9);                        // worker 0 speaks; worker 1 stays silent past the timeout
        ref.step(Map.of(9L, g), 1);
        EmbeddedShard.Answer first = shard.answer(w0);
        EmbeddedShard.Answer second = shard.answer(w0);
        assertEquals(ahead, first.requestId(), "the liveness check (before the task) completes the step first");
        assertEquals(now, second.requestId());
        assertArrayEquals(ref.rows(9), values(first, 1), "the mean over the one worker that pushed");
        assertArrayEquals(ref.rows(9), values(second, 1));
        assertEquals(1, version());
    }
}
