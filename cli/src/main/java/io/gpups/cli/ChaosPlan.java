package io.gpups.cli;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What {@code gpups local --chaos} breaks, and when:
 * <pre>
 * kill-shard:I@SECONDS         kill shard I that many seconds after training starts, restart it with --restore
 * kill-shard:I@Nsteps          ... once shard I has applied N steps
 * kill-shard-fresh:I@SECONDS   as kill-shard, but restart it without --restore: empty, at its initial values
 * kill-shard-fresh:I@Nsteps    ... once shard I has applied N steps
 * kill-worker:R@SECONDS        kill worker R that many seconds after training starts
 * kill-worker:R@Nsteps         ... once shard 0 has applied N steps
 * </pre>
 * ({@code afterSteps} 0 means the seconds form; {@code fresh}: a shard restarted without restore.)
 *
 * <p>In the Nsteps forms the workers are held at steps (see {@link ChaosHold}) so that the events happen in
 * the same order on any machine: the kill at step N, the job still under way when the killed process is back
 * (a restarted worker rejoins before the others' last step). The seconds forms hold nothing.
 */
record ChaosPlan(Target target, int index, double afterSeconds, long afterSteps, boolean fresh) {

    enum Target { SHARD, WORKER }

    static final String FORMS = "kill-shard:I@SECONDS, kill-shard:I@Nsteps, kill-shard-fresh:I@SECONDS, "
            + "kill-shard-fresh:I@Nsteps, kill-worker:R@SECONDS or kill-worker:R@Nsteps";

    private static final Pattern FORM = Pattern.compile(
            "kill-(shard|shard-fresh|worker):(\\d{1,9})@(\\d{1,9}(?:\\.\\d+)?)(steps)?");

    static ChaosPlan parse(String text, int servers, int workers) {
        Matcher m = FORM.matcher(text.trim());
        if (!m.matches() || (m.group(4) != null && m.group(3).contains("."))) {
            throw new IllegalArgumentException("--chaos '" + text + "': expected " + FORMS);
        }
        Target target = m.group(1).equals("worker") ? Target.WORKER : Target.SHARD;
        boolean fresh = m.group(1).equals("shard-fresh");
        int index = Integer.parseInt(m.group(2));
        int count = target == Target.SHARD ? servers : workers;
        if (index >= count) {
            throw new IllegalArgumentException("--chaos '" + text + "': " + (target == Target.SHARD ? "shard " : "worker rank ")
                    + index + " out of range 0.." + (count - 1));
        }
        return m.group(4) != null ? new ChaosPlan(target, index, 0, Long.parseLong(m.group(3)), fresh)
                : new ChaosPlan(target, index, Double.parseDouble(m.group(3)), 0, fresh);
    }

    /**
     * The hold of the job's first process of worker {@code rank}, null for none. kill-worker: the victim stops
     * before step N until it is killed, the others before their last step until it has rejoined. kill-shard: every
     * worker stops before step N until it has lost the killed shard.
     */
    ChaosHold hold(int rank) {
        if (afterSteps <= 0) {
            return null;
        }
        if (target == Target.SHARD) {
            return new ChaosHold(afterSteps, ChaosHold.Until.SHARD_LOST);
        }
        return rank == index ? new ChaosHold(afterSteps, ChaosHold.Until.KILLED)
                : new ChaosHold(ChaosHold.LAST, ChaosHold.Until.REJOINED);
    }

    /** "shard 1", "worker 1". */
    String victim() {
        return (target == Target.SHARD ? "shard " : "worker ") + index;
    }
}
