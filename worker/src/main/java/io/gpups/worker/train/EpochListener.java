package io.gpups.worker.train;

/** Receives each epoch's report, on the trainer's thread, as the epoch ends. */
@FunctionalInterface
public interface EpochListener {
    void epochEnded(EpochReport report);
}
