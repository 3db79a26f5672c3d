package io.gpups.server.checkpoint;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * When a shard checkpoints on its own ({@code --checkpoint-every}): every {@code N} seconds of wall-clock
 * time, or every {@code N} steps, a step being one update of every chunk the shard holds (under bsp one
 * training step; under asp and ssp one push). Syntax: {@code 30s}, {@code 10m}, {@code 1h}, a bare
 * {@code 30} (seconds), or {@code 500steps}.
 */
public record CheckpointSchedule(Duration period, long steps) {

    private static final Pattern SYNTAX = Pattern.compile("(\\d+)\\s*(s|sec|secs|seconds?|m|min|minutes?|h|hours?|steps?)?");

    public CheckpointSchedule {
        if ((period == null) == (steps <= 0)) {
            throw new IllegalArgumentException("a checkpoint schedule is a period or a step count, not both or neither");
        }
        if (period != null && period.isNegative() || period != null && period.isZero()) {
            throw new IllegalArgumentException("checkpoint period must be > 0, got " + period);
        }
    }

    public static CheckpointSchedule parse(String text) {
        Matcher m = SYNTAX.matcher(text == null ? "" : text.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new IllegalArgumentException("--checkpoint-every '" + text + "': expected N seconds (30s, 10m, 1h, 30) or N steps (500steps)");
        }
        long n;
        try {
            n = Long.parseLong(m.group(1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--checkpoint-every '" + text + "': number too large");
        }
        if (n <= 0) {
            throw new IllegalArgumentException("--checkpoint-every '" + text + "': must be > 0");
        }
        String unit = m.group(2) == null ? "s" : m.group(2);
        if (unit.startsWith("step")) {
            return new CheckpointSchedule(null, n);
        }
        return new CheckpointSchedule(switch (unit.charAt(0)) {
            case 'm' -> Duration.ofMinutes(n);
            case 'h' -> Duration.ofHours(n);
            default -> Duration.ofSeconds(n);
        }, 0);
    }

    public boolean bySteps() {
        return period == null;
    }

    @Override
    public String toString() {
        return bySteps() ? steps + "steps" : period.toSeconds() + "s";
    }
}
