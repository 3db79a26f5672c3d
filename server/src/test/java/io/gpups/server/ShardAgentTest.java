package io.gpups.server;

import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;

import static io.gpups.server.EmbeddedShard.MS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The agent's rules below the socket ({@link EmbeddedShard}): bsp steps, ssp parking, drops and rejoins, duplicates
 * and batches, with every value checked against sgd's closed form {@code w - lr * mean(g)} and time moved by the test.
 */
class ShardAgentTest {

    private static final float LR = 0.5f;
    /** One chunk of 4 floats, all 1, sgd with learning rate {@link #LR}. */
    private static final TensorSpec W = new TensorSpec("w", new long[] {4},
            new Initializer(Initializer.Kind.CONSTANT, 1f, 0), new OptimizerSpec.Sgd(LR, 0f));

    /** Each test's shard, closed after it. */
    @AutoClose
    private EmbeddedShard shard;

    private static float[] sgd(float[] w, float[]... gradients) {
        float[] out = w.clone();
        for (int i = 0; i < out.length; i++) {
            float sum = 0f;
            for (float[] g : gradients) {
                sum += g[i];
            }
            out[i] -= LR * (sum / gradients.length);
        }
        return out;
    }

    private static final float[] ONES = {1f, 1f, 1f, 1f};
    private static final float[] G0 = {0.5f, -1f, 2f, 0.25f};
    private static final float[] G1 = {1.5f, 3f, -2f, 0.75f};

    private long push(EmbeddedChannel ch, int tensor, long step, float[] g) {
        return shard.push(ch, Opcode.PUSH, new Messages.PushHeader(tensor, 0, step, g.length), g);
    }

    // ---- bsp ------------------------------------------------------------------------------------------

    @Test
    void aBspStepIsAppliedOnceEveryWorkersGradientIsInAndAnswersThePullThatWaitedForIt() {
        shard = new EmbeddedShard("bsp", 2, 0);
        EmbeddedChannel w0 = shard.worker(0);
        EmbeddedChannel w1 = shard.worker(1);
        int id = shard.register(w0, W, 4, 0);
        shard.register(w1, W, 4, 0);
        push(w0, id, 0, G0);
        shard.run();
        shard.answer(w0).ok();
        long pull = shard.send(w0, Opcode.PULL, new Messages.Pull(id, 0, 1));
        shard.run();
        assertNull(shard.poll(w0), "the pull for step 1 waits for worker 1's gradient");
        assertEquals(1, shard.agent.parkedPulls());

        push(w1, id, 0, G1);
        shard.run();
        shard.answer(w1).ok();
        EmbeddedShard.Answer woken = shard.answer(w0);
        assertEquals(pull, woken.requestId());
        assertArrayEquals(sgd(ONES, G0, G1), woken.parameters(1), "one step over the mean of both gradients");
        assertEquals(0, shard.agent.parkedPulls());
        assertEquals(1, shard.agent.counters.updates);
    }

    @Test
    void aRetriedBspPushIsAnsweredOkAndCountsOnceInItsStep() {
        shard = new EmbeddedShard("bsp", 2, 0);
        EmbeddedChannel w0 = shard.worker(0);
        EmbeddedChannel w1 = shard.worker(1);
        int id = shard.register(w0, W, 4, 0);
        push(w0, id, 0, G0);
        push(w0, id, 0, G0); // the retry of a push whose answer was lost
        shard.run();
        shard.answer(w0).ok();
        shard.answer(w0).ok();
        assertEquals(0, shard.agent.counters.updates, "the retry does not stand in for worker 1");
        push(w1, id, 0, G1);
        shard.run();
        shard.answer(w1).ok();
        assertArrayEquals(sgd(ONES, G0, G1), shard.call(w1, Opcode.PULL, new Messages.Pull(id, 0, 1)).parameters(1));
        // A retry once the step is applied is a duplicate too: it does not start step 1.
        push(w0, id, 0, G0);
        shard.run();
        shard.answer(w0).ok();
        assertEquals(2, shard.agent.counters.duplicatePushes);
        assertArrayEquals(sgd(ONES, G0, G1), shard.call(w1, Opcode.PULL, new Messages.Pull(id, 0, 1)).parameters(1));
    }

