package io.gpups.cli.progress;

import io.gpups.worker.metrics.TrainingMonitor;
import io.gpups.worker.train.EpochReport;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * A worker's progress through each epoch: samples per second and the epoch's mean loss so far, shown as a
 * bar on a terminal, a plain line every ten seconds otherwise, or a {@code gpups-progress} JSON line every
 * second for {@code gpups local}:
 * <pre>
 * gpups-progress {"epoch":2,"epochs":10,"step":120,"steps":468,"loss":0.4321,"samples_per_second":12345.6}
 * </pre>
 * ({@code epoch} 0-based, {@code step} = steps done in the epoch). The check per step is one clock read.
 */
public final class TrainingProgress implements TrainingMonitor {

    /** Prefix of the JSON progress line on stdout. */
    public static final String PREFIX = "gpups-progress ";

    private static final long BAR_INTERVAL_NANOS = 200_000_000L;
    private static final long JSON_INTERVAL_NANOS = 1_000_000_000L;
    private static final long PLAIN_INTERVAL_NANOS = 10_000_000_000L;

    private final ProgressMode mode;
    private final PrintStream out;
    private final LongSupplier clock;
    private final long interval;
    private int epoch;
    private int epochs;
    private int steps;
    private long epochStart;
    private long lastShown;
    private long samples;
    private double lossSum;
    private int done;
    private boolean barVisible;

    public TrainingProgress(ProgressMode mode, PrintStream out) {
        this(mode, out, System::nanoTime);
    }

    TrainingProgress(ProgressMode mode, PrintStream out, LongSupplier clock) {
        this.mode = mode.resolve();
        this.out = out;
        this.clock = clock;
        this.interval = switch (this.mode) {
            case BAR -> BAR_INTERVAL_NANOS;
            case JSON -> JSON_INTERVAL_NANOS;
            default -> PLAIN_INTERVAL_NANOS;
        };
    }

    @Override
    public void epochStarted(int epoch, int epochs, int steps) {
        this.epoch = epoch;
        this.epochs = epochs;
        this.steps = steps;
        this.epochStart = clock.getAsLong();
        this.lastShown = epochStart;
        this.samples = 0;
        this.lossSum = 0;
        this.done = 0;
    }

    @Override
    public void stepEnded(int epoch, int step, int stepsInEpoch, int batch, double loss) {
        samples += batch;
        lossSum += loss;
        done = step + 1;
        if (mode == ProgressMode.NONE) {
            return;
        }
        long now = clock.getAsLong();
        if (now - lastShown >= interval) {
            lastShown = now;
            show(now);
        }
    }

    /** Ends the bar's line (drawn complete) so that the next output starts on a line of its own. */
    public void endLine() {
        if (mode == ProgressMode.BAR && barVisible) {
            show(clock.getAsLong());
            out.println();
            out.flush();
            barVisible = false;
        }
    }

    @Override
    public void epochEnded(EpochReport report) {
        if (mode == ProgressMode.JSON) {
            show(clock.getAsLong());
        } else {
            endLine();
        }
    }

    private void show(long now) {
        double seconds = (now - epochStart) / 1e9;
        double rate = seconds > 0 ? samples / seconds : 0;
        double loss = done > 0 ? lossSum / done : Double.NaN;
        switch (mode) {
            case JSON -> out.println(PREFIX + String.format(Locale.ROOT,
                    "{\"epoch\":%d,\"epochs\":%d,\"step\":%d,\"steps\":%d,\"loss\":%s,\"samples_per_second\":%.1f}",
                    epoch, epochs, done, steps, Double.isNaN(loss) ? "null" : String.format(Locale.ROOT, "%.6f", loss), rate));
            case BAR -> {
                out.print("\r" + line(epoch, epochs, (double) done / Math.max(1, steps), rate, loss, true) + "\033[K");
                barVisible = true;
            }
            case PLAIN -> out.println(line(epoch, epochs, (double) done / Math.max(1, steps), rate, loss, false)
                    + String.format(Locale.ROOT, " (step %d/%d)", done, steps));
            default -> {
            }
        }
        out.flush();
    }

    /** {@code epoch 3/10 [=====>    ]  52%  12,345 samples/s  loss 0.4321} (or without the bar). */
    static String line(int epoch, int epochs, double fraction, double samplesPerSecond, double loss, boolean bar) {
        return String.format(Locale.ROOT, "epoch %d/%d %s%3.0f%%  %,.0f samples/s  loss %s", epoch + 1, epochs,
                bar ? Terminal.bar(fraction, 30) + " " : "", 100 * Math.max(0, Math.min(1, fraction)), samplesPerSecond,
                Double.isNaN(loss) ? "-" : String.format(Locale.ROOT, "%.4f", loss));
    }
}
