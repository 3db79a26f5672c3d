package io.gpups.cli;

import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;

/** Where a command that starts processes puts their logs. */
final class RunDirectory {

    private RunDirectory() {
    }

    /** {@code chosen} when given, else {@code runs/<kind>-<yyyyMMdd-HHmmss>} under the current directory. */
    static Path resolve(Path chosen, String kind) {
        return chosen != null ? chosen
                : Path.of("runs", kind + "-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
    }
}
