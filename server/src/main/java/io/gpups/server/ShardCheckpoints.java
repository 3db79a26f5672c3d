package io.gpups.server;

import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.protocol.ProtocolException;
import io.gpups.server.checkpoint.CheckpointCatalog;
import io.gpups.server.checkpoint.CheckpointRestore;
import io.gpups.server.checkpoint.CheckpointSettings;
import io.gpups.server.checkpoint.CheckpointWriter;
import io.gpups.server.checkpoint.Manifest;
import io.gpups.server.checkpoint.ShardSnapshot;
import io.gpups.server.checkpoint.StaleCheckpointFiles;
import io.netty.channel.Channel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A shard's checkpoints: restores registered chunks and tables from a checkpoint, and writes checkpoints on request
 * (CHECKPOINT), on schedule ({@code --checkpoint-every}) and at shutdown. Snapshots are taken on the agent
 * thread, which owns the chunks and tables, so each is consistent (device buffers are copied to host arrays there);
 * the files are written by a separate writer thread while the agent keeps serving. Methods marked "agent
 * thread" must be called there; the timer and the shutdown reach that thread through the executor given to
 * {@link #start}, so this class knows the agent by nothing else.
 */
final class ShardCheckpoints implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ShardCheckpoints.class);
    private static final DateTimeFormatter TIME_LABEL =
            DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);
    /** Scheduled snapshots waiting for the writer beyond which a scheduled one is skipped (host memory). */
    private static final int MAX_PENDING_SCHEDULED = 2;

    private final ShardConfig config;
    private final CheckpointSettings settings;
    private final ShardDevice device;
    private final ShardTensors tensors;
    private final ShardTables tables;
    private final TableCheckpoints tableCheckpoints;
    private final ShardCounters counters;
    /** Runs a task on the agent thread; set by {@link #start}. */
    private volatile Executor agentThread;
    private final CheckpointRestore restore;
    private final CheckpointWriter writer;
    private final ExecutorService writerThread;
    private final ScheduledExecutorService timer;
    private final AtomicInteger pending = new AtomicInteger();
    /** Agent thread: the last step a step-scheduled checkpoint was taken at. */
    private long lastStep;
    /** What the last checkpoint written holds ({@link #signature}) and where; null before the first. */
    private volatile String lastWritten;
    private volatile Path lastWrittenDirectory;

    /** Finds the checkpoint to restore from (failing when checkpoints exist but none is complete). */
    ShardCheckpoints(ShardConfig config, CheckpointSettings settings, ShardDevice device, ShardTensors tensors,
                     ShardTables tables, ShardCounters counters) {
        this.config = config;
        this.settings = settings;
        this.device = device;
        this.tensors = tensors;
        this.tables = tables;
        this.tableCheckpoints = new TableCheckpoints(config);
        this.counters = counters;
        if (settings.writes()) {
            StaleCheckpointFiles.sweep(settings.directory(), config.shard(), System.currentTimeMillis(), log);
        }
        this.restore = settings.restore() == null ? null : findRestore(settings.restore());
        this.writer = settings.writes() ? new CheckpointWriter(settings.directory(), settings.keep()) : null;
        this.writerThread = settings.writes() ? Executors.newSingleThreadExecutor(r -> daemon(r, "checkpoint-writer")) : null;
        this.timer = settings.every() != null && !settings.every().bySteps()
                ? Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "checkpoint-timer")) : null;
    }

    private Thread daemon(Runnable r, String what) {
        Thread t = new Thread(r, "gpups-shard-" + config.shard() + "-" + what);
        t.setDaemon(true);
        return t;
    }

    private CheckpointRestore findRestore(Path dir) {
        try {
            CheckpointCatalog.Found found = java.nio.file.Files.isDirectory(dir) ? CheckpointCatalog.newestComplete(dir, log) : null;
            if (found == null) {
                String what = CheckpointCatalog.describeAbsent(dir);
                if (!settings.restoreIfPresent()) {
                    throw new IllegalArgumentException("--restore " + dir + ": no checkpoint to restore (" + what + "); "
                            + "starting from the initializers would reset this shard's parameters. Give the directory "
                            + "that holds the job's ckpt-* directories, or add --restore-if-present to start empty");
                }
                log.warn("--restore {}: no checkpoint there yet ({}); --restore-if-present: chunks start from their initializers",
                        dir, what);
                return null;
            }
            Manifest m = found.manifest();
            log.info("restoring from checkpoint {} ({} shard(s), {}, {} tensor(s), {} table(s)); chunks and tables are filled"
                    + " as clients register them", found.directory(), m.shards(), m.consistency(), m.tensors().size(),
                    m.tables().size());
            if (!m.consistency().equals(config.consistency().toString())) {
                log.warn("checkpoint {} was written under {}, this shard runs {}", found.name(), m.consistency(), config.consistency());
            }
            return new CheckpointRestore(found);
        } catch (IOException e) {
            throw new IllegalArgumentException("--restore " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Starts the timer of time-scheduled checkpoints (at multiples of the period in wall-clock time); they, and the
     * checkpoint at shutdown, are taken on the agent thread, which {@code agentThread} runs tasks on.
     */
    void start(Executor agentThread) {
        this.agentThread = agentThread;
        if (timer == null) {
            return;
        }
        long period = settings.every().period().toMillis();
        long now = System.currentTimeMillis();
        timer.scheduleAtFixedRate(() -> {
            // Shards of one job with synchronized clocks pick the same boundary, so the same directory.
            long boundary = Math.round((double) System.currentTimeMillis() / period) * period;
            String label = "time-" + TIME_LABEL.format(Instant.ofEpochMilli(boundary));
            agentThread.execute(() -> scheduled(label));
        }, period - now % period, period, TimeUnit.MILLISECONDS);
        log.info("checkpoints every {} into {}", settings.every(), settings.directory());
    }

    // ---- restore (agent thread) ---------------------------------------------------------------------------

    /** Fills a newly registered tensor's chunks from the checkpoint, when it holds the tensor. */
    void restore(TensorState t) {
        if (restore == null) {
            return;
        }
        String name = t.spec.name();
        String problem = restore.incompatibility(t.spec, t.layout.chunkElements());
        if (problem != null) {
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "REGISTER '" + name + "' cannot be restored from checkpoint "
                    + restore.directory() + ": " + problem);
        }
        Manifest.TensorEntry entry = restore.tensor(name);
        if (entry == null) {
            log.warn("tensor '{}' is not in checkpoint {}: its chunks start from the initializer", name, restore.directory().getFileName());
            return;
        }
        Manifest.OptimizerEntry now = Manifest.OptimizerEntry.of(t.spec.optimizer());
        if (!entry.optimizer().hyperParameters().equals(now.hyperParameters())) {
            log.info("tensor '{}': optimizer hyper-parameters changed since checkpoint {}: {} -> {}", name,
                    restore.directory().getFileName(), entry.optimizer().hyperParameters(), now.hyperParameters());
        }
        long min = Long.MAX_VALUE;
        long max = Long.MIN_VALUE;
        for (ChunkState c : t.chunks.values()) {
            CheckpointRestore.Chunk r;
            try {
                r = restore.read(name, t.layout, c.index);
            } catch (IOException e) {
                throw new ProtocolException(ErrorCode.INTERNAL, "REGISTER '" + name + "': cannot read chunk " + c.index
                        + " from checkpoint " + restore.directory() + ": " + e.getMessage());
            }
            device.upload(r.param(), 0, c.param, 0, c.length);
            for (int k = 0; k < c.slots.length; k++) {
                device.upload(r.slots()[k], 0, c.slots[k], 0, c.length);
            }
            c.version = r.version();
            min = Math.min(min, r.version());
            max = Math.max(max, r.version());
        }
        log.info("restored '{}' ({} chunk(s) here, version {}{}) from checkpoint {}", name, t.chunks.size(), min,
                max == min ? "" : ".." + max, restore.directory().getFileName());
    }

    /** Fills a newly registered table with its rows of the checkpoint, when it holds the table ({@link TableCheckpoints#restore}). */
    void restore(ShardTables.TableState t) {
        if (restore != null) {
            tableCheckpoints.restore(t, restore);
        }
    }

    // ---- writing (agent thread) ---------------------------------------------------------------------------

    /** True when the shard holds no tensor and no table: nothing to checkpoint. */
    private boolean holdsNothing() {
        return tensors.all().isEmpty() && tables.all().isEmpty();
    }

    /** After an update of {@code chunk}: a step-scheduled checkpoint when every chunk reached a multiple of N. */
    void afterUpdate(ChunkState chunk) {
        if (settings.every() == null || !settings.every().bySteps()) {
            return;
        }
        long v = chunk.version;
        if (v % settings.every().steps() != 0 || v <= lastStep) {
            return;
        }
        for (TensorState t : tensors.all()) {
            for (ChunkState c : t.chunks.values()) {
                if (c.version < v) {
                    return;
                }
            }
        }
        lastStep = v;
        scheduled("step-" + String.format("%012d", v));
    }

    private void scheduled(String label) {
        if (holdsNothing()) {
            return;
        }
        if (pending.get() >= MAX_PENDING_SCHEDULED) {
            log.warn("checkpoint {} skipped: {} earlier checkpoint(s) still being written", label, pending.get());
            return;
        }
        write(snapshot(label)).exceptionally(e -> null);
    }

    /** CHECKPOINT: snapshot now, answer once this shard's files are durable. */
    void request(Channel ch, long requestId, Messages.Checkpoint req) {
        if (writer == null) {
            reply(ch, Frames.error(ch.alloc(), requestId, ErrorCode.BAD_ARGUMENT,
                    "shard " + config.shard() + " has no --checkpoint-dir: it cannot write checkpoints"));
            return;
        }
        if (holdsNothing()) {
            reply(ch, Frames.error(ch.alloc(), requestId, ErrorCode.BAD_ARGUMENT, "shard " + config.shard()
                    + " holds no tensors and no tables (none registered since it started): nothing to checkpoint"));
            return;
        }
        ShardSnapshot s = snapshot(req.name().isEmpty() ? null : req.name());
        write(s).whenComplete((r, e) -> {
            if (e != null) {
                Throwable cause = e instanceof java.util.concurrent.CompletionException && e.getCause() != null ? e.getCause() : e;
                reply(ch, Frames.error(ch.alloc(), requestId, ErrorCode.INTERNAL, "checkpoint " + s.directoryName()
                        + " failed on shard " + config.shard() + ": " + cause));
            } else {
                int flags = (r.written() ? Messages.CheckpointReply.WRITTEN : 0)
                        | (r.setComplete() ? Messages.CheckpointReply.SET_COMPLETE : 0);
                reply(ch, Frames.encode(ch.alloc(), Opcode.OK, requestId, new Messages.CheckpointReply(
                        r.minVersion(), r.chunks(), flags, r.bytes(), r.directory().getFileName().toString())));
            }
        });
    }

    private static void reply(Channel ch, io.netty.buffer.ByteBuf frame) {
        ch.writeAndFlush(frame);
    }

    /**
     * Copies every chunk and every table's rows to the host ({@link TableCheckpoints#snapshot} says what a table's
     * copy costs); {@code label} null names it by the smallest chunk version.
     */
    private ShardSnapshot snapshot(String label) {
        List<ShardSnapshot.TensorSnapshot> snapshots = new ArrayList<>();
        for (TensorState t : tensors.all()) {
            List<ShardSnapshot.ChunkSnapshot> chunks = new ArrayList<>();
            for (int index : t.chunks.keySet().stream().sorted().toList()) {
                ChunkState c = t.chunks.get(index);
                float[] param = new float[c.length];
                device.download(c.param, 0, param, 0, c.length);
                float[][] slots = new float[c.slots.length][];
                for (int k = 0; k < slots.length; k++) {
                    slots[k] = new float[c.length];
                    device.download(c.slots[k], 0, slots[k], 0, c.length);
                }
                chunks.add(new ShardSnapshot.ChunkSnapshot(c.index, c.offset, c.length, c.version, param, slots));
            }
            snapshots.add(new ShardSnapshot.TensorSnapshot(t.spec, t.layout.chunkElements(), t.layout.chunks(), chunks));
        }
        List<ShardSnapshot.TableSnapshot> tableSnapshots = new ArrayList<>();
        for (ShardTables.TableState t : tables.all()) {
            tableSnapshots.add(tableCheckpoints.snapshot(t));
        }
        String name = label != null ? label : "step-" + String.format("%012d", ShardSnapshot.minVersion(snapshots));
        return new ShardSnapshot(name, config.shard(), config.shards(), config.workers(), config.consistency(),
                System.currentTimeMillis(), snapshots, tableSnapshots);
    }

    /** What a write did, once the files read back as a restore would read them. */
    private record Written(Path directory, boolean written, long bytes, int chunks, long minVersion, boolean setComplete) {
    }

    /**
     * Writes {@code s} on the writer thread and re-reads it ({@link CheckpointCatalog#verifyWritten}): a write
     * whose files do not check out fails with what is missing, like a write that failed. A failure is counted
     * ({@code checkpoint_failures}) and what it left (its empty directory, this shard's temporary files) removed.
     */
    private CompletableFuture<Written> write(ShardSnapshot s) {
        pending.incrementAndGet();
        Path protect = restore == null ? null : restore.directory();
        return CompletableFuture.supplyAsync(() -> {
            try {
                long start = System.nanoTime();
                CheckpointWriter.Result w = writer.write(s, java.util.function.UnaryOperator.identity(), protect);
                CheckpointCatalog.Verified verified = CheckpointCatalog.verifyWritten(w.directory(), config.shard());
                if (verified.problem() != null) {
                    throw new IOException("checkpoint " + w.directory().getFileName() + " was written but cannot be "
                            + "restored: " + verified.problem());
                }
                Written r = new Written(w.directory(), w.written(), w.bytes(), w.chunks(), w.minVersion(), verified.setComplete());
                lastWritten = signature(s);
                lastWrittenDirectory = r.directory();
                if (r.written()) {
                    log.info("shard {} wrote checkpoint {} ({} chunk(s), {} bytes, min version {}) in {} ms", config.shard(),
                            r.directory(), r.chunks(), r.bytes(), r.minVersion(), (System.nanoTime() - start) / 1_000_000);
                }
                return r;
            } catch (IOException | RuntimeException e) {
                counters.checkpointFailures.incrementAndGet();
                log.error("shard {}: checkpoint {} failed: {}", config.shard(), s.directoryName(), e.toString());
                StaleCheckpointFiles.afterFailedWrite(settings.directory(), s.directoryName(), config.shard(), log);
                throw new java.util.concurrent.CompletionException(e);
            } finally {
                pending.decrementAndGet();
            }
        }, writerThread);
    }

    /**
     * Waits until every write queued so far has finished and its answer was sent (the writer runs one write at a
     * time, in order, answering as it finishes): for tests below the socket, which run the agent on their thread.
     */
    void awaitWrites() throws InterruptedException, java.util.concurrent.ExecutionException {
        if (writerThread != null) {
            writerThread.submit(() -> { }).get();
        }
    }

    // ---- shutdown (any thread but the agent) --------------------------------------------------------------

    /** Takes and writes a final checkpoint, when a directory is set and the shard holds tensors; waits for it. */
    void checkpointAtShutdown() {
        Executor agent = agentThread;
        if (writer == null || agent == null) {
            return;
        }
        CompletableFuture<Written> done = new CompletableFuture<>();
        agent.execute(() -> {
            try {
                if (holdsNothing()) {
                    done.complete(null);
                } else if (pending.get() == 0 && signature(tensors.all(), tables.all()).equals(lastWritten)) {
                    log.info("shard {}: nothing changed since checkpoint {}, none written at shutdown", config.shard(),
                            lastWrittenDirectory);
                    done.complete(null);
                } else {
                    write(snapshot(null)).whenComplete((r, e) -> {
                        if (e != null) {
                            done.completeExceptionally(e);
                        } else {
                            done.complete(r);
                        }
                    });
                }
            } catch (RuntimeException e) {
                done.completeExceptionally(e);
            }
        });
        try {
            Written r = done.get(10, TimeUnit.MINUTES);
            if (r != null) {
                log.info("shard {}: checkpoint at shutdown: {}", config.shard(), r.directory());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            log.error("shard {}: checkpoint at shutdown failed: {}", config.shard(), e.getCause() != null ? e.getCause() : e);
        }
    }

    /**
     * Tensors, chunks and the sum of their versions, tables and the sum of their clocks: versions and clocks only
     * grow, so equal means unchanged.
     */
    private static String signature(List<TensorState> tensors, List<ShardTables.TableState> tables) {
        long chunks = 0;
        long versions = 0;
        for (TensorState t : tensors) {
            for (ChunkState c : t.chunks.values()) {
                chunks++;
                versions += c.version;
            }
        }
        long clocks = 0;
        for (ShardTables.TableState t : tables) {
            clocks += t.clock;
        }
        return tensors.size() + "/" + chunks + "/" + versions + "/" + tables.size() + "/" + clocks;
    }

    private static String signature(ShardSnapshot s) {
        long versions = 0;
        for (ShardSnapshot.TensorSnapshot t : s.tensors()) {
            for (ShardSnapshot.ChunkSnapshot c : t.chunks()) {
                versions += c.version();
            }
        }
        long clocks = 0;
        for (ShardSnapshot.TableSnapshot t : s.tables()) {
            clocks += t.clock();
        }
        return s.tensors().size() + "/" + s.chunkCount() + "/" + versions + "/" + s.tables().size() + "/" + clocks;
    }

    @Override
    public void close() {
        if (timer != null) {
            timer.shutdownNow();
        }
        if (writerThread != null) {
            writerThread.shutdown();
            try {
                if (!writerThread.awaitTermination(2, TimeUnit.MINUTES)) {
                    log.warn("shard {}: a checkpoint write did not finish within 2 minutes", config.shard());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