    @Test
    void aWorkerSilentPastTheTimeoutIsDroppedItsStepCompletesWithoutItAndItRejoinsWhenItSpeaks() {
        shard = new EmbeddedShard("bsp", 2, 100);
        EmbeddedChannel w0 = shard.worker(0);
        EmbeddedChannel w1 = shard.worker(1);
        int id = shard.register(w0, W, 4, 0);
        push(w0, id, 0, G0);
        long pull = shard.send(w0, Opcode.PULL, new Messages.Pull(id, 0, 1));
        shard.run();
        shard.answer(w0).ok();
        assertNull(shard.poll(w0));

        shard.now.addAndGet(100 * MS);
        shard.send(w0, Opcode.HEARTBEAT, null);
        shard.answer(w0).ok();
        shard.run();
        assertEquals(0, shard.agent.counters.workersDropped, "exactly the timeout: not past it");
        assertNull(shard.poll(w0));

        shard.now.addAndGet(100 * MS);
        shard.send(w0, Opcode.HEARTBEAT, null);
        shard.answer(w0).ok();
        shard.run();
        assertEquals(1, shard.agent.counters.workersDropped, "worker 1 is silent 200 ms, past the timeout");
        EmbeddedShard.Answer woken = shard.answer(w0);
        assertEquals(pull, woken.requestId());
        assertArrayEquals(sgd(ONES, G0), woken.parameters(1), "the step over the one gradient that arrived");

        // Worker 1 speaks again: it is back, at the current version, and step 1 waits for it.
        push(w1, id, 1, G1);
        shard.run();
        shard.answer(w1).ok();
        assertEquals(1, shard.agent.counters.workersRejoined);
        assertEquals(1, shard.agent.counters.updates, "step 1 waits for worker 0 too");
        push(w0, id, 1, G0);
        shard.run();
        shard.answer(w0).ok();
        assertArrayEquals(sgd(sgd(ONES, G0), G1, G0), shard.call(w0, Opcode.PULL, new Messages.Pull(id, 0, 2)).parameters(2));
    }

    // ---- ssp ------------------------------------------------------------------------------------------

    @Test
    void anSspPullParksUntilTheSlowestClockIsWithinTheStalenessOfIt() {
        shard = new EmbeddedShard("ssp:1", 2, 0);
        EmbeddedChannel w0 = shard.worker(0);
        EmbeddedChannel w1 = shard.worker(1);
        int id = shard.register(w0, W, 4, 0);
        shard.call(w0, Opcode.CLOCK, new Messages.Clock(3)).ok();
        long pull = shard.send(w0, Opcode.PULL, new Messages.Pull(id, 0, 3));
        shard.run();
        assertNull(shard.poll(w0), "clock 3 under ssp:1 needs the slowest clock at 2; worker 1 is at 0");
        shard.call(w1, Opcode.CLOCK, new Messages.Clock(1)).ok();
        assertNull(shard.poll(w0), "slowest clock 1: still one short");
        assertEquals(1, shard.agent.counters.parkedPulls);
        shard.call(w1, Opcode.CLOCK, new Messages.Clock(2)).ok();
        EmbeddedShard.Answer woken = shard.answer(w0);
        assertEquals(pull, woken.requestId());
        assertArrayEquals(ONES, woken.parameters(0));
        assertEquals(0, shard.agent.counters.parkedPulls);
    }

    @Test
    void aSilentSlowWorkerIsDroppedAndTheSspPullsWaitingForItAreAnsweredThenItRejoinsAtTheCurrentClock() {
        shard = new EmbeddedShard("ssp:0", 2, 100);
        EmbeddedChannel w0 = shard.worker(0);
        EmbeddedChannel w1 = shard.worker(1);
        int id = shard.register(w0, W, 4, 0);
        shard.call(w0, Opcode.CLOCK, new Messages.Clock(3)).ok();
        long pull = shard.send(w0, Opcode.PULL, new Messages.Pull(id, 0, 3));
        shard.run();
        assertNull(shard.poll(w0));

        shard.now.addAndGet(101 * MS);
        shard.send(w0, Opcode.HEARTBEAT, null);
        shard.answer(w0).ok();
        shard.run();
        assertEquals(pull, shard.answer(w0).requestId(), "worker 1 dropped: the slowest live clock is worker 0's 3");

        shard.call(w1, Opcode.CLOCK, new Messages.Clock(0)).ok();
        assertEquals(1, shard.agent.counters.workersRejoined);
        // Rejoined at clock 3, worker 1 does not hold worker 0 back.
        shard.call(w0, Opcode.PULL, new Messages.Pull(id, 0, 3)).parameters(0);
    }

    // ---- batches --------------------------------------------------------------------------------------

    @Test
    void pushesQueuedBehindEachOtherRunAsOneBatchAnsweredInOrderWithTheValuesOfOneByOne() {
        shard = new EmbeddedShard("asp", 1, 0);
        EmbeddedChannel w0 = shard.worker(0);
        int id = shard.register(w0, W, 4, 0);
        long[] requests = new long[4];
        float[] expected = ONES;
        for (int k = 0; k < requests.length; k++) {
            float[] g = k % 2 == 0 ? G0 : G1;
            requests[k] = push(w0, id, 0, g);
            expected = sgd(expected, g);
        }
        long pushPull = shard.push(w0, Opcode.PUSH_PULL, new Messages.PushHeader(id, 0, 0, 4), G1);
        expected = sgd(expected, G1);
        shard.run();
        for (long r : requests) {
            EmbeddedShard.Answer a = shard.answer(w0).ok();
            assertEquals(r, a.requestId());
        }
        EmbeddedShard.Answer last = shard.answer(w0);
        assertEquals(pushPull, last.requestId());
        assertArrayEquals(expected, last.parameters(5));
        assertEquals(1, shard.agent.counters.pushBatches);
        assertEquals(5, shard.agent.counters.batchedPushes);
    }
}
