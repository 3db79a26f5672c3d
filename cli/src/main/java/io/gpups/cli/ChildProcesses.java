package io.gpups.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The shard and worker processes a command started on this machine. Each child runs this same jar's
 * {@code gpups} command; its stderr (logs) goes to a file in the run directory and its stdout lines are
 * handed to a listener. {@link #close()} stops every child still running: politely, then by force.
 */
final class ChildProcesses implements AutoCloseable {

    /** A started child. */
    record Child(String name, Process process, Path log, CompletableFuture<Integer> exit) {
    }

    private final Path runDir;
    /** Where each child's device line goes (see {@link DeviceLine}): the console of the command that started it. */
    private final java.io.PrintStream console = System.out;
    private final List<Child> children = new ArrayList<>();
    private final Thread hook = new Thread(this::close, "gpups-stop-children");

    ChildProcesses(Path runDir) throws IOException {
        this.runDir = Files.createDirectories(runDir);
        Runtime.getRuntime().addShutdownHook(hook);
    }

    Path runDir() {
        return runDir;
    }

    /**
     * Starts {@code gpups <args>} in a new JVM with this JVM's {@code gpups.*} system properties, then
     * {@code jvmOptions}; every stdout line goes to {@code stdout}.
     */
    synchronized Child start(String name, List<String> jvmOptions, List<String> args, Consumer<String> stdout) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(javaBinary());
        // gpups.* system properties of this JVM (device thread counts, for one) reach the children; the
        // caller's options come after them and win.
        System.getProperties().stringPropertyNames().stream().filter(k -> k.startsWith("gpups.")).sorted()
                .forEach(k -> command.add("-D" + k + "=" + System.getProperty(k)));
        command.addAll(jvmOptions);
        command.add("--enable-native-access=ALL-UNNAMED");
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(Main.class.getName());
        command.addAll(args);
        Path log = runDir.resolve(name + ".log");
        Files.writeString(log, String.join(" ", command) + System.lineSeparator());
        Process p = new ProcessBuilder(command)
                .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.PIPE)
                .start();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    if (line.startsWith(DeviceLine.PREFIX)) {
                        console.println(DeviceLine.console(name, line));
                    } else {
                        stdout.accept(line);
                    }
                }
            } catch (IOException ignored) {
                // the child went away; its exit code tells the rest
            }
        }, name + "-stdout");
        reader.setDaemon(true);
        reader.start();
        Child child = new Child(name, p, log, p.onExit().thenApply(Process::exitValue));
        children.add(child);
        return child;
    }

    /** The child started under {@code name}, or null. */
    synchronized Child child(String name) {
        return children.stream().filter(c -> c.name().equals(name)).findFirst().orElse(null);
    }

    /** The last {@code lines} lines of a child's log, for error messages. */
    static String tail(Child child, int lines) {
        try {
            List<String> all = Files.readAllLines(child.log());
            return String.join(System.lineSeparator(), all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(cannot read " + child.log() + ": " + e.getMessage() + ")";
        }
    }

    @Override
    public synchronized void close() {
        for (Child c : children) {
            c.process().destroy();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        for (Child c : children) {
            try {
                long left = Math.max(0, deadline - System.nanoTime());
                if (!c.process().waitFor(left, TimeUnit.NANOSECONDS)) {
                    c.process().destroyForcibly();
                }
            } catch (InterruptedException e) {
                c.process().destroyForcibly();
            }
        }
        children.clear();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException ignored) {
            // already shutting down: this is the hook
        }
    }

    private static String javaBinary() {
        return ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }
}
