package io.gpups.cli.progress;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.function.LongSupplier;

/**
 * {@code gpups local}'s view of its workers' {@code gpups-progress} lines: one bar for the whole job, redrawn
 * in place on a terminal, or a plain line every ten seconds otherwise. Other output must go through
 * {@link #lines()}, which clears the bar before each line so that lines and bar never mix.
 * The job's progress: the epoch of the slowest worker, the mean of the workers' fractions of it, the
 * samples per second summed and the loss averaged over workers.
 */
public final class LocalProgress implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long BAR_INTERVAL_NANOS = 200_000_000L;
    private static final long PLAIN_INTERVAL_NANOS = 10_000_000_000L;

    private final ProgressMode mode;
    private final PrintStream out;
    private final PrintStream lines;
    private final LongSupplier clock;
    private final JsonNode[] latest;
    private long lastShown;
    private boolean barVisible;

    public LocalProgress(int workers, ProgressMode mode, PrintStream out) {
        this(workers, mode, out, System::nanoTime);
    }

    LocalProgress(int workers, ProgressMode mode, PrintStream out, LongSupplier clock) {
        ProgressMode m = mode.resolve();
        this.mode = m == ProgressMode.JSON ? ProgressMode.PLAIN : m;
        this.out = out;
        this.clock = clock;
        this.latest = new JsonNode[workers];
        this.lastShown = clock.getAsLong();
        this.lines = new PrintStream(new OutputStream() {
            @Override
            public void write(int b) {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                synchronized (LocalProgress.this) {
                    clearBar();
                    out.write(b, off, len);
                }
            }

            @Override
            public void flush() {
                out.flush();
            }
        }, true, StandardCharsets.UTF_8);
    }

    /** Where every other line of output goes. */
    public PrintStream lines() {
        return lines;
    }

    /** A worker's progress line, without its prefix. Unreadable lines are ignored. */
    public synchronized void add(int rank, String json) {
        if (rank < 0 || rank >= latest.length || mode == ProgressMode.NONE) {
            return;
        }
        try {
            latest[rank] = JSON.readTree(json);
        } catch (Exception e) {
            return;
        }
        long now = clock.getAsLong();
        long interval = mode == ProgressMode.BAR ? BAR_INTERVAL_NANOS : PLAIN_INTERVAL_NANOS;
        if (now - lastShown < interval) {
            return;
        }
        lastShown = now;
        String text = render(latest, mode == ProgressMode.BAR);
        if (text == null) {
            return;
        }
        if (mode == ProgressMode.BAR) {
            out.print("\r" + text + "\033[K");
            barVisible = true;
        } else {
            out.println("progress: " + text);
        }
        out.flush();
    }

    /** The job's progress line from each worker's latest report, or null before any. */
    static String render(JsonNode[] reports, boolean bar) {
        int epoch = Integer.MAX_VALUE;
        int epochs = 0;
        int workers = 0;
        for (JsonNode r : reports) {
            if (r != null) {
                epoch = Math.min(epoch, r.path("epoch").asInt());
                epochs = Math.max(epochs, r.path("epochs").asInt());
                workers++;
            }
        }
        if (workers == 0) {
            return null;
        }
        double fraction = 0;
        double rate = 0;
        double loss = 0;
        int losses = 0;
        for (JsonNode r : reports) {
            if (r == null) {
                continue;
            }
            fraction += r.path("epoch").asInt() > epoch ? 1
                    : r.path("step").asDouble() / Math.max(1, r.path("steps").asInt());
            rate += r.path("samples_per_second").asDouble();
            if (r.hasNonNull("loss")) {
                loss += r.path("loss").asDouble();
                losses++;
            }
        }
        return TrainingProgress.line(epoch, epochs, fraction / workers, rate, losses == 0 ? Double.NaN : loss / losses, bar)
                + (workers < reports.length ? "  (" + workers + " of " + reports.length + " workers reporting)" : "");
    }

    private void clearBar() {
        if (barVisible) {
            out.print("\r\033[K");
            barVisible = false;
        }
    }

    @Override
    public synchronized void close() {
        clearBar();
        out.flush();
    }
}
