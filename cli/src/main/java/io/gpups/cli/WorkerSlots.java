package io.gpups.cli;

import java.io.IOException;
import java.util.function.LongConsumer;

/**
 * The worker process of each rank of a {@code gpups local} job. {@code --chaos kill-worker} kills one on
 * purpose and puts a restarted one in its slot: between {@link #killing} and {@link #restarted} (or
 * {@link #restartFailed}) that rank's exit is not a failure of the job.
 */
final class WorkerSlots {

    /** Starts the worker process of a rank under a name; {@code startedAt} gets the step it starts training at. */
    @FunctionalInterface
    interface Launcher {
        ChildProcesses.Child start(int rank, String name, LongConsumer startedAt) throws IOException;
    }

    private final ChildProcesses.Child[] current;
    /** Ranks killed on purpose whose restarted process is not in its slot yet. */
    private final boolean[] restarting;

    WorkerSlots(int workers) {
        this.current = new ChildProcesses.Child[workers];
        this.restarting = new boolean[workers];
    }

    synchronized void set(int rank, ChildProcesses.Child child) {
        current[rank] = child;
        child.exit().whenComplete((code, e) -> wake());
        notifyAll();
    }

    /** Marks the rank's process as about to be killed on purpose and returns it; null if it has already exited. */
    synchronized ChildProcesses.Child killing(int rank) {
        ChildProcesses.Child c = current[rank];
        if (c.exit().isDone()) {
            return null;
        }
        restarting[rank] = true;
        return c;
    }

    /** The rank's restarted process takes the slot. */
    synchronized void restarted(int rank, ChildProcesses.Child child) {
        restarting[rank] = false;
        set(rank, child);
    }

    /** The rank could not be restarted: its killed process's exit now counts as the job failing. */
    synchronized void restartFailed(int rank) {
        restarting[rank] = false;
        notifyAll();
    }

    /** Waits until every rank's process has exited; returns the first that failed, or null if all exited with 0. */
    synchronized ChildProcesses.Child await() throws InterruptedException {
        while (true) {
            boolean allDone = true;
            for (int r = 0; r < current.length; r++) {
                ChildProcesses.Child c = current[r];
                if (restarting[r] || !c.exit().isDone()) {
                    allDone = false;
                } else if (c.exit().join() != 0) {
                    return c;
                }
            }
            if (allDone) {
                return null;
            }
            wait(1000);
        }
    }

    private synchronized void wake() {
        notifyAll();
    }
}
