package io.gpups.cli;

import io.gpups.worker.data.LangidGenerator;
import io.gpups.worker.data.LibsvmReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --model embbag} and {@code gpups datagen langid} at the command line: the files written, the refusals. */
class EmbBagCommandTest {

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
    void datagenLangidWritesTheSetAndPrintsTheCounts() throws Exception {
        Path dict = dir.resolve("dict");
        Files.createDirectories(dict);
        for (LangidGenerator.Language l : LangidGenerator.LANGUAGES) {
            Files.writeString(dict.resolve(l.file()), "");
        }
        Files.writeString(dict.resolve("italian"), "ciao\nbuongiorno\n");
        Path out = dir.resolve("langid");
        Run r = run("datagen", "langid", "--dict-dir", dict.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("italian"), r.out());
        assertEquals(2, LibsvmReader.readDir(out).train().samples() + LibsvmReader.readDir(out).test().samples());
    }

    @Test
    void localEmbbagWithoutDataSaysWhatItNeeds() {
        Run r = run("local", "--model", "embbag:dim=8", "--shards", "1", "--workers", "1");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("--model embbag needs --data DIR with train.svm[.gz] and test.svm[.gz]"), r.err());
    }

    @Test
    void localEmbbagWithABadKeyNamesTheKeys() {
        Run r = run("local", "--model", "embbag:dims=8", "--data", dir.toString());
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("unknown key 'dims', expected dim, rows, row_optimizer, row_lr"), r.err());
    }
}
