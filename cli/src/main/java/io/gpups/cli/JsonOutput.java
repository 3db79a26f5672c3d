package io.gpups.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** {@code --json FILE}, shared by {@code worker}, {@code local} and {@code bench}: the run's summary as JSON. */
final class JsonOutput {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the run's summary as JSON to this file "
            + "(its fields: README.md, Commands).")
    Path file;

    /** Whether {@code --json} was given. */
    boolean wanted() {
        return file != null;
    }

    /** Writes {@code summary} (indented) to {@code --json}, creating its directory, and says so on {@code out}. */
    void write(JsonNode summary, PrintStream out) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), summary);
        out.println("summary written to " + file);
    }
}
