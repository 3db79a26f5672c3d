package io.gpups.cli;

import io.gpups.core.optim.OptimizerSpec.OptimizerKind;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --optimizer} of {@code gpups worker} and {@code gpups bench} lists every kind of the kind table. */
class OptimizerNamesTest {

    @Test
    void helpListsEveryKind() {
        for (String command : new String[] {"worker", "bench"}) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            PrintStream old = System.out;
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            int code;
            try {
                code = Main.run(command, "--help");
            } finally {
                System.setOut(old);
            }
            String help = out.toString(StandardCharsets.UTF_8).replaceAll("\\s+", " ");
            assertEquals(0, code, help);
            assertTrue(help.contains(OptimizerKind.names()), command + ": " + help);
        }
    }
}
