package io.gpups.server;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.ProtocolException;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The consistency policies as plain objects: real chunks on the CPU device, connections as EmbeddedChannels,
 * answers recorded instead of sent, and a clock the test moves.
 */
class ConsistencyPolicyTest {

    private static final long MS = 1_000_000L;
    private static final long FAR = 1L << 60;
    private static final TensorSpec W = new TensorSpec("w", new long[] {8},
            new Initializer(Initializer.Kind.CONSTANT, 1f, 0), new OptimizerSpec.Sgd(0.5f, 0f));

    private final AtomicLong now = new AtomicLong(7_000_000_000L);
    private final List<Long> answered = new ArrayList<>();
    private final ShardCounters counters = new ShardCounters();
    private final EmbeddedChannel a = new EmbeddedChannel();
    private final EmbeddedChannel b = new EmbeddedChannel();
    private Device device;
    private TensorState tensor;

    @BeforeEach
    void open() {
        device = Devices.installed().open("cpu", line -> { });
    }

    @AfterEach
    void close() {
        if (tensor != null) {
            tensor.chunks.values().forEach(ChunkState::close);
        }
        device.close();
        a.finishAndReleaseAll();
        b.finishAndReleaseAll();
    }

    /** A policy for {@code mode} over {@code workers} workers, with two chunks of 4 floats. */
    private ConsistencyPolicy policy(String mode, int workers, long timeoutMillis) {
        boolean bsp = mode.equals("bsp");
        tensor = new TensorState(0, new Messages.Register(W, 4, new int[] {0, 1}));
        tensor.chunks.put(0, new ChunkState(tensor, 0, device, bsp, workers));
        tensor.chunks.put(1, new ChunkState(tensor, 1, device, bsp, workers));
        WorkerLiveness liveness = new WorkerLiveness(workers, timeoutMillis, now::get);
        ShardConfig config = new ShardConfig("127.0.0.1", 0, 0, 1, workers, Consistency.parse(mode),
                Frame.DEFAULT_MAX_FRAME_BYTES, timeoutMillis);
        return ConsistencyPolicy.of(config, liveness, counters, (ch, id, chunk, dtype) -> answered.add(id), now::get);
    }

    private ChunkState chunk(int i) {
        return tensor.chunks.get(i);
    }

    @Test
    void bspRefusesAPullMoreThanOneStepAheadNamingBothValues() {
        ConsistencyPolicy bsp = policy("bsp", 2, 0);
        chunk(0).version = 3;
        ProtocolException e = assertThrows(ProtocolException.class, () -> bsp.pull(a, 1, 0, chunk(0), FAR, 0));
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("at clock " + FAR) && e.getMessage().contains("version is 3"), e.getMessage());
        assertThrows(ProtocolException.class, () -> bsp.pull(a, 2, 0, chunk(0), 5, 0), "two steps ahead");
        assertEquals(0, bsp.parkedPulls());

