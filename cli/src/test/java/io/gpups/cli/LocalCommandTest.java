package io.gpups.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code gpups local} end to end: real shard and worker processes over loopback. */
class LocalCommandTest {

    @Test
    void trainsWithSeparateProcessesAndStopsThemAll(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("summary.json");
        int code = Main.run("local", "--shards", "2", "--workers", "2", "--model", "logreg", "--epochs", "1",
                "--batch", "64", "--json", json.toString(), "--run-dir", dir.resolve("run").toString());
        assertEquals(0, code);
        JsonNode s = new ObjectMapper().readTree(json.toFile());
        assertEquals(1, s.path("epochs").asInt());
        // One epoch of logistic regression: far above chance (0.1) on Fashion-MNIST or the synthetic set.
        assertTrue(s.path("test_accuracy").asDouble() > 0.7, s.toString());
        assertTrue(s.path("samples_per_second").asDouble() > 0, s.toString());
        assertTrue(s.path("pushes").asLong() > 0, s.toString());
        assertTrue(s.path("bytes_pushed").asLong() > 0, s.toString());
        assertTrue(s.path("train_seconds").asDouble() > 0, s.toString());
        // Both shards served: every update applied once per step, and no errors.
        assertEquals(2, s.path("shards").size());
        for (JsonNode shard : s.path("shards")) {
            assertEquals(0, shard.path("errors").asLong(), shard.toString());
            assertTrue(shard.path("updates").asLong() > 0, shard.toString());
        }
        assertEquals(0, ProcessHandle.current().children().filter(ProcessHandle::isAlive).count(),
                "every child process was stopped");
    }

