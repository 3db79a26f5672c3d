package io.gpups.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --nonfinite} on {@code gpups server} and {@code gpups local}: validated before anything starts. */
class NonFiniteOptionsTest {

    private record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Main.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void serverRefusesAnUnknownPolicyNamingItAndTheAcceptedOnes() {
        Run r = run("server", "--port", "0", "--shard", "0", "--shards", "1", "--workers", "1", "--device", "cpu",
                "--nonfinite", "drop");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--nonfinite must be one of reject, skip-step, zero; got 'drop'"), r.err());
        assertTrue(!r.out().contains(ServerCommand.READY), "the shard must not start: " + r.out());
    }

    @Test
    void localRefusesAnUnknownPolicyBeforeStartingAnyProcess() {
        Run r = run("local", "--nonfinite", "Reject");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("got 'Reject'"), r.err());
    }

    @Test
    void helpTextsDescribeEveryPolicyAndTheDefault() {
        for (String command : new String[] {"server", "local"}) {
            Run r = run(command, "--help");
            String help = r.out().replaceAll("\\s+", " ");
            assertTrue(help.contains("--nonfinite=reject|skip-step|zero"), command + ": " + help);
            assertTrue(help.contains("skip-step: answered OK, counted, changes nothing"), command + ": " + help);
            assertTrue(help.contains("(default: reject)"), command + ": " + help);
        }
    }
}
