package io.gpups.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code gpups} command. */
@Command(name = "gpups", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "A parameter server for data-parallel training: shards on GPUs (or the CPU), workers over TCP.",
        subcommands = {ServerCommand.class, WorkerCommand.class, LocalCommand.class, BenchCommand.class,
                DashboardCommand.class, CheckpointCommand.class, InspectCommand.class, DatagenCommand.class,
                CommandLine.HelpCommand.class})
public final class Main {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs a command line and returns its exit code. */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            // Errors a user can fix are one line, not a stack trace.
            if (e instanceof IllegalArgumentException || e instanceof CliException
                    || e instanceof io.gpups.core.device.DeviceUnavailableException) {
                cmd.getErr().println("gpups " + cmd.getCommandName() + ": " + e.getMessage());
                return 2;
            }
            if (e instanceof io.gpups.worker.train.NonFiniteLossException) {
                // Names rank, step, epoch and the loss: one line that `gpups local` shows from the worker's log.
                cmd.getErr().println("gpups " + cmd.getCommandName() + ": " + e.getMessage());
                return 3;
            }
            throw e;
        });
        return cl.execute(args);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"gpups " + (v == null ? "(development build)" : v)};
        }
    }
}
