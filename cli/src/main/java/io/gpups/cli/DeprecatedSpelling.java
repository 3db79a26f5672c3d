package io.gpups.cli;

/**
 * An old spelling of a flag that still works: it prints one line on stderr naming the new one. {@code --servers}
 * means shard addresses (worker, checkpoint, dashboard); as a count (local, bench) it is now {@code --shards}.
 */
final class DeprecatedSpelling {

    private DeprecatedSpelling() {
    }

    /** Prints the warning and returns {@code value}, for the option setter to store under the new name. */
    static <T> T warn(String command, String old, String now, T value) {
        System.err.println("gpups " + command + ": " + old + " is deprecated, use " + now + " (" + old
                + " names shard addresses HOST:PORT elsewhere)");
        return value;
    }
}
