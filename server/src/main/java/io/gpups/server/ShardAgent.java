package io.gpups.server;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.RandomKSelection;
import io.gpups.core.config.Consistency;
import io.gpups.core.device.BatchedUpdate;
import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceOutOfMemoryException;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.protocol.ProtocolException;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * The one thread that owns a shard's device and chunk state (DESIGN.md, Threads). Event loops decode and
 * validate frames and {@link #submit} tasks; the agent runs them in order, so chunk state needs no locks.
 * Every request handed to the agent gets exactly one answer: OK, DATA or ERROR.
 *
 * <p><b>Batches.</b> When the agent takes a push and more pushes wait right behind it, it takes those too (up to
 * {@value #MAX_BATCH_PUSHES} pushes or {@value #MAX_BATCH_BYTES} payload bytes, never past a task that is not a push)
 * and runs them one by one exactly as alone, with two differences. A push's device update with an uncompressed
 * (codec none) gradient, an optimizer step or a bsp accumulation, is queued rather than issued, and the queued ones go
 * to the device together through {@link Device#applyBatch} (one kernel launch on a GPU); every other use of the device
 * (a compressed push, the bsp step over the gradient sum, a pull's copy, a checkpoint's snapshot) first issues what is
 * queued, so the device sees every operation in the order the pushes asked for it. And the answers of the batch are
 * held and sent, in order, once its updates are issued: a push whose update fails on the device is answered with the
 * error (its chunk's version has already moved on, as after any device fault the shard cannot undo). Frames are
 * released after their updates were issued.
 */
final class ShardAgent implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ShardAgent.class);

    private final ShardConfig config;
    private final Device device;
    private final boolean bsp;
    /** Bytes all registrations may take together ({@link RegistrationBytes}). */
    private final long maxRegisteredBytes;
    /** What the registrations so far take, as {@link RegistrationBytes} counts it. */
    private long registeredBytes;
    private final LinkedBlockingQueue<Runnable> queue = new LinkedBlockingQueue<>();
    private final Thread thread;
    private volatile boolean running = true;

    private final Map<String, TensorState> byName = new HashMap<>();
    private final List<TensorState> byId = new ArrayList<>();
    /** Which workers count: bsp steps wait for the live ones, ssp's slowest clock is the slowest live one. */
    final WorkerLiveness liveness;
    private long nextLivenessCheck;
    /** When pulls are answered: parked pulls and workers' clocks, per consistency mode. */
    private final ConsistencyPolicy policy;

    final ShardCounters counters = new ShardCounters();
    /** What pushes with NaN or infinite gradients get (set before {@link #start}). */
    private NonFinitePushes nonFinite = new NonFinitePushes(NonFinitePolicy.REJECT, counters, new NonFiniteLog());
    /** Checkpoint restore and writing, or null (set before {@link #start}). */
    private ShardCheckpoints checkpoints;
    private final AtomicLong queueDepth = new AtomicLong();
    /** Stops reading connections while the queue is long (event loops), reads them again once it drains (here). */
    final AgentBackpressure backpressure = new AgentBackpressure(queueDepth);

    /** Most pushes, and payload bytes, the agent takes together as one batch. */
    static final int MAX_BATCH_PUSHES = 64;
    static final long MAX_BATCH_BYTES = 64L << 20;
    /** While a batch runs: the updates queued for {@link Device#applyBatch}, and whose they are; else null. */
    private List<BatchedUpdate> queuedUpdates;
    private List<Request> queuedOwners;
    /** What each queued update's push does once its count of non-finite gradient values is known and not 0. */
    private List<LongConsumer> queuedOnNonFinite;
    /** While a batch runs: its answers in the order they were made; else null. */
    private List<HeldAnswer> heldAnswers;
    /** While a batch runs: the requests whose queued update failed on the device, with the failure. */
    private final Map<Request, RuntimeException> failedUpdates = new HashMap<>();
    /** The push being run. */
    private Request current;
    /** Time spent issuing queued updates, kept out of the pushes' own update times (it is counted on its own). */
    private long issueNanos;

    ShardAgent(ShardConfig config, Device device, long maxRegisteredBytes) {
        this.config = config;
        this.maxRegisteredBytes = maxRegisteredBytes;
        this.device = device;
        this.bsp = config.consistency().mode() == Consistency.Mode.BSP;
        this.liveness = new WorkerLiveness(config.workers(), config.workerTimeoutMillis(), System::nanoTime);
        this.policy = ConsistencyPolicy.of(config, liveness, counters, this::answerPull, System::nanoTime);
        this.thread = new Thread(this::run, "gpups-shard-" + config.shard() + "-agent");
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    void checkpoints(ShardCheckpoints checkpoints) {
        this.checkpoints = checkpoints;
    }

    void nonFinite(NonFinitePolicy policy, NonFiniteLog log) {
        this.nonFinite = new NonFinitePushes(policy, counters, log);
    }

    /** The registered tensors, by id (agent thread only). */
    List<TensorState> tensors() {
        return byId;
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
                push(ch, requestId, rank, header, values, thenPull);
            } finally {
                frame.release();
            }
        }
    }

    /** A request, as the key of a held answer or a failed update. */
    private record Request(Channel ch, long requestId) {
    }

    /** An answer made while a batch runs, sent when the batch is done. */
    private record HeldAnswer(Channel ch, long requestId, ByteBuf frame) {
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
            checkLiveness();
            backpressure.resumeIfDrained();
            if (task == null) {
                continue;
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
    private void runBatch(List<PushTask> batch) {
        queuedUpdates = new ArrayList<>();
        queuedOwners = new ArrayList<>();
        queuedOnNonFinite = new ArrayList<>();
        heldAnswers = new ArrayList<>();
        List<HeldAnswer> answers = heldAnswers;
        try {
            for (PushTask p : batch) {
                current = new Request(p.ch, p.requestId);
                push(p.ch, p.requestId, p.rank, p.header, p.values, p.thenPull);
            }
            current = null;
            issueQueuedUpdates();
        } finally {
            current = null;
            queuedUpdates = null;
            queuedOwners = null;
            queuedOnNonFinite = null;
            heldAnswers = null;
            for (PushTask p : batch) {
                p.frame.release();
            }
            counters.recordPushBatch(batch.size());
            for (HeldAnswer a : answers) {
                RuntimeException failure = failedUpdates.get(new Request(a.ch(), a.requestId()));
                if (failure == null) {
                    a.ch().writeAndFlush(a.frame());
                } else {
                    a.frame().release();
                    send(a.ch(), a.requestId(), errorFrame(a.ch(), a.requestId(), failure));
                }
            }
            failedUpdates.clear();
        }
    }

    /**
     * Issues the updates queued by the batch being run, with one {@link Device#applyBatch} call. Called before any
     * other use of the device while a batch runs; does nothing otherwise. Never throws: a failure marks the pushes
     * whose updates these were, and their answers become the error. Then each push whose gradient held non-finite
     * values is handled as --nonfinite says; a refusal becomes its answer the same way.
     */
    void issueQueuedUpdates() {
        if (queuedUpdates == null || queuedUpdates.isEmpty()) {
            return;
        }
        List<BatchedUpdate> updates = queuedUpdates;
        List<Request> owners = queuedOwners;
        List<LongConsumer> onNonFinite = queuedOnNonFinite;
        queuedUpdates = new ArrayList<>();
        queuedOwners = new ArrayList<>();
        queuedOnNonFinite = new ArrayList<>();
        long start = System.nanoTime();
        long[] nonFiniteCounts = null;
        try {
            nonFiniteCounts = device.applyBatch(updates);
            counters.recordUpdateBatch(updates.size());
        } catch (RuntimeException e) {
            log.warn("{} queued update(s) failed on the device; their pushes are answered with the error",
                    updates.size(), e);
            for (Request r : owners) {
                failedUpdates.put(r, e);
            }
        }
        long elapsed = System.nanoTime() - start;
        issueNanos += elapsed;
        counters.addApplyNanos(elapsed);
        for (int i = 0; nonFiniteCounts != null && i < nonFiniteCounts.length; i++) {
            if (nonFiniteCounts[i] != 0) {
                try {
                    onNonFinite.get(i).accept(nonFiniteCounts[i]);
                } catch (RuntimeException e) {
                    failedUpdates.put(owners.get(i), e);
                }
            }
        }
    }

    /** Whether a push's update with this gradient waits for the batch's {@link Device#applyBatch}. */
    private boolean queues(Gradient g) {
        return queuedUpdates != null && g.codec() == Codec.Kind.NONE;
    }

    private void queue(BatchedUpdate update, LongConsumer onNonFinite) {
        queuedUpdates.add(update);
        queuedOwners.add(current);
        queuedOnNonFinite.add(onNonFinite);
    }

    /**
     * A clock for the update times of pushes: {@link System#nanoTime()} less the time spent issuing queued updates,
     * which {@link #issueQueuedUpdates} counts itself, so no time is counted twice.
     */
    private long updateClock() {
        return System.nanoTime() - issueNanos;
    }

    // ---- requests (agent thread) ----------------------------------------------------------------------

    void register(Channel ch, long requestId, Messages.Register reg) {
        answer(ch, requestId, () -> {
            TensorState existing = byName.get(reg.spec().name());
            if (existing != null) {
                if (!existing.registration.equals(reg)) {
                    throw new ProtocolException(ErrorCode.CONFLICT, "tensor '" + reg.spec().name()
                            + "' is already registered as " + existing.registration + "; conflicting definition " + reg);
                }
                return Frames.encode(ch.alloc(), Opcode.OK, requestId, new Messages.RegisterReply(existing.id));
            }
            TensorState t = new TensorState(byId.size(), reg);
            if (reg.chunks().length == 0) {
                // A tensor held nowhere here would be written into every checkpoint with none of its chunks.
                throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "REGISTER '" + reg.spec().name()
                        + "' lists no chunk: register a tensor only with the shards that hold some of its "
                        + t.layout.chunks() + " chunk(s)");
            }
            int previous = -1;
            for (int c : reg.chunks()) {
                if (c < 0 || c >= t.layout.chunks()) {
                    throw new ProtocolException(ErrorCode.BAD_CHUNK, "REGISTER '" + reg.spec().name() + "': chunk "
                            + c + " out of range, the tensor has " + t.layout.chunks() + " chunk(s)");
                }
                if (c <= previous) {
                    throw new ProtocolException(ErrorCode.BAD_CHUNK, "REGISTER '" + reg.spec().name()
                            + "': chunk indices must be strictly ascending, got " + c + " after " + previous);
                }
                previous = c;
            }
            long needed = RegistrationBytes.of(reg.spec().name(), t.layout, reg.chunks(), t.spec.optimizer().slots(), bsp);
            if (needed > maxRegisteredBytes - registeredBytes) {
                throw new ProtocolException(ErrorCode.OUT_OF_MEMORY, "REGISTER '" + reg.spec().name() + "' needs " + needed
                        + " bytes (device memory and " + RegistrationBytes.metadataBytes(reg.spec().name())
                        + " for its metadata); this shard holds " + registeredBytes + " of its limit " + maxRegisteredBytes);
            }
            try {
                for (int c : reg.chunks()) {
                    t.chunks.put(c, new ChunkState(t, c, device, bsp, config.workers()));
                }
            } catch (OutOfMemoryError | RuntimeException e) {
                t.chunks.values().forEach(ChunkState::close);
                throw new ProtocolException(ErrorCode.OUT_OF_MEMORY, "REGISTER '" + reg.spec().name()
                        + "': cannot allocate device memory: " + e.getMessage());
            }
            if (checkpoints != null) {
                try {
                    checkpoints.restore(t);
                } catch (RuntimeException e) {
                    t.chunks.values().forEach(ChunkState::close);
                    throw e;
                }
            }
            byName.put(reg.spec().name(), t);
            byId.add(t);
            long bytes = t.chunks.values().stream().mapToLong(ChunkState::deviceBytes).sum();
            counters.deviceBytes += bytes;
            registeredBytes += needed;
            log.info("registered {} ({} of {} chunks here, {} device bytes)", reg.spec(), reg.chunks().length,
                    t.layout.chunks(), bytes);
            return Frames.encode(ch.alloc(), Opcode.OK, requestId, new Messages.RegisterReply(t.id));
        });
    }

    /**
     * A gradient for one chunk. Under bsp it joins the step's sum and the update is applied when every
     * worker's gradient for the step is in; under asp and ssp it is applied at once. With
     * {@code thenPull}, the answer is the chunk's parameters after the update (under bsp: after the step).
     */
    void push(Channel ch, long requestId, int rank, Messages.PushHeader h, ByteBuf values, boolean thenPull) {
        try {
            ChunkState chunk = chunk(h.tensorId(), h.chunk(), thenPull ? "PUSH_PULL" : "PUSH");
            if (h.count() != chunk.length) {
                throw new ProtocolException(ErrorCode.SIZE_MISMATCH, "PUSH to '" + chunk.tensor.spec.name() + "' chunk "
                        + chunk.index + ": " + h.count() + " values, the chunk holds " + chunk.length);
            }
            long seed = h.codec() == Codec.Kind.RANDOMK
                    ? RandomKSelection.seed(chunk.tensor.spec.name(), chunk.index, h.step(), rank) : 0;
            Gradient gradient = new Gradient(h.codec(), values.nioBuffer().order(ByteOrder.LITTLE_ENDIAN), seed);
            counters.pushes++;
            counters.bytesPushed += values.readableBytes();
            counters.rawBytesPushed += 4L * h.count();
            if (bsp) {
                pushBsp(ch, requestId, rank, h, chunk, gradient, thenPull);
            } else {
                long start = updateClock();
                ProtocolException refused = null;
                try {
                    apply(chunk, gradient, nonFiniteValues -> refuseIfRejected(
                            nonFinite.found(thenPull ? "PUSH_PULL" : "PUSH", chunk.tensor.spec.name(), chunk.index, rank,
                                    h.step(), nonFiniteValues, chunk.length)));
                } catch (ProtocolException e) {
                    refused = e; // the fused step ran (over the finite values) and the version moved: an update
                }
                counters.recordUpdate(chunk.length, updateClock() - start);
                refuseIfRejected(refused);
                if (thenPull) {
                    pullAt(ch, requestId, chunk, h.step() + 1, h.pullDtype());
                } else {
                    send(ch, requestId, Frames.empty(ch.alloc(), Opcode.OK, requestId));
                }
            }
        } catch (ProtocolException e) {
            error(ch, requestId, e);
        } catch (RuntimeException e) {
            internal(ch, requestId, e);
        }
    }

    /** A received gradient, still encoded: it is decoded on the device, inside the kernel that uses it. */
    private record Gradient(Codec.Kind codec, ByteBuffer payload, long seed) {
    }

    /**
     * One optimizer step of a chunk with one worker's gradient, decoded in the same pass (or queued, in a batch); the
     * chunk's version moves on. When the decode found non-finite values, {@code onNonFinite} gets their count: now,
     * or once the batch's updates are issued.
     */
    private void apply(ChunkState chunk, Gradient g, LongConsumer onNonFinite) {
        if (queues(g)) {
            queue(new BatchedUpdate.OptimizerStep(chunk.tensor.spec.optimizer(), chunk.param, chunk.slots, g.payload(),
                    chunk.length, chunk.version + 1, 1f, nonFinite.guard()), onNonFinite);
            stepped(chunk);
        } else {
            long nonFiniteValues = decodeApply(chunk, g);
            stepped(chunk);
            if (nonFiniteValues != 0) {
                onNonFinite.accept(nonFiniteValues);
            }
        }
    }

    /** The fused decode-and-step of a chunk, now; returns how many gradient values were not finite. */
    private long decodeApply(ChunkState chunk, Gradient g) {
        issueQueuedUpdates();
        return device.decodeApplyOptimizer(g.codec(), g.payload(), chunk.length, g.seed(), chunk.tensor.spec.optimizer(),
                chunk.param, chunk.slots, chunk.version + 1, 1f, nonFinite.guard());
    }

    private void stepped(ChunkState chunk) {
        chunk.version++;
        if (checkpoints != null) {
            checkpoints.afterUpdate(chunk);
        }
    }

    private static void refuseIfRejected(ProtocolException refusal) {
        if (refusal != null) {
            throw refusal;
        }
    }

    /**
     * A bsp push whose gradient held {@code nonFiniteValues} NaN or infinite values, already added (its finite values)
     * into the step's sum and marked arrived: counted, logged, and handled as --nonfinite says. Under reject and
     * skip-step its finite values are taken out of the sum again: exactly (the sum is cleared) when it is the step's
     * only gradient so far, else by subtracting them, which leaves each element of the sum within a rounding of what
     * it was. Under reject it then throws the refusal, its worker not arrived; under skip-step it stays arrived with no
     * contribution.
     */
    private void nonFiniteBspPush(ChunkState chunk, int rank, Messages.PushHeader h, Gradient g, long nonFiniteValues,
                                  boolean thenPull) {
        ProtocolException refusal = nonFinite.found(thenPull ? "PUSH_PULL" : "PUSH", chunk.tensor.spec.name(),
                chunk.index, rank, h.step(), nonFiniteValues, chunk.length);
        if (!nonFinite.dropsContribution()) {
            return;
        }
        if (chunk.arrivedCount - chunk.emptyArrivals == 1) {
            device.fill(chunk.accumulator, 0f, chunk.length);
        } else {
            device.scale(chunk.accumulator, -1f, chunk.length);
            device.decodeAccumulate(g.codec(), g.payload(), chunk.length, g.seed(), chunk.accumulator);
            device.scale(chunk.accumulator, -1f, chunk.length);
        }
        if (refusal != null) {
            chunk.arrived[rank] = false;
            chunk.arrivedCount--;
            throw refusal;
        }
        chunk.emptyArrivals++;
    }

    private void pushBsp(Channel ch, long requestId, int rank, Messages.PushHeader h, ChunkState chunk,
                         Gradient gradient, boolean thenPull) {
        workerSpoke(rank);
        if (rank < 0) {
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "bsp PUSH needs a worker rank; this connection said HELLO with rank -1");
        }
        if (h.step() != chunk.version) {
            if (h.step() < chunk.version) {
                // Already part of an applied step: a retry. Applying it again would count it twice.
                counters.duplicatePushes++;
                answerPushed(ch, requestId, chunk, h, thenPull);
                return;
            }
            throw new ProtocolException(ErrorCode.STALE_STEP, "bsp PUSH for step " + h.step() + " of '"
                    + chunk.tensor.spec.name() + "' chunk " + chunk.index + ", but the chunk is collecting step " + chunk.version);
        }
        if (chunk.arrived[rank] && nonFinite.policy() == NonFinitePolicy.REJECT) {
            // The gradient that arrived may be a queued one still to be refused: know before calling this a duplicate.
            issueQueuedUpdates();
        }
        if (chunk.arrived[rank]) {
            counters.duplicatePushes++;
            answerPushed(ch, requestId, chunk, h, thenPull);
            return;
        }
        long start = updateClock();
        if (config.workers() == 1) {
            // Never queued: a refused push must not move the version (its worker's next push is for the same step).
            long nonFiniteValues = decodeApply(chunk, gradient);
            if (nonFiniteValues != 0) {
                refuseIfRejected(nonFinite.found(thenPull ? "PUSH_PULL" : "PUSH", chunk.tensor.spec.name(),
                        chunk.index, rank, h.step(), nonFiniteValues, chunk.length));
            }
            stepped(chunk);
        } else {
            LongConsumer onNonFinite = nonFiniteValues -> nonFiniteBspPush(chunk, rank, h, gradient, nonFiniteValues,
                    thenPull);
            long nonFiniteValues = 0;
            if (queues(gradient)) {
                queue(new BatchedUpdate.Accumulate(chunk.accumulator, gradient.payload(), chunk.length), onNonFinite);
            } else {
                issueQueuedUpdates();
                nonFiniteValues = device.decodeAccumulate(gradient.codec(), gradient.payload(), chunk.length,
                        gradient.seed(), chunk.accumulator);
            }
            chunk.arrived[rank] = true;
            chunk.arrivedCount++;
            if (nonFiniteValues != 0) {
                onNonFinite.accept(nonFiniteValues);
            }
            if (everyLiveWorkerArrived(chunk)) {
                issueQueuedUpdates(); // a queued gradient of this step may yet be refused
                if (everyLiveWorkerArrived(chunk)) {
                    completeStep(chunk);
                }
            }
        }
        if (thenPull && queuedUpdates != null) {
            // The pull may wait for the step: whether this push was refused must be known first.
            issueQueuedUpdates();
            RuntimeException failure = failedUpdates.remove(current);
            if (failure != null) {
                throw failure;
            }
        }
        if (chunk.version > h.step()) {
            counters.recordUpdate(chunk.length, updateClock() - start);
            wakeParked(chunk);
        }
        answerPushed(ch, requestId, chunk, h, thenPull);
    }

    /** Whether every live worker's gradient for the chunk's current step is in. */
    private boolean everyLiveWorkerArrived(ChunkState chunk) {
        if (chunk.arrivedCount == 0) {
            return false;
        }
        for (int r = 0; r < chunk.arrived.length; r++) {
            if (!chunk.arrived[r] && liveness.alive(r)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The step's update with the mean of the gradients that arrived (every worker's, unless some were
     * dropped); the chunk starts collecting the next step.
     */
    private void completeStep(ChunkState chunk) {
        issueQueuedUpdates();
        int contributions = chunk.arrivedCount - chunk.emptyArrivals;
        if (contributions > 0) {
            device.applyOptimizer(chunk.tensor.spec.optimizer(), chunk.param, chunk.accumulator, chunk.slots,
                    chunk.length, chunk.version + 1, 1f / contributions);
        }
        device.fill(chunk.accumulator, 0f, chunk.length);
        java.util.Arrays.fill(chunk.arrived, false);
        chunk.arrivedCount = 0;
        chunk.emptyArrivals = 0;
        chunk.version++;
        if (checkpoints != null) {
            checkpoints.afterUpdate(chunk);
        }
    }

    /**
     * Between tasks, at most every 100 ms: logs stalled pulls (at most once a minute) and drops workers silent
     * past the timeout. Under bsp, steps that waited only for them complete with the gradients that arrived
     * (averaged over those); under ssp, pulls that waited only for them are answered.
     */
    private void checkLiveness() {
        long now = System.nanoTime();
        if (now < nextLivenessCheck) {
            return;
        }
        nextLivenessCheck = now + 100_000_000L;
        policy.reportStalls();
        int[] dropped = liveness.expire();
        if (dropped.length == 0) {
            return;
        }
        for (int r : dropped) {
            counters.workersDropped++;
            log.warn("worker {} silent for {} s (worker timeout {} ms): dropped; {} live worker(s) carry on",
                    r, String.format("%.1f", liveness.silentSeconds(r)), config.workerTimeoutMillis(), liveness.live());
        }
        if (bsp) {
            for (TensorState t : byId) {
                for (ChunkState c : t.chunks.values()) {
                    if (everyLiveWorkerArrived(c)) {
                        long start = updateClock();
                        completeStep(c);
                        counters.recordUpdate(c.length, updateClock() - start);
                        wakeParked(c);
                    }
                }
            }
        }
        policy.workersDropped();
    }

    /** A request from {@code rank}, seen on the agent thread: a dropped worker that speaks again is back. */
    void workerSpoke(int rank) {
        if (rank >= 0 && liveness.revive(rank)) {
            counters.workersRejoined++;
            policy.workerRejoined(rank);
            log.info("worker {} is back: it rejoins at the current {}", rank,
                    bsp ? "version" : "clock, " + policy.slowestClock());
        }
    }

    /** The chunk's version moved: the pulls it now satisfies are answered. */
    private void wakeParked(ChunkState chunk) {
        policy.versionMoved(chunk);
    }

    private void answerPushed(Channel ch, long requestId, ChunkState chunk, Messages.PushHeader h, boolean thenPull) {
        if (thenPull) {
            pullAt(ch, requestId, chunk, h.step() + 1, h.pullDtype());
        } else {
            send(ch, requestId, Frames.empty(ch.alloc(), Opcode.OK, requestId));
        }
    }

    void pull(Channel ch, long requestId, int rank, Messages.Pull p) {
        workerSpoke(rank);
        try {
            ChunkState chunk = chunk(p.tensorId(), p.chunk(), "PULL");
            counters.pulls++;
            pullAt(ch, requestId, chunk, p.clock(), p.dtype());
        } catch (ProtocolException e) {
            error(ch, requestId, e);
        } catch (RuntimeException e) {
            internal(ch, requestId, e);
        }
    }

    private void pullAt(Channel ch, long requestId, ChunkState chunk, long clock, int dtype) {
        policy.pull(ch, requestId, rankOf(ch), chunk, clock, dtype);
    }

    /** The rank the connection said HELLO with (-1: not a worker). Sessions are set once, before any request. */
    private static int rankOf(Channel ch) {
        Session session = Session.of(ch);
        return session == null ? -1 : session.rank;
    }

    /** A pull answered now or woken: the chunk's parameters, or the error if sending them fails. */
    private void answerPull(Channel ch, long requestId, ChunkState chunk, int dtype) {
        try {
            sendParameters(ch, requestId, chunk, dtype);
        } catch (RuntimeException e) {
            internal(ch, requestId, e);
        }
    }

    void clock(Channel ch, long requestId, int rank, Messages.Clock c) {
        if (rank < 0) {
            error(ch, requestId, new ProtocolException(ErrorCode.BAD_ARGUMENT,
                    "CLOCK needs a worker rank; this connection said HELLO with rank -1"));
            return;
        }
        workerSpoke(rank);
        send(ch, requestId, Frames.empty(ch.alloc(), Opcode.OK, requestId));
        policy.clock(rank, c.clock());
    }

    void checkpoint(Channel ch, long requestId, Messages.Checkpoint request) {
        if (checkpoints == null) {
            error(ch, requestId, new ProtocolException(ErrorCode.BAD_ARGUMENT,
                    "shard " + config.shard() + " has no --checkpoint-dir: it cannot write checkpoints"));
            return;
        }
        checkpoints.request(ch, requestId, request);
    }

    void stats(Channel ch, long requestId) {
        String json = counters.toJson(config, byId.size(),
                byId.stream().mapToInt(t -> t.chunks.size()).sum(), queueDepth.get(), policy.slowestClock());
        send(ch, requestId, Frames.encode(ch.alloc(), Opcode.DATA, requestId, new Messages.Text(json)));
    }

    /** Forgets the parked pulls of a closed connection. */
    void connectionClosed(Channel ch) {
        policy.connectionClosed(ch);
    }

    /** Pulls parked now (agent thread). */
    int parkedPulls() {
        return policy.parkedPulls();
    }

    private ChunkState chunk(int tensorId, int chunkIndex, String what) {
        if (tensorId < 0 || tensorId >= byId.size()) {
            throw new ProtocolException(ErrorCode.UNKNOWN_TENSOR, what + ": no tensor with id " + tensorId
                    + " on shard " + config.shard() + " (" + byId.size() + " registered)");
        }
        TensorState t = byId.get(tensorId);
        ChunkState c = t.chunks.get(chunkIndex);
        if (c == null) {
            throw new ProtocolException(ErrorCode.BAD_CHUNK, what + " to '" + t.spec.name() + "': chunk " + chunkIndex
                    + " is not held by shard " + config.shard() + " (the tensor has " + t.layout.chunks() + " chunk(s))");
        }
        return c;
    }

    private void sendParameters(Channel ch, long requestId, ChunkState chunk, int dtype) {
        issueQueuedUpdates();
        int bytes = Messages.dtypeBytes(dtype, chunk.length);
        int payload = Messages.PullReplyHeader.LENGTH + bytes;
        ByteBuf out = ch.alloc().directBuffer(Frame.HEADER_LENGTH + payload);
        try {
            Frames.writeHeader(out, Opcode.DATA, requestId, payload);
            new Messages.PullReplyHeader(chunk.version, chunk.length, dtype).writeTo(out);
            ByteBuffer values = out.nioBuffer(out.writerIndex(), bytes).order(ByteOrder.LITTLE_ENDIAN);
            if (dtype == Messages.DTYPE_BF16) {
                device.encode(Codec.BF16, chunk.param, null, 0, chunk.length, 0, values);
            } else {
                device.download(chunk.param, 0, chunk.length, values);
            }
            out.writerIndex(out.writerIndex() + bytes);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
        counters.bytesPulled += bytes;
        send(ch, requestId, out);
    }

    private interface Answer {
        ByteBuf build();
    }

    private void answer(Channel ch, long requestId, Answer answer) {
        try {
            send(ch, requestId, answer.build());
        } catch (ProtocolException e) {
            error(ch, requestId, e);
        } catch (RuntimeException e) {
            internal(ch, requestId, e);
        }
    }

    /** Sends an answer now, or, while a batch runs, when the batch is done (in the order made). */
    private void send(Channel ch, long requestId, ByteBuf frame) {
        if (heldAnswers != null) {
            heldAnswers.add(new HeldAnswer(ch, requestId, frame));
        } else {
            ch.writeAndFlush(frame);
        }
    }

    private void error(Channel ch, long requestId, ProtocolException e) {
        counters.errors++;
        send(ch, requestId, Frames.error(ch.alloc(), requestId, e.code(), e.getMessage()));
    }

    private void internal(Channel ch, long requestId, RuntimeException e) {
        if (!(e instanceof DeviceOutOfMemoryException)) {
            log.warn("request {} from {} failed", requestId, ch.remoteAddress(), e);
        }
        send(ch, requestId, errorFrame(ch, requestId, e));
    }

    /**
     * The ERROR answer for a request that failed with {@code e}, counted: a device out of memory is the request's
     * OUT_OF_MEMORY (it asked for more device memory than there is: its error, not the shard's); anything else is
     * INTERNAL.
     */
    private ByteBuf errorFrame(Channel ch, long requestId, RuntimeException e) {
        counters.errors++;
        if (e instanceof ProtocolException refused) {
            return Frames.error(ch.alloc(), requestId, refused.code(), refused.getMessage());
        }
        if (e instanceof DeviceOutOfMemoryException oom) {
            return Frames.error(ch.alloc(), requestId, ErrorCode.OUT_OF_MEMORY, oom.getMessage());
        }
        return Frames.error(ch.alloc(), requestId, ErrorCode.INTERNAL, e.getClass().getSimpleName() + ": " + e.getMessage());
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
        for (TensorState t : byId) {
            t.chunks.values().forEach(ChunkState::close);
        }
        byId.clear();
        byName.clear();
    }
}
