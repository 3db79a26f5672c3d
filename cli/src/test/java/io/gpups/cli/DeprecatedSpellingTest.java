package io.gpups.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --servers N} as a count in {@code local} and {@code bench}: still read, as {@code --shards}, with one warning line. */
class DeprecatedSpellingTest {

    @Test
    void localReadsServersAsShardsAndWarnsOnce() {
        LocalCommand local = new LocalCommand();
        String err = stderrOf(() -> new CommandLine(local).parseArgs("--servers", "3"));
        assertEquals(3, local.servers);
        assertEquals(List.of("gpups local: --servers is deprecated, use --shards (--servers names shard addresses "
                + "HOST:PORT elsewhere)"), err.lines().toList());
    }

    @Test
    void benchReadsServersAndSweepServersAsTheShardFlags() {
        BenchCommand bench = new BenchCommand();
        String err = stderrOf(() -> new CommandLine(bench).parseArgs("--servers", "4", "--sweep-servers", "1,2,4"));
        assertEquals(4, bench.shards);
        assertEquals("1,2,4", bench.sweepShards);
        assertEquals(2, err.lines().count(), err);
        assertTrue(err.contains("--servers is deprecated, use --shards"), err);
        assertTrue(err.contains("--sweep-servers is deprecated, use --sweep-shards"), err);
    }

    @Test
    void theNewSpellingIsSilentAndTheDefaultsHold() {
        LocalCommand local = new LocalCommand();
        BenchCommand bench = new BenchCommand();
        String err = stderrOf(() -> {
            new CommandLine(local).parseArgs("--shards", "5");
            new CommandLine(bench).parseArgs();
        });
        assertEquals("", err);
        assertEquals(5, local.servers);
        assertEquals(1, bench.shards);
    }

    @Test
    void aBadCountUnderTheOldSpellingIsNamedByTheNewOne() {
        String err = stderrOf(() -> assertEquals(2, Main.run("bench", "--servers", "0")));
        assertTrue(err.contains("gpups bench: --shards 0: must be 1..64"), err);
    }

    private static String stderrOf(Runnable r) {
        PrintStream saved = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try {
            System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
            r.run();
        } finally {
            System.setErr(saved);
        }
        return captured.toString(StandardCharsets.UTF_8);
    }
}
