package io.gpups.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code --run-dir}, shared by {@code local} and {@code bench}: where the child processes' logs go. */
final class RunDirOption {

    @Option(names = "--run-dir", paramLabel = "DIR", description = "Where the child processes' logs go "
            + "(default: runs/<command>-<time>).")
    Path dir;

    /** {@code --run-dir}, or a new {@code runs/<prefix>-<time>}. */
    Path resolve(String prefix) {
        return RunDirectory.resolve(dir, prefix);
    }
}
