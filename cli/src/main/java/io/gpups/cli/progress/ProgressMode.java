package io.gpups.cli.progress;

import java.util.Locale;

/** How training progress is shown. */
public enum ProgressMode {
    /** A bar on a terminal, plain lines otherwise. */
    AUTO,
    /** A bar redrawn in place with carriage returns (for a terminal). */
    BAR,
    /** A plain line every ten seconds (for logs and CI). */
    PLAIN,
    /** A {@code gpups-progress {json}} line every second, for a parent process ({@code gpups local}) to render. */
    JSON,
    /** Nothing. */
    NONE;

    public static ProgressMode parse(String text) {
        try {
            return valueOf(text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--progress '" + text + "': expected auto, bar, plain, json or none");
        }
    }

    /** AUTO resolved for this process's standard output. */
    public ProgressMode resolve() {
        return this != AUTO ? this : Terminal.isInteractive() ? BAR : PLAIN;
    }
}
