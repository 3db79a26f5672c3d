package io.gpups.server;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.protocol.ProtocolException;
import io.gpups.core.protocol.TableMessages;
import io.gpups.server.checkpoint.CheckpointSettings;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * The one thread that owns a shard's device and chunk state (DESIGN.md, Threads). Event loops decode and
 * validate frames and {@link #submit} tasks; the agent runs them in order, so chunk state needs no locks.
 * Every request handed to the agent gets exactly one answer: OK, DATA or ERROR. The agent keeps the thread, the
 * queue and the dispatch; the jobs are done by the parts it wires together at construction:
 * <ul>
 *   <li>{@link ShardTensors}: what the shard holds (REGISTER, and the chunk a request names);</li>
 *   <li>{@link ConsistencyPolicy}: when a pull is answered (bsp, ssp, asp), with the parked pulls and clocks;</li>
 *   <li>{@link ShardWorkers}: which workers count (drops and rejoins);</li>
 *   <li>{@link ShardPushes}: PUSH and PUSH_PULL, within a {@link PushBatch};</li>
 *   <li>{@link ShardTables}: the embedding tables (REGISTER_TABLE, PULL_ROWS, PUSH_ROWS);</li>
 *   <li>{@link ShardDevice}: the device, which issues a batch's queued updates before any other use;</li>
 *   <li>{@link ShardReplies}: the answers;</li>
 *   <li>{@link ShardCheckpoints}: restore and writing (it reaches the agent only through the executor it is started with).</li>
 * </ul>
 *
 * <p><b>Batches.</b> When the agent takes a push and more pushes wait right behind it, it takes those too (up to
 * {@value #MAX_BATCH_PUSHES} pushes or {@value #MAX_BATCH_BYTES} payload bytes, never past a task that is not a push)
 * and runs them one by one exactly as alone, with two differences. A push's device update with an uncompressed
 * (codec none) gradient, an optimizer step or a bsp accumulation, is queued rather than issued, and the queued ones go
 * to the device together through {@link Device#applyBatch} (one kernel launch on a GPU); every other use of the device
 * (a compressed push, the bsp step over the gradient sum, a pull's copy, a checkpoint's snapshot) first issues what is
 * queued ({@link ShardDevice}), so the device sees every operation in the order the pushes asked for it. And the
 * answers of the batch are held and sent, in order, once its updates are issued: a push whose update fails on the
 * device is answered with the error (its chunk's version has already moved on, as after any device fault the shard
 * cannot undo). Frames are released after their updates were issued.
 */
final class ShardAgent implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ShardAgent.class);

    /** Most pushes, and payload bytes, the agent takes together as one batch. */
    static final int MAX_BATCH_PUSHES = 64;
    static final long MAX_BATCH_BYTES = 64L << 20;
    /** Least time between two liveness checks (between tasks). */
    static final long LIVENESS_CHECK_NANOS = 100_000_000L;

    private final ShardConfig config;
    private final boolean bsp;
    private final LinkedBlockingQueue<Runnable> queue = new LinkedBlockingQueue<>();
    private final Thread thread;
    private volatile boolean running = true;
    private final LongSupplier nanoTime;
    private long nextLivenessCheck;

    final ShardCounters counters = new ShardCounters();
    private final ShardDevice device;
    private final ShardTensors tensors;
    private final ShardReplies replies;
    /** When pulls are answered: parked pulls and workers' clocks, per consistency mode. */
    private final ConsistencyPolicy policy;
    private final ShardWorkers workers;
    private final ShardCheckpoints checkpoints;
    private final ShardPushes pushes;
    private final ShardTables tables;
    /** What a push run alone runs in: nothing is queued. */
    private final PushBatch alone;
    private final AtomicLong queueDepth = new AtomicLong();
    /** Stops reading connections while the queue is long (event loops), reads them again once it drains (here). */
    final AgentBackpressure backpressure = new AgentBackpressure(queueDepth);

    /**
     * A shard's agent over {@code device}. {@code liveness} is shared with the event loops, which record what they
     * hear; {@code nanoTime} is the clock of the liveness checks, the parked pulls and the update times (the
     * liveness's own clock should be the same). Fails as {@link ShardCheckpoints} does when there is no checkpoint to
     * restore from. The thread starts with {@link #start}.
     */
    ShardAgent(ShardConfig config, Device device, long maxRegisteredBytes, WorkerLiveness liveness,
               NonFinitePolicy nonFinite, CheckpointSettings checkpointSettings, LongSupplier nanoTime) {
        this.config = config;
        this.bsp = config.consistency().mode() == Consistency.Mode.BSP;
        this.nanoTime = nanoTime;
        this.device = new ShardDevice(device, counters, nanoTime);
        this.tensors = new ShardTensors(config, this.device, counters, maxRegisteredBytes);
        this.replies = new ShardReplies(this.device, counters);
        this.policy = ConsistencyPolicy.of(config, liveness, counters, replies::parameters, nanoTime);
        this.workers = new ShardWorkers(config, liveness, policy, counters);
        NonFinitePushes nonFinitePushes = new NonFinitePushes(nonFinite, counters, new NonFiniteLog());
        this.tables = new ShardTables(config, this.device, tensors, nonFinitePushes, nanoTime, workers::alive);
        this.checkpoints = new ShardCheckpoints(config, checkpointSettings, this.device, tensors, tables, counters);
        this.pushes = new ShardPushes(config, this.device, tensors, workers, policy, nonFinitePushes, checkpoints,
                replies, counters);
        this.alone = PushBatch.alone(this.device);
        this.thread = new Thread(this::run, "gpups-shard-" + config.shard() + "-agent");
        this.thread.setDaemon(true);
    }

    /** An agent on the system clock with no checkpoints, refusing non-finite pushes: for tests. */
    ShardAgent(ShardConfig config, Device device, long maxRegisteredBytes) {
        this(config, device, maxRegisteredBytes,
                new WorkerLiveness(config.workers(), config.workerTimeoutMillis(), System::nanoTime),
                NonFinitePolicy.REJECT, CheckpointSettings.none(), System::nanoTime);
    }

    void start() {
        thread.start();
    }

    /** The shard's checkpoints, started and closed by the server. */
    ShardCheckpoints checkpoints() {
        return checkpoints;
    }

    /** Sets the limits on parked pulls (from the next pull on); any thread. */
    void limitParkedPulls(ParkedPulls.Limits limits) {
        submit(() -> policy.limits(limits));
    }

    /** Queues a task for the agent thread; called from event loops, never blocks. */
    void submit(Runnable task) {
        queueDepth.incrementAndGet();
        queue.add(task);
    }

    /**
     * Queues a PUSH or PUSH_PULL: {@code values} is the gradient payload of {@code frame}, which the agent releases
     * once the push is done.
     */
    void submitPush(Channel ch, long requestId, int rank, Messages.PushHeader h, ByteBuf values, Frame frame,
                    boolean thenPull) {
        submit(new PushTask(ch, requestId, rank, h, values, frame, thenPull));
    }

    /** A queued push; run alone, or with the pushes queued behind it as a batch. */
    private final class PushTask implements Runnable {
        final Channel ch;
        final long requestId;
        final int rank;
        final Messages.PushHeader header;
        final ByteBuf values;
        final Frame frame;
        final boolean thenPull;

        PushTask(Channel ch, long requestId, int rank, Messages.PushHeader header, ByteBuf values, Frame frame,
                 boolean thenPull) {
            this.ch = ch;
            this.requestId = requestId;
            this.rank = rank;
            this.header = header;
            this.values = values;
            this.frame = frame;
            this.thenPull = thenPull;
        }

        @Override
        public void run() {
            try {
                pushes.push(alone, ch, requestId, rank, header, values, thenPull);
            } finally {
                frame.release();
            }
        }
    }

    long queueDepth() {
        return queueDepth.get();
    }

    private void run() {
        while (running) {
            Runnable task;
            try {
                task = queue.poll(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                break;
            }
            step(task);
        }
    }

    /**
     * For tests that do not {@link #start} the thread: runs every queued task on the caller's thread, exactly as the
     * thread would (batches included), and the checks between tasks once more after the last.
     */
    void runQueued() {
        Runnable task;
        while ((task = queue.poll()) != null) {
            step(task);
        }
        step(null);
    }

    /** The checks between tasks, then {@code task} (null: none came). */
    private void step(Runnable task) {
        checkLiveness();
        backpressure.resumeIfDrained();
        if (task == null) {
            return;
        }
        queueDepth.decrementAndGet();
        try {
            if (task instanceof PushTask push && queue.peek() instanceof PushTask) {
                runBatch(takeBatch(push));
            } else {
                task.run();
            }
        } catch (Throwable t) {
            // A task answers its own request; this only guards the thread against a bug. On a full heap the
            // log call can throw again (OutOfMemoryError): the thread must live on, or no later task (a closed
            // connection's cleanup included) would ever run.
            try {
                log.error("shard agent task failed", t);
            } catch (Throwable ignored) {
                // nothing more can be done for this task
            }
        }
    }

    // ---- batches of pushes (agent thread) --------------------------------------------------------------

    /** {@code first} and the pushes queued right behind it, within the batch limits. */
    private List<PushTask> takeBatch(PushTask first) {
        List<PushTask> batch = new ArrayList<>();
        batch.add(first);
        long bytes = first.values.readableBytes();
        // Only this thread takes from the queue, so the head seen by peek is the one poll returns.
        while (batch.size() < MAX_BATCH_PUSHES && bytes < MAX_BATCH_BYTES && queue.peek() instanceof PushTask next) {
            queue.poll();
            queueDepth.decrementAndGet();
            batch.add(next);
            bytes += next.values.readableBytes();
        }
        return batch;
    }

    /** Runs the pushes in order with their device updates queued and their answers held (see the class comment). */
    private void runBatch(List<PushTask> tasks) {
        PushBatch batch = PushBatch.of(device);
        replies.hold();
        try {
            for (PushTask p : tasks) {
                batch.running(p.ch, p.requestId);
                pushes.push(batch, p.ch, p.requestId, p.rank, p.header, p.values, p.thenPull);
            }
            batch.issueQueued();
        } finally {
            for (PushTask p : tasks) {
                p.frame.release();
            }
            counters.recordPushBatch(tasks.size());
            replies.release(batch);
        }
    }

    // ---- liveness (agent thread) ----------------------------------------------------------------------

    /**
     * Between tasks, at most every 100 ms of the agent's clock: logs stalled pulls (at most once a minute) and drops
     * workers silent past the timeout. Under bsp, steps that waited only for them complete with the gradients that
     * arrived (averaged over those); under ssp, pulls that waited only for them are answered.
     */
    private void checkLiveness() {
        long now = nanoTime.getAsLong();
        if (now < nextLivenessCheck) {
            return;
        }
        nextLivenessCheck = now + LIVENESS_CHECK_NANOS;
        policy.reportStalls();
        if (!workers.dropSilent()) {
            return;
        }
        if (bsp) {
            pushes.completeStepsOfLiveWorkers();
            tables.completeStepsOfLiveWorkers();
            answerReadyRowPulls();
        }
        policy.workersDropped();
    }

    /** A request from {@code rank}, seen on the agent thread: a dropped worker that speaks again is back. */
    void workerSpoke(int rank) {
        workers.spoke(rank);
    }

    // ---- requests (agent thread) ----------------------------------------------------------------------

    void register(Channel ch, long requestId, Messages.Register reg) {
        replies.answer(ch, requestId, () -> Frames.encode(ch.alloc(), Opcode.OK, requestId,
                new Messages.RegisterReply(tensors.register(reg, checkpoints::restore).id)));
    }

    void registerTable(Channel ch, long requestId, TableMessages.RegisterTable reg) {
        replies.answer(ch, requestId, () -> Frames.encode(ch.alloc(), Opcode.OK, requestId,
                new Messages.RegisterReply(tables.register(reg, checkpoints::restore))));
    }

    /**
     * PULL_ROWS: {@code ids} is the id payload of {@code frame}, released here. On a bsp shard a pull ahead of its
     * table's version is parked with a copy of its ids, and answered when the version gets there.
     */
    void pullRows(Channel ch, long requestId, int rank, TableMessages.RowsHeader h, ByteBuf ids, Frame frame) {
        try {
            workers.spoke(rank);
            if (tables.parkIfAhead(ch, requestId, h, ids)) {
                return;
            }
            replies.answer(ch, requestId, () -> tables.pull(ch.alloc(), requestId, h, ids));
        } catch (ProtocolException e) {
            replies.error(ch, requestId, e);
        } catch (RuntimeException e) {
            replies.failed(ch, requestId, e);
        } finally {
            frame.release();
        }
    }

    /** bsp: answers the parked row pulls whose tables have reached their clocks. */
    private void answerReadyRowPulls() {
        for (ShardTables.ParkedRowPull p : tables.takeReadyPulls()) {
            replies.answer(p.channel(), p.requestId(),
                    () -> tables.pull(p.channel().alloc(), p.requestId(), p.header(), p.idBuffer()));
        }
    }

    /** PUSH_ROWS: {@code payload} (ids, then rows) is in {@code frame}, released here. */
    void pushRows(Channel ch, long requestId, int rank, TableMessages.RowsHeader h, ByteBuf payload, Frame frame) {
        try {
            workers.spoke(rank);
            ProtocolException refused = tables.push(rank, h, payload);
            if (refused == null) {
                replies.ok(ch, requestId);
            } else {
                replies.error(ch, requestId, refused);
            }
        } catch (ProtocolException e) {
            replies.error(ch, requestId, e);
        } catch (RuntimeException e) {
            replies.failed(ch, requestId, e);
        } finally {
            frame.release();
        }
        answerReadyRowPulls();
    }

    /** The registered tables (agent thread). */
    List<ShardTables.TableState> tables() {
        return tables.all();
    }

    void pull(Channel ch, long requestId, int rank, Messages.Pull p) {
        workers.spoke(rank);
        try {
            ChunkState chunk = tensors.chunk(p.tensorId(), p.chunk(), "PULL");
            counters.pulls++;
            policy.pull(ch, requestId, Session.rankOf(ch), chunk, p.clock(), p.dtype());
        } catch (ProtocolException e) {
            replies.error(ch, requestId, e);
        } catch (RuntimeException e) {
            replies.failed(ch, requestId, e);
        }
    }

    void clock(Channel ch, long requestId, int rank, Messages.Clock c) {
        if (rank < 0) {
            replies.error(ch, requestId, new ProtocolException(ErrorCode.BAD_ARGUMENT,
                    "CLOCK needs a worker rank; this connection said HELLO with rank -1"));
            return;
        }
        workers.spoke(rank);
        replies.ok(ch, requestId);
        policy.clock(rank, c.clock());
    }

    void checkpoint(Channel ch, long requestId, Messages.Checkpoint request) {
        checkpoints.request(ch, requestId, request);
    }

    void stats(Channel ch, long requestId) {
        String json = counters.toJson(config, tensors.all().size(), tensors.chunks(), queueDepth.get(),
                policy.slowestClock());
        json = json.substring(0, json.length() - 1) + ",\"tables\":" + tables.toJson() + "}";
        replies.data(ch, requestId, new Messages.Text(json));
    }

    /** Forgets the parked pulls (chunks and rows) of a closed connection. */
    void connectionClosed(Channel ch) {
        policy.connectionClosed(ch);
        tables.connectionClosed(ch);
    }

    /** Pulls parked now (agent thread). */
    int parkedPulls() {
        return policy.parkedPulls();
    }

    /** Row pulls parked now (agent thread). */
    int parkedRowPulls() {
        return tables.parkedPulls();
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        tables.close();
        tensors.close();
        replies.close();
    }
}