    /** With --device auto the console names each process's device, and here, without a GPU, why CUDA was not used. */
    @Test
    void consoleNamesEveryProcessesDeviceAndWhyCudaWasPassedOver(@TempDir Path dir) throws Exception {
        PrintStream saved = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        int code;
        try {
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            code = Main.run("local", "--shards", "2", "--workers", "2", "--model", "logreg", "--epochs", "1",
                    "--progress", "none", "--device", "auto", "--run-dir", dir.resolve("run").toString());
        } finally {
            System.setOut(saved);
        }
        String console = captured.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, console);
        io.gpups.core.device.DeviceProvider cuda = GpuPlacement.installedCuda();
        String cause = cuda == null ? "no cuda provider" : cuda.unavailabilityCause();
        for (String process : new String[] {"shard 0", "shard 1", "worker 0", "worker 1"}) {
            String line = console.lines().filter(l -> l.startsWith(process + ": device ")).findFirst().orElse(null);
            assertTrue(line != null, "no device line for " + process + " in:\n" + console);
            if (cause != null) {
                assertTrue(line.startsWith(process + ": device cpu (device auto: cuda unavailable (" + cause + ")"), line);
            } else {
                assertTrue(line.matches(process + ": device cuda:\\d+ \\(.+\\)"), line);
            }
        }
    }

    /**
     * A worker whose loss turns NaN (sgd at lr 1e30 overflows the MLP's activations within a step or two) stops with
     * exit code 3, and {@code local} says which rank failed and shows the line naming its step, epoch and loss.
     */
    @Test
    void aWorkerWithANonFiniteLossStopsTheJobNamingItsRankAndStep(@TempDir Path dir) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream old = System.out;
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.run("local", "--shards", "1", "--workers", "2", "--model", "mlp:256,128", "--optimizer", "sgd",
                    "--lr", "1e30", "--epochs", "1", "--progress", "none", "--run-dir", dir.resolve("run").toString());
        } finally {
            System.setOut(old);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertTrue(code != 0, out);
        java.util.regex.Matcher failed = java.util.regex.Pattern.compile("worker-(\\d) failed \\(exit code 3\\)").matcher(out);
        assertTrue(failed.find(), out);
        assertTrue(java.util.regex.Pattern.compile("worker " + failed.group(1) + ": training loss (NaN|-?Infinity) at step \\d+ "
                + "\\(epoch 0, batch \\d+ of \\d+\\)").matcher(out).find(), out);
        assertEquals(0, ProcessHandle.current().children().filter(ProcessHandle::isAlive).count(),
                "every child process was stopped");
    }

    /**
     * The job the kill tests run: 6 epochs of logistic regression (2,808 steps of batch 64 per worker on
     * Fashion-MNIST, 558 on the synthetic set), 2 shards, 2 workers, bsp. The @Nsteps plans hold the workers
     * at steps (ChaosHold), so each test's order of events is the same however fast the machine: the kill at
     * step N, and a killed worker back before the other's last step.
     */
    private static final String[] KILL_JOB = {"local", "--shards", "2", "--workers", "2", "--model", "logreg", "--epochs", "6",
            "--progress", "none"};

    @TempDir
    static Path shared;

    private static JsonNode undisturbed;

    /** The summary of {@link #KILL_JOB} with nothing killed, run once for the class (it is deterministic). */
    private static synchronized JsonNode undisturbed() throws Exception {
        if (undisturbed == null) {
            Path plain = shared.resolve("plain.json");
            assertEquals(0, Main.run(concat(KILL_JOB, "--json", plain.toString(), "--run-dir", shared.resolve("plain-run").toString())));
            undisturbed = new ObjectMapper().readTree(plain.toFile());
        }
        return undisturbed;
    }

    /**
     * The kill test: shard 1 is killed with SIGKILL mid-training and restarted from its newest checkpoint; the
     * workers reconnect, replay from the restored step, and training ends within a point of an undisturbed
     * run. The shard that kept running applied every step exactly once: replayed pushes are duplicates.
     */
    @Test
    void aKilledShardRestoredFromItsCheckpointFinishesTheJob(@TempDir Path dir) throws Exception {
        JsonNode p = undisturbed();
        Path chaos = dir.resolve("chaos.json");
        assertEquals(0, Main.run(concat(KILL_JOB, "--json", chaos.toString(), "--run-dir", dir.resolve("chaos-run").toString(),
                "--checkpoint-dir", dir.resolve("ckpt").toString(), "--checkpoint-every", "50steps", "--chaos", "kill-shard:1@120steps")));
        JsonNode c = new ObjectMapper().readTree(chaos.toFile());
        assertTrue(c.path("chaos_restart_seconds").asDouble() > 0, c.toString());
        assertEquals(p.path("test_accuracy").asDouble(), c.path("test_accuracy").asDouble(), 0.01,
                "accuracy with a killed shard vs undisturbed");
        // logreg: the weight is shard 0's only chunk; every step updated it exactly once, replays included.
        JsonNode shard0 = c.path("shards").get(0);
        assertEquals(p.path("shards").get(0).path("updates").asLong(), shard0.path("updates").asLong(), shard0.toString());
        assertEquals(0, shard0.path("errors").asLong());
    }

    /**
     * Worker 1 is killed with SIGKILL at step 60 (it waits there for the kill). The shards drop it after the 2 s
     * worker timeout and worker 0 trains on alone; restarted with the same rank, worker 1 rejoins at the step the
     * shards are collecting and trains the rest of the job. The rejoin is certain, not a race against worker 0
     * finishing: worker 0 waits before its last step until every shard has seen worker 1 back. Training ends
     * within a point of an undisturbed run, and every step was applied exactly once: no more, no fewer updates
     * than undisturbed.
     */
    @Test
    void aKilledWorkerIsDroppedAndRejoinsWhenRestarted(@TempDir Path dir) throws Exception {
        JsonNode p = undisturbed();
        Path chaos = dir.resolve("chaos.json");
        assertEquals(0, Main.run(concat(KILL_JOB, "--json", chaos.toString(), "--run-dir", dir.resolve("chaos-run").toString(),
                "--worker-timeout", "2000", "--chaos", "kill-worker:1@60steps")));
        JsonNode c = new ObjectMapper().readTree(chaos.toFile());
        // logreg: the weight is shard 0's only chunk, so its updates are the job's steps.
        long steps = p.path("shards").get(0).path("updates").asLong();
        long killed = c.path("chaos_kill_step").asLong();
        long rejoined = c.path("chaos_rejoin_step").asLong();
        assertEquals(60, killed, c.toString());
        // Worker 0 kept training while worker 1 was away (the step it was killed at completed when it was
        // dropped), and worker 1 came back with steps left to train.
        assertTrue(rejoined > killed && rejoined < steps, c.toString());
        assertEquals(rejoined - killed, c.path("chaos_steps_without_worker").asLong());
        assertTrue(c.path("chaos_seconds_without_worker").asDouble() > 0, c.toString());
        // Dropped after the timeout of silence, not before (it was pushing up to the kill), and soon after it.
        double drop = c.path("chaos_drop_seconds").asDouble();
        assertTrue(drop >= 1.9 && drop < 10, "dropped " + drop + " s after the kill, with a 2 s timeout");
        for (JsonNode shard : c.path("shards")) {
            assertEquals(1, shard.path("workers_dropped").asLong(), shard.toString());
            assertEquals(1, shard.path("workers_rejoined").asLong(), shard.toString());
            assertEquals(0, shard.path("errors").asLong(), shard.toString());
        }
        // Every step applied once on each shard: exactly as many updates as undisturbed.
        for (int s = 0; s < 2; s++) {
            assertEquals(p.path("shards").get(s).path("updates").asLong(), c.path("shards").get(s).path("updates").asLong(),
                    c.path("shards").get(s).toString());
        }
        // Every epoch reported; the restarted worker reported the last one.
        assertEquals(6, c.path("epochs").asInt());
        assertEquals(2, c.path("epoch_reports").get(5).path("workers_reporting").asInt(), c.toString());
        assertEquals(p.path("test_accuracy").asDouble(), c.path("test_accuracy").asDouble(), 0.01,
                "accuracy with a killed worker vs undisturbed");
        assertEquals(0, ProcessHandle.current().children().filter(ProcessHandle::isAlive).count(),
                "every child process was stopped, the restarted worker's too");
    }

    /**
     * Shard 1 is killed with SIGKILL once it has applied 2 steps and restarted without --restore, empty. Both
     * workers had pulled shard 1's chunks at a version above 0 before it could apply step 1, so the workers that
     * reconnect find it back at version 0 and stop; {@code local} reports the first of them and exits 1.
     */
    @Test
    void aShardRestartedWithoutRestoreStopsTheWorkersWithAnErrorNamingItAndBothSteps(@TempDir Path dir) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream old = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.run(concat(KILL_JOB, "--run-dir", dir.resolve("run").toString(), "--chaos", "kill-shard-fresh:1@2steps"));
        } finally {
            System.setOut(old);
        }
        String text = out.toString(StandardCharsets.UTF_8);
        System.out.println(text);
        assertEquals(1, code, text);
        assertTrue(text.contains("chaos: shard 1 restarted without --restore (empty)"), text);
        assertTrue(text.matches("(?s).*worker-[01] failed \\(exit code 2\\).*"), text);
        assertTrue(text.matches("(?s).*shard 1 came back with its chunks at version 0, their initial values, but this worker "
                + "was at step \\d+ and had seen shard 1 at version [1-9]\\d*; shard 0 is at version [1-9]\\d*\\..*"), text);
        assertEquals(0, ProcessHandle.current().children().filter(ProcessHandle::isAlive).count(),
                "every child process was stopped");
    }

    /**
     * ssp:1 and asp, one short epoch: worker 1 is killed at step 10 (it waits there for the kill). After the 3 s
     * worker timeout the shard drops it, so the slowest-clock rule stops waiting for it (ssp) and worker 0 trains
     * on; restarted with its rank, worker 1 rejoins at the shard's slowest live clock, not at step 0, and trains:
     * worker 0 waits before its last step until the shard has seen worker 1 back, so the new worker always has a
     * step left and reports the epoch.
     */
    @ParameterizedTest
    @ValueSource(strings = {"ssp:1", "asp"})
    void underSspAndAspAKilledWorkerIsDroppedAndRejoinsAtTheCurrentClock(String consistency, @TempDir Path dir)
            throws Exception {
        Path json = dir.resolve("chaos.json");
        assertEquals(0, Main.run("local", "--shards", "1", "--workers", "2", "--model", "logreg", "--epochs", "1",
                "--consistency", consistency, "--progress", "none", "--worker-timeout", "3000", "--chaos", "kill-worker:1@10steps",
                "--json", json.toString(), "--run-dir", dir.resolve("run").toString()));
        JsonNode c = new ObjectMapper().readTree(json.toFile());
        long killed = c.path("chaos_kill_step").asLong();
        long rejoined = c.path("chaos_rejoin_step").asLong();
        assertEquals(10, killed, c.toString());
        assertTrue(rejoined >= killed, "the restarted worker joined at the slowest live clock, not at step 0: " + c);
        JsonNode shard = c.path("shards").get(0);
        // Worker 1 at least; worker 0 too, should it finish and fall silent while the restarted worker 1 is live
        // (and rejoin, should a loaded machine delay its heartbeats past the timeout).
        assertTrue(shard.path("workers_dropped").asLong() >= 1, shard.toString());
        assertTrue(shard.path("workers_rejoined").asLong() >= 1, shard.toString());
        assertEquals(0, shard.path("errors").asLong(), shard.toString());
        assertEquals(0, shard.path("parked_pulls_now").asLong(), shard.toString());
        assertEquals(1, c.path("epochs").asInt(), c.toString());
        assertEquals(2, c.path("epoch_reports").get(0).path("workers_reporting").asInt(),
                "the restarted worker trained and reported the epoch: " + c);
        assertEquals(0, ProcessHandle.current().children().filter(ProcessHandle::isAlive).count(),
                "every child process was stopped, the restarted worker's too");
    }

    private static String[] concat(String[] a, String... b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @Test
    void badFlagsAreOneLineErrorsNamingTheValue() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            assertEquals(2, Main.run("local", "--workers", "0"));
            assertEquals(2, Main.run("local", "--consistency", "ssp:x"));
            assertEquals(2, Main.run("local", "--optimizer", "rmsprop"));
            assertEquals(2, Main.run("local", "--chaos", "kill-worker:1@1.5steps"));
            assertEquals(2, Main.run("local", "--chaos", "kill-worker:2@10steps", "--worker-timeout", "1500"));
            assertEquals(2, Main.run("local", "--chaos", "kill-worker:1@10steps"));
            assertEquals(2, Main.run("local", "--chaos", "kill-worker:0@10steps", "--worker-timeout", "1500", "--workers", "1"));
            assertEquals(2, Main.run("local", "--chaos", "kill-shard-fresh:1@10steps", "--restore", "somewhere"));
        } finally {
            System.setErr(old);
        }
        String text = err.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("--workers must be 1..64, got 0"), text);
        assertTrue(text.contains("consistency 'ssp:x'"), text);
        assertTrue(text.contains("optimizer 'rmsprop'"), text);
        assertTrue(text.contains("--chaos 'kill-worker:1@1.5steps': expected kill-shard:I@SECONDS, kill-shard:I@Nsteps, "
                + "kill-shard-fresh:I@SECONDS, kill-shard-fresh:I@Nsteps, kill-worker:R@SECONDS or kill-worker:R@Nsteps"), text);
        assertTrue(text.contains("--chaos kill-shard-fresh:1@10steps restarts the shard without --restore: give no --restore"), text);
        assertTrue(text.contains("--chaos 'kill-worker:2@10steps': worker rank 2 out of range 0..1"), text);
        assertTrue(text.contains("--chaos kill-worker:1@10steps restarts the worker once every shard has dropped it: "
                + "give --worker-timeout MS"), text);
        assertTrue(text.contains("--chaos kill-worker:0@10steps needs --workers 2 or more"), text);
    }
}
