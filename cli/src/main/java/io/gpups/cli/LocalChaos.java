package io.gpups.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gpups.worker.client.PsClient;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * {@code gpups local --chaos}, on its own thread: kills one shard or one worker with SIGKILL mid-training and
 * brings it back, and keeps what happened for the summary.
 * <ul>
 * <li>A shard is restarted on its port with {@code --restore} from the checkpoint directory; the workers
 * reconnect and go on from the restored step. With {@code kill-shard-fresh} it is restarted without
 * {@code --restore}, empty: the workers find it back at its initial values and stop with an error naming it
 * (unless they run with {@code --allow-reset}).</li>
 * <li>A worker is restarted, with the same rank and arguments (less its hold), once every shard has dropped it (after
 * {@code --worker-timeout} of silence); meanwhile the others train without it. The new process joins at the
 * step the shards are collecting (bsp) or at their slowest live clock (asp, ssp), with the parameters of
 * then, and trains the rest of the job from there: the steps it was away for are not made up, and the job
 * ends when every rank has done its last step.</li>
 * </ul>
 * In the Nsteps forms the workers hold at steps ({@link ChaosPlan#hold}): the shards are at step N when the kill
 * comes, and a restarted worker rejoins before the others' last step, however slow the machine.
 * <p>
 * A job's step is read from the shards' STATS: under bsp updates applied over chunks held; under asp and ssp
 * (where every push is an update) the slowest live worker's clock.
 */
final class LocalChaos {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long POLL_MILLIS = 50;

    /** What the chaos thread did; NaN or -1 where it did not get that far. */
    static final class Report {
        volatile double restartSeconds = Double.NaN;
        volatile String failure;
        /** kill-worker: seconds into training when it was killed, and the step the shards were collecting. */
        volatile double killSeconds = Double.NaN;
        volatile long killStep = -1;
        /** kill-worker: seconds from the kill until every shard had dropped it. */
        volatile double dropSeconds = Double.NaN;
        /** kill-worker: the step the restarted worker started at, and the seconds the others trained alone. */
        volatile long rejoinStep = -1;
        volatile double secondsWithout = Double.NaN;

        void putInto(ObjectNode summary, ChaosPlan plan) {
            summary.put("chaos_restart_seconds", restartSeconds);
            if (plan.target() == ChaosPlan.Target.WORKER) {
                summary.put("chaos_kill_seconds", killSeconds);
                summary.put("chaos_kill_step", killStep);
                summary.put("chaos_drop_seconds", dropSeconds);
                summary.put("chaos_rejoin_step", rejoinStep);
                summary.put("chaos_steps_without_worker", rejoinStep >= 0 && killStep >= 0 ? rejoinStep - killStep : -1);
                summary.put("chaos_seconds_without_worker", secondsWithout);
            }
            if (failure != null) {
                summary.put("chaos_failure", failure);
            }
        }
    }

    private final ChaosPlan plan;
    private final List<InetSocketAddress> shards;
    private final PsClient.Options adminOptions;
    private final PrintStream out;
    private final Report report = new Report();

    LocalChaos(ChaosPlan plan, List<InetSocketAddress> shards, PsClient.Options adminOptions, PrintStream out) {
        this.plan = plan;
        this.shards = shards;
        this.adminOptions = adminOptions;
        this.out = out;
    }

    Report report() {
        return report;
    }

    /** Starts the chaos thread (a daemon: a job that ends first leaves it behind). */
    void start(Runnable chaos) {
        Thread monkey = new Thread(chaos, "gpups-chaos");
        monkey.setDaemon(true);
        monkey.start();
    }

    /** Kills the plan's shard and restarts it on its port with {@code restoreArgs.apply(shard)}. */
    void killShard(ChildProcesses children, IntFunction<List<String>> restoreArgs) {
        try {
            try (PsClient admin = PsClient.connect(shards, -1, adminOptions)) {
                awaitTrigger(admin, plan.index());
            }
            ChildProcesses.Child victim = children.child("server-" + plan.index());
            out.printf("chaos: killing shard %d (SIGKILL)%n", plan.index());
            long killed = System.nanoTime();
            victim.process().destroyForcibly();
            victim.process().waitFor();
            CompletableFuture<Integer> port = new CompletableFuture<>();
            ChildProcesses.Child restarted = LocalShards.startShard(children, "server-" + plan.index() + "-restarted",
                    restoreArgs.apply(plan.index()), port);
            restarted.exit().thenAccept(code -> port.completeExceptionally(new CliException("the restarted shard exited with code "
                    + code + "; its log " + restarted.log() + " ends with:\n" + ChildProcesses.tail(restarted, 10))));
            port.get(120, TimeUnit.SECONDS);
            report.restartSeconds = (System.nanoTime() - killed) / 1e9;
            out.printf("chaos: shard %d restarted %s, listening again %.1f s after the kill%n", plan.index(),
                    plan.fresh() ? "without --restore (empty)" : "from its checkpoint", report.restartSeconds);
        } catch (Exception e) {
            report.failure = e.toString();
            out.println("chaos: restarting the shard failed: " + e);
        }
    }

    /**
     * Kills the plan's worker, waits until every shard has dropped it (at most {@code dropWaitMillis}), then
     * starts it again under the same rank and waits until it trains.
     */
    void killWorker(WorkerSlots slots, WorkerSlots.Launcher launcher, long trainStartNanos, long dropWaitMillis) {
        int rank = plan.index();
        boolean killed = false;
        try (PsClient admin = PsClient.connect(shards, -1, adminOptions)) {
            awaitTrigger(admin, 0);
            long[] droppedBefore = counters(admin, "workers_dropped");
            long heldAt = step(admin);
            ChildProcesses.Child victim = slots.killing(rank);
            if (victim == null) {
                throw new CliException("worker " + rank + " had already finished");
            }
            long killedAt = System.nanoTime();
            victim.process().destroyForcibly();
            victim.process().waitFor();
            killed = true;
            // In the Nsteps form the victim waits before step N (ChaosHold) and pushes none of it: the shards are
            // collecting step N until they drop it, and the step read before the kill is exact even when this
            // thread runs late. In the seconds form it is read after the kill: without this worker the shards
            // finish at most the step it had pushed part of, then wait for it until they drop it.
            report.killStep = plan.afterSteps() > 0 ? heldAt : step(admin);
            report.killSeconds = (killedAt - trainStartNanos) / 1e9;
            out.printf("chaos: killed worker %d (SIGKILL) %.1f s into training, at step %d%n", rank, report.killSeconds,
                    report.killStep);

            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(dropWaitMillis);
            while (!allAbove(counters(admin, "workers_dropped"), droppedBefore)) {
                if (System.nanoTime() > deadline) {
                    throw new CliException("not every shard dropped worker " + rank + " within " + dropWaitMillis + " ms");
                }
                Thread.sleep(POLL_MILLIS);
            }
            long droppedAt = System.nanoTime();
            report.dropSeconds = (droppedAt - killedAt) / 1e9;
            out.printf("chaos: every shard dropped worker %d %.1f s after the kill; restarting it%n", rank, report.dropSeconds);

            CompletableFuture<Long> joined = new CompletableFuture<>();
            ChildProcesses.Child restarted = launcher.start(rank, "worker-" + rank + "-restarted", joined::complete);
            slots.restarted(rank, restarted);
            restarted.exit().thenAccept(code -> joined.completeExceptionally(new CliException("the restarted worker exited with "
                    + "code " + code + " before it trained; its log " + restarted.log() + " ends with:\n"
                    + ChildProcesses.tail(restarted, 10))));
            long step = joined.get(120, TimeUnit.SECONDS);
            long rejoinedAt = System.nanoTime();
            report.rejoinStep = step;
            report.restartSeconds = (rejoinedAt - killedAt) / 1e9;
            report.secondsWithout = (rejoinedAt - droppedAt) / 1e9;
            out.printf("chaos: worker %d rejoined at step %d, %.1f s after the kill; the others applied %d step(s) without it "
                    + "in %.1f s%n", rank, step, report.restartSeconds, step - report.killStep, report.secondsWithout);
        } catch (Exception e) {
            report.failure = e.toString();
            out.println("chaos: killing and restarting worker " + rank + " failed: " + e);
            if (killed) {
                slots.restartFailed(rank);
            }
        }
    }

    /** Waits for the plan's moment: its seconds, or until shard {@code shard} has applied its steps. */
    private void awaitTrigger(PsClient admin, int shard) throws Exception {
        if (plan.afterSteps() <= 0) {
            Thread.sleep((long) (plan.afterSeconds() * 1000));
            return;
        }
        while (steps(stats(admin).get(shard)) < plan.afterSteps()) {
            Thread.sleep(POLL_MILLIS);
        }
    }

    /** The job's step as shard 0 sees it: the steps it has applied. */
    private static long step(PsClient admin) throws Exception {
        return steps(stats(admin).get(0));
    }

    private static long steps(JsonNode shard) {
        if (!shard.path("consistency").asText().equals("bsp")) {
            return Math.max(0, shard.path("slowest_clock").asLong());
        }
        long chunks = shard.path("chunks").asLong();
        return chunks > 0 ? shard.path("updates").asLong() / chunks : 0;
    }

    private static long[] counters(PsClient admin, String name) throws Exception {
        List<JsonNode> all = stats(admin);
        long[] values = new long[all.size()];
        for (int s = 0; s < values.length; s++) {
            values[s] = all.get(s).path(name).asLong();
        }
        return values;
    }

    private static boolean allAbove(long[] now, long[] before) {
        for (int s = 0; s < now.length; s++) {
            if (now[s] <= before[s]) {
                return false;
            }
        }
        return true;
    }

    private static List<JsonNode> stats(PsClient admin) throws Exception {
        List<JsonNode> nodes = new ArrayList<>();
        for (String s : admin.stats().get(30, TimeUnit.SECONDS)) {
            nodes.add(JSON.readTree(s));
        }
        return nodes;
    }
}