        bsp.pull(a, 3, 0, chunk(0), 3, 0);
        bsp.pull(a, 4, 0, chunk(0), 4, 0);
        assertEquals(List.of(3L), answered, "clock 3 is ready; clock 4, the step being collected, waits");
        assertEquals(1, bsp.parkedPulls());
        chunk(0).version = 4;
        bsp.versionMoved(chunk(0));
        assertEquals(List.of(3L, 4L), answered);
        assertEquals(0, bsp.parkedPulls());
        assertEquals(0, counters.parkedPulls);
    }

    @Test
    void aVersionThatMovesAnswersEveryPullItSatisfiesOfEveryConnection() {
        ConsistencyPolicy bsp = policy("bsp", 2, 0);
        for (long id = 1; id <= 3; id++) {
            bsp.pull(id == 2 ? b : a, id, 0, chunk(0), 1, 0);
        }
        bsp.pull(a, 9, 0, chunk(1), 1, 0);
        now.addAndGet(250 * MS);
        chunk(0).version = 1;
        bsp.versionMoved(chunk(0));
        assertEquals(List.of(1L, 2L, 3L), answered, "all three, in arrival order; chunk 1's pull still waits");
        assertEquals(1, bsp.parkedPulls());
        assertEquals(3, counters.waits);
        assertEquals(0.75, counters.waitNanos / 1e9, 1e-9, "each waited 250 ms of the test's clock");
    }

    @Test
    void aClockQueueAnswersWhatIsReadyBehindAFarFuturePull() {
        ClockQueue q = new ClockQueue();
        q.add(FAR, new ParkedPull(a, 1, null, FAR, 0, 0));
        q.add(1, new ParkedPull(a, 2, null, 1, 0, 0));
        q.add(2, new ParkedPull(b, 3, null, 2, 0, 0));
        List<Long> ready = new ArrayList<>();
        assertEquals(2, q.drainReady(2, p -> ready.add(p.requestId())));
        assertEquals(List.of(2L, 3L), ready, "the pulls behind the one for clock 2^60 are answered");
        assertEquals(1, q.size());
        assertEquals(FAR, q.firstReadyAt());
        assertEquals(1, q.remove(a));
        assertTrue(q.isEmpty());
    }

    @Test
    void parkedPullsAreCappedPerConnectionAndPerShardAndGoWithTheirConnection() {
        ConsistencyPolicy bsp = policy("bsp", 2, 0);
        bsp.limits(new ParkedPulls.Limits(2, 3));
        bsp.pull(a, 1, 0, chunk(0), 1, 0);
        bsp.pull(a, 2, 0, chunk(1), 1, 0);
        ProtocolException perConnection = assertThrows(ProtocolException.class, () -> bsp.pull(a, 3, 0, chunk(0), 1, 0));
        assertEquals(ErrorCode.OUT_OF_MEMORY, perConnection.code());
        assertTrue(perConnection.getMessage().contains("this connection already has 2 parked pulls, its limit (2)"),
                perConnection.getMessage());
        bsp.pull(b, 4, 1, chunk(0), 1, 0);
        EmbeddedChannel c = new EmbeddedChannel();
        ProtocolException perShard = assertThrows(ProtocolException.class, () -> bsp.pull(c, 5, 1, chunk(0), 1, 0));
        assertTrue(perShard.getMessage().contains("the shard already holds 3 parked pulls, its limit (3)"), perShard.getMessage());
        assertEquals(3, counters.parkedPulls);

        bsp.connectionClosed(a);
        assertEquals(1, bsp.parkedPulls());
        assertEquals(1, counters.parkedPulls);
        chunk(0).version = 1;
        chunk(1).version = 1;
        bsp.versionMoved(chunk(0));
        bsp.versionMoved(chunk(1));
        assertEquals(List.of(4L), answered, "only b's pull was left to answer");
        assertEquals(0, counters.parkedPulls);
        c.finishAndReleaseAll();
    }

    @Test
    void sspRefusesAPullBeyondItsWorkersClockAndTheSlowestPlusS() {
        ConsistencyPolicy ssp = policy("ssp:2", 2, 0);
        ProtocolException e = assertThrows(ProtocolException.class, () -> ssp.pull(a, 1, 0, chunk(0), FAR, 0));
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("at clock " + FAR) && e.getMessage().contains("slowest live clock is 0")
                && e.getMessage().contains("own clock is 0"), e.getMessage());
        // slowest + S + 1 = 3 may wait (a trainer at clock 3 when the other is at 0)...
        ssp.pull(a, 2, 0, chunk(0), 3, 0);
        assertThrows(ProtocolException.class, () -> ssp.pull(a, 3, 0, chunk(0), 4, 0));
        // ...and a worker that reported clock 9 may pull 9, or 10 (a pipelined PUSH_PULL before its next CLOCK).
        ssp.clock(0, 9);
        ssp.pull(a, 4, 0, chunk(0), 10, 0);
        assertThrows(ProtocolException.class, () -> ssp.pull(a, 5, 0, chunk(0), 11, 0));
        assertEquals(2, ssp.parkedPulls());
        assertEquals(List.of(), answered);
        // The slow worker catches up: each pull is answered as soon as slowest >= clock - S, lowest first.
        ssp.clock(1, 1);
        assertEquals(List.of(2L), answered);
        ssp.clock(1, 8);
        assertEquals(List.of(2L, 4L), answered);
        assertEquals(0, ssp.parkedPulls());
    }

    @Test
    void sspDropsASilentWorkerAndRejoinsItAtTheCurrentClock() {
        ConsistencyPolicy ssp = policy("ssp:1", 2, 100);
        WorkerLiveness liveness = livenessOf(ssp);
        liveness.heard(0);
        liveness.heard(1);
        ssp.clock(0, 5);
        ssp.pull(a, 1, 0, chunk(0), 5, 0);
        assertEquals(List.of(), answered, "worker 1 is at clock 0: clock 5 - 1 waits for it");

        now.addAndGet(150 * MS);
        liveness.heard(0);
        assertEquals(1, liveness.expire().length);
        ssp.workersDropped();
        assertEquals(List.of(1L), answered, "worker 1 was dropped: the slowest live clock is worker 0's, 5");

        // Worker 1 comes back (a restarted process counts from step 0 again): it rejoins at clock 5, not 0.
        liveness.heard(1);
        assertTrue(liveness.revive(1));
        ssp.workerRejoined(1);
        assertEquals(5, ssp.slowestClock());
        ssp.clock(1, 1);
        ssp.clock(0, 6);
        ssp.pull(a, 2, 0, chunk(0), 6, 0);
        assertEquals(List.of(1L, 2L), answered, "worker 0 is not held back while worker 1 replays its first steps");
    }

    @Test
    void aspAnswersAtOnceAndARejoinedWorkerKeepsTheSlowestClock() {
        ConsistencyPolicy asp = policy("asp", 2, 100);
        WorkerLiveness liveness = livenessOf(asp);
        asp.pull(a, 1, 0, chunk(0), FAR, 0);
        assertEquals(List.of(1L), answered);
        liveness.heard(0);
        liveness.heard(1);
        asp.clock(0, 40);
        now.addAndGet(150 * MS);
        liveness.heard(0);
        liveness.expire();
        asp.workersDropped();
        assertEquals(40, asp.slowestClock(), "the silent worker no longer counts");
        liveness.heard(1);
        liveness.revive(1);
        asp.workerRejoined(1);
        assertEquals(40, asp.slowestClock());
    }

    @Test
    void aStalledPullIsLoggedOnceAMinuteNamingTheRanksItWaitsFor() {
        ConsistencyPolicy ssp = policy("ssp:0", 3, 0);
        ssp.clock(0, 4);
        ssp.clock(2, 4);
        ssp.pull(a, 1, 0, chunk(0), 4, 0);
        assertNull(ssp.reportStalls());
        now.addAndGet(59_000 * MS);
        assertNull(ssp.reportStalls(), "under a minute");
        now.addAndGet(2_000 * MS);
        String line = ssp.reportStalls();
        assertNotNull(line);
        assertTrue(line.contains("needs the slowest live clock to reach 4; worker(s) behind: 1 (clock 0)"), line);
        assertTrue(line.contains("no --worker-timeout"), line);
        now.addAndGet(30_000 * MS);
        assertNull(ssp.reportStalls(), "at most once a minute");
        now.addAndGet(31_000 * MS);
        assertNotNull(ssp.reportStalls());
        ssp.clock(1, 4);
        assertEquals(List.of(1L), answered);
        now.addAndGet(120_000 * MS);
        assertNull(ssp.reportStalls(), "nothing parked");
    }

    @Test
    void aStalledBspStepIsLoggedNamingTheWorkersWhoseGradientIsMissing() {
        ConsistencyPolicy bsp = policy("bsp", 3, 0);
        chunk(0).arrived[0] = true;
        chunk(0).arrivedCount = 1;
        bsp.pull(a, 1, 0, chunk(0), 1, 0);
        now.addAndGet(61_000 * MS);
        String line = bsp.reportStalls();
        assertNotNull(line);
        assertTrue(line.contains("bsp step 0 of 'w' chunk 0 waits for the gradient of worker(s) [1, 2]"), line);
    }

    private static WorkerLiveness livenessOf(ConsistencyPolicy policy) {
        return ((AbstractConsistencyPolicy) policy).liveness;
    }
}
