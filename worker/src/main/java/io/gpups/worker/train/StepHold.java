package io.gpups.worker.train;

/**
 * A point before each step where a {@link Trainer} can be held until something has happened elsewhere in
 * the job: {@code gpups local --chaos} holds a worker at a chosen step until another worker is back or a
 * shard has gone away, so the order of a chaos run's events does not depend on the machine's speed.
 *
 * <p>Called on the training thread before the step's pulls, inside the trainer's shard-loss handling: a hold
 * that fails because a shard's connection was lost is recovered from as a failed pull would be, and the
 * trainer then asks again at the step it goes on from. {@link #NONE}, the default, holds nothing.
 */
@FunctionalInterface
public interface StepHold {

    StepHold NONE = (step, lastStep) -> { };

    /** Before global step {@code step} (counted across epochs from 0) of a job whose last step is {@code lastStep}. */
    void beforeStep(long step, long lastStep);
}
