package io.gpups.cli.progress;

import java.io.Console;
import java.lang.reflect.Method;

/** Whether standard output is an interactive terminal, where a redrawn progress bar makes sense. */
public final class Terminal {

    private Terminal() {
    }

    /**
     * True when the JVM has a console attached to a terminal. On Java 22 and later {@link System#console()}
     * returns a console even when output is redirected, so its {@code isTerminal()} (when present) decides.
     */
    public static boolean isInteractive() {
        Console console = System.console();
        if (console == null) {
            return false;
        }
        try {
            Method isTerminal = Console.class.getMethod("isTerminal");
            return (Boolean) isTerminal.invoke(console);
        } catch (ReflectiveOperationException e) {
            return true;
        }
    }

    /** {@code [=======>        ]} of {@code width} cells for a fraction in [0, 1]. */
    public static String bar(double fraction, int width) {
        double f = Double.isNaN(fraction) ? 0 : Math.max(0, Math.min(1, fraction));
        int full = (int) Math.floor(f * width);
        StringBuilder b = new StringBuilder(width + 2).append('[');
        for (int i = 0; i < width; i++) {
            b.append(i < full ? '=' : i == full ? '>' : ' ');
        }
        return b.append(']').toString();
    }
}
