package io.gpups.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gpups.worker.client.PsClient;
import io.gpups.worker.train.StepHold;
import org.slf4j.Logger;

import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A worker's part in a {@code gpups local --chaos ...@Nsteps} plan, which {@code local} gives the first
 * process of a rank as {@code worker --chaos-hold STEP:UNTIL}: before global step STEP ({@code last}: the
 * job's last step) the worker waits until UNTIL has happened. The holds put a chaos run's events in one order
 * on any machine, fast or loaded:
 * <pre>
 * N:killed        kill-worker, its victim: it stops before step N, so the shards have applied exactly N steps
 *                 when it is killed (the kill is what ends this hold)
 * last:rejoined   kill-worker, every other worker: it trains on alone, but before the job's last step it waits
 *                 until every shard has counted a worker rejoining, so the restarted worker always rejoins
 *                 with a step left to train (the shards wait for the rejoined rank from then on)
 * N:shard-lost    kill-shard and kill-shard-fresh, every worker: it stops before step N until a STATS request
 *                 fails because a shard's connection was lost; the trainer then reconnects as after any lost shard
 * </pre>
 * A hold holds once per process. It asks the shards every {@value #POLL_MILLIS} ms (STATS, which also keeps the
 * worker live on them), and after {@value #LIMIT_SECONDS} s it gives up with a warning and goes on: a plan whose
 * other half failed (the chaos thread could not restart the worker) then ends the job instead of stalling it.
 * A worker without the option gets {@link StepHold#NONE}.
 */
record ChaosHold(long step, Until until) {

    enum Until { KILLED, REJOINED, SHARD_LOST }

    /** {@link #step} of a hold before the job's last step. */
    static final long LAST = -1;

    static final long POLL_MILLIS = 50;

    /** Longer than the chaos thread takes on a loaded machine: the drop (timeout + 30 s) and the restart (120 s). */
    static final long LIMIT_SECONDS = 300;

    private static final Pattern FORM = Pattern.compile("(\\d{1,18}|last):(killed|rejoined|shard-lost)");
    private static final ObjectMapper JSON = new ObjectMapper();

    static ChaosHold parse(String text) {
        Matcher m = FORM.matcher(text.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("--chaos-hold '" + text + "': expected STEP:UNTIL, STEP a step or 'last', "
                    + "UNTIL killed, rejoined or shard-lost");
        }
        long step = m.group(1).equals("last") ? LAST : Long.parseLong(m.group(1));
        return new ChaosHold(step, Until.valueOf(m.group(2).replace('-', '_').toUpperCase(Locale.ROOT)));
    }

    /** The worker arguments that give a process this hold. */
    List<String> asArgs() {
        return List.of("--chaos-hold", (step == LAST ? "last" : "" + step) + ":"
                + until.name().replace('_', '-').toLowerCase(Locale.ROOT));
    }

    /** The hold for a worker's trainer, asking the shards through {@code client}. */
    StepHold on(PsClient client, Logger log) {
        return new StepHold() {
            private boolean held;

            @Override
            public void beforeStep(long now, long lastStep) {
                long at = step == LAST ? lastStep : step;
                if (held || now != at) {
                    return;
                }
                held = true;
                log.info("chaos: holding before step {} until {}", at, waitingFor());
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(LIMIT_SECONDS);
                while (!happened(client)) {
                    if (System.nanoTime() > deadline) {
                        log.warn("chaos: gave up holding before step {} after {} s ({} did not happen); going on", at,
                                LIMIT_SECONDS, waitingFor());
                        return;
                    }
                    try {
                        Thread.sleep(POLL_MILLIS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
                log.info("chaos: {}; going on at step {}", waitingFor(), at);
            }
        };
    }

    private String waitingFor() {
        return switch (until) {
            case KILLED -> "this worker is killed";
            case REJOINED -> "every shard has counted a worker rejoining";
            case SHARD_LOST -> "a shard's connection is lost";
        };
    }

    /**
     * Whether what the hold waits for has happened. A lost shard fails the STATS request, and that failure goes
     * up to the trainer, which reconnects.
     */
    private boolean happened(PsClient client) {
        if (until == Until.KILLED) {
            return false;
        }
        List<String> stats = client.stats().join();
        if (until == Until.SHARD_LOST) {
            return false;
        }
        for (String text : stats) {
            try {
                JsonNode shard = JSON.readTree(text);
                if (shard.path("workers_rejoined").asLong() < 1) {
                    return false;
                }
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalStateException("a shard's STATS is not JSON: " + text, e);
            }
        }
        return true;
    }
}
