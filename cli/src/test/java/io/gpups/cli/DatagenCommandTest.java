package io.gpups.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gpups.worker.data.CriteoReader;
import io.gpups.worker.data.CtrSplit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code gpups datagen ctr}: the files it writes, its summary, and its refusals. */
class DatagenCommandTest {

    @TempDir
    Path dir;

    private record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
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
    void writesANinetyTenSplitAndItsSummary() throws Exception {
        Path out = dir.resolve("ctr");
        Path json = dir.resolve("summary.json");
        Run r = run("datagen", "ctr", "--rows", "2005", "--out", out.toString(), "--vocab", "500", "--seed", "3",
                "--json", json.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("wrote 1805 train rows"), r.out());
        assertTrue(r.out().contains("AUC 0."), r.out());

        List<String> train = Files.readAllLines(out.resolve("train.tsv"));
        List<String> test = Files.readAllLines(out.resolve("test.tsv"));
        assertEquals(1805, train.size());
        assertEquals(200, test.size());
        for (String line : train) {
            assertEquals(CriteoReader.COLUMNS, line.split("\t", -1).length, line);
        }
        CtrSplit split = CriteoReader.readDir(out);
        long positives = split.train().positives() + split.test().positives();

        JsonNode summary = new ObjectMapper().readTree(json.toFile());
        assertEquals(2005, summary.get("rows").asLong());
        assertEquals(1805, summary.get("train_rows").asLong());
        assertEquals(200, summary.get("test_rows").asLong());
        assertEquals(positives / 2005.0, summary.get("positive_rate").asDouble(), 1e-12);
        double auc = summary.get("teacher_auc").asDouble();
        assertTrue(auc > 0.6 && auc < 0.95, "teacher_auc " + auc);
        double logLoss = summary.get("teacher_logloss").asDouble();
        assertTrue(logLoss > 0.2 && logLoss < 0.69, "teacher_logloss " + logLoss);
        assertEquals(6, summary.size(), summary.toString());
    }

    @Test
    void sameFlagsWriteTheSameFiles() throws Exception {
        Path a = dir.resolve("a");
        Path b = dir.resolve("b");
        assertEquals(0, run("datagen", "ctr", "--rows", "300", "--out", a.toString(), "--fields", "5").code());
        assertEquals(0, run("datagen", "ctr", "--rows", "300", "--out", b.toString(), "--fields", "5").code());
        assertEquals(Files.readString(a.resolve("train.tsv")), Files.readString(b.resolve("train.tsv")));
        assertEquals(Files.readString(a.resolve("test.tsv")), Files.readString(b.resolve("test.tsv")));
    }

    /** Runs a command that must fail validation; returns the one line it printed on stderr. */
    private String refused(String... flags) {
        String[] args = new String[flags.length + 4];
        args[0] = "datagen";
        args[1] = "ctr";
        args[2] = "--out";
        args[3] = dir.resolve("refused").toString();
        System.arraycopy(flags, 0, args, 4, flags.length);
        Run r = run(args);
        assertEquals(2, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        assertTrue(Files.notExists(dir.resolve("refused")), "nothing written");
        return r.err().strip();
    }

    @Test
    void badFlagsAreNamedWithTheirRange() {
        assertEquals("gpups ctr: --rows 9: expected 10.." + io.gpups.worker.data.CtrDataset.MAX_ROWS, refused("--rows", "9"));
        assertEquals("gpups ctr: --fields 27: expected 1..26", refused("--rows", "100", "--fields", "27"));
        assertEquals("gpups ctr: --vocab 0: expected 1..2147483647", refused("--rows", "100", "--vocab", "0"));
        assertEquals("gpups ctr: --zipf 0.0: expected a number in (0, 10.0]", refused("--rows", "100", "--zipf", "0"));
        assertEquals("gpups ctr: --zipf NaN: expected a number in (0, 10.0]", refused("--rows", "100", "--zipf", "NaN"));
    }

    @Test
    void datagenWithoutADataSetSaysWhichThereAre() {
        Run r = run("datagen");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("name the data set to generate: ctr"), r.err());
    }
}
