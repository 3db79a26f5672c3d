package io.gpups.loadgen;

import java.util.Locale;

/** What each benchmark operation asks of the shards. */
public enum BenchMode {
    /** {@code PsClient.push}: the gradient goes out, an OK comes back. */
    PUSH("push", true, false),
    /** {@code PsClient.pull} with clock 0: a request goes out, the parameters come back. */
    PULL("pull", false, true),
    /** {@code PsClient.pushPull}: the gradient goes out, the updated parameters come back. */
    PUSH_PULL("pushpull", true, true);

    private final String cliName;
    private final boolean pushes;
    private final boolean pulls;

    BenchMode(String cliName, boolean pushes, boolean pulls) {
        this.cliName = cliName;
        this.pushes = pushes;
        this.pulls = pulls;
    }

    /** The name on the command line and in the JSON report. */
    public String cliName() {
        return cliName;
    }

    /** Whether an operation sends a gradient (and so updates the parameters). */
    public boolean pushes() {
        return pushes;
    }

    /** Whether an operation receives the parameters. */
    public boolean pulls() {
        return pulls;
    }

    /** Parses {@code push}, {@code pull} or {@code pushpull}, naming the bad value otherwise. */
    public static BenchMode parse(String text) {
        String s = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        for (BenchMode m : values()) {
            if (m.cliName.equals(s)) {
                return m;
            }
        }
        throw new IllegalArgumentException("--mode '" + text + "': expected push, pull or pushpull");
    }
}
