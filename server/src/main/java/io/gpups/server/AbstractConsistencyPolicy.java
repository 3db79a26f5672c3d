package io.gpups.server;

import io.netty.channel.Channel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.function.LongSupplier;

/**
 * What every mode shares: the workers' clocks (the slowest live one bounds ssp pulls, and asp measures staleness
 * against it), the parked pulls and their limits, and the log line for pulls that stall. Agent thread only.
 */
abstract class AbstractConsistencyPolicy implements ConsistencyPolicy {

    private static final Logger log = LoggerFactory.getLogger(ConsistencyPolicy.class);

    /** A pull parked this long with no parked pull answered meanwhile is a stall worth a log line; also the gap between lines. */
    static final long STALL_LOG_NANOS = 60_000_000_000L;

    protected final WorkerLiveness liveness;
    protected final ShardCounters counters;
    protected final ParkedPulls parked;
    protected final LongSupplier nanoTime;
    private final PullAnswer answer;
    /** The clock each worker reported (CLOCK): it finished every step below it. */
    private final long[] workerClock;
    /** Since when parked pulls have waited with none answered; meaningful while some are parked. */
    private long stalledSince;
    private long nextStallLog;

    AbstractConsistencyPolicy(WorkerLiveness liveness, ShardCounters counters, PullAnswer answer, LongSupplier nanoTime) {
        this.liveness = liveness;
        this.counters = counters;
        this.answer = answer;
        this.nanoTime = nanoTime;
        this.parked = new ParkedPulls(counters);
        this.workerClock = new long[liveness.workers()];
        this.nextStallLog = nanoTime.getAsLong();
    }

    @Override
    public void clock(int rank, long clock) {
        long before = slowestClock();
        workerClock[rank] = Math.max(workerClock[rank], clock);
        long after = slowestClock();
        if (after > before) {
            slowestMoved(after);
        }
    }

    /** The slowest live clock rose to {@code slowest}. */
    protected void slowestMoved(long slowest) {
    }

    @Override
    public void workersDropped() {
        slowestMoved(slowestClock());
    }

    @Override
    public void workerRejoined(int rank) {
        long others = Long.MAX_VALUE;
        for (int r = 0; r < workerClock.length; r++) {
            if (r != rank && liveness.alive(r)) {
                others = Math.min(others, workerClock[r]);
            }
        }
        if (others != Long.MAX_VALUE) {
            workerClock[rank] = Math.max(workerClock[rank], others);
        }
    }

    /** Worker {@code rank}'s clock. */
    long workerClock(int rank) {
        return workerClock[rank];
    }

    @Override
    public long slowestClock() {
        long min = Long.MAX_VALUE;
        for (int r = 0; r < workerClock.length; r++) {
            if (liveness.alive(r)) {
                min = Math.min(min, workerClock[r]);
            }
        }
        return min;
    }

    /** Answers a pull now, counting its staleness. */
    protected void answer(Channel ch, long requestId, ChunkState chunk, int dtype, long staleness) {
        counters.recordPullAnswered(staleness);
        answer.send(ch, requestId, chunk, dtype);
    }

    /** Parks a pull in {@code queue} until its value reaches {@code readyAt} (refused beyond the limits). */
    protected void park(ClockQueue queue, long readyAt, Channel ch, long requestId, ChunkState chunk, long clock, int dtype) {
        long now = nanoTime.getAsLong();
        if (parked.size() == 0) {
            stalledSince = now;
        }
        parked.park(queue, readyAt, new ParkedPull(ch, requestId, chunk, clock, dtype, now));
    }

    /** Answers every pull in {@code queue} that {@code reached} satisfies; {@code staleness} gives each one's. */
    protected void wake(ClockQueue queue, long reached, java.util.function.ToLongFunction<ParkedPull> staleness) {
        if (queue.firstReadyAt() > reached) {
            return;
        }
        long now = nanoTime.getAsLong();
        stalledSince = now;
        parked.drainReady(queue, reached, p -> {
            counters.recordWait(now - p.parkedAtNanos());
            answer(p.channel(), p.requestId(), p.chunk(), p.dtype(), staleness.applyAsLong(p));
        });
    }

    @Override
    public void connectionClosed(Channel ch) {
        parked.connectionClosed(ch);
    }

    @Override
    public int parkedPulls() {
        return parked.size();
    }

    @Override
    public void limits(ParkedPulls.Limits limits) {
        parked.limits(limits);
    }

    @Override
    public String reportStalls() {
        if (parked.size() == 0) {
            return null;
        }
        long now = nanoTime.getAsLong();
        if (now - stalledSince < STALL_LOG_NANOS || now - nextStallLog < 0) {
            return null;
        }
        nextStallLog = now + STALL_LOG_NANOS;
        String line = parked.size() + " pull(s) parked, none answered for " + (now - stalledSince) / 1_000_000_000L
                + " s: " + describeStall()
                + (liveness.dropsSilentWorkers() ? ""
                : "; this shard has no --worker-timeout, so it waits for them for ever: restart a worker that died "
                + "with its rank, or run shards with --worker-timeout MS");
        log.warn(line);
        return line;
    }

    /** Whom the parked pulls wait for, for the stall log line; called only while some are parked. */
    protected abstract String describeStall();

    /** Ranks (with their clocks) that are live and behind {@code clock}, e.g. "1 (clock 4), 3 (clock 2)". */
    protected String liveRanksBelow(long clock) {
        StringBuilder b = new StringBuilder();
        for (int r = 0; r < workerClock.length; r++) {
            if (liveness.alive(r) && workerClock[r] < clock) {
                b.append(b.length() == 0 ? "" : ", ").append(r).append(" (clock ").append(workerClock[r]).append(')');
            }
        }
        return b.toString();
    }

    /** a + b for b >= 0, saturating at {@link Long#MAX_VALUE}. */
    static long saturatedAdd(long a, long b) {
        long sum = a + b;
        return sum < a ? Long.MAX_VALUE : sum;
    }
}
