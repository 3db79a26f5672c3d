package io.gpups.worker.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The langid set from a handmade dict directory: the exact lines of two words, and which words are kept. */
class LangidGeneratorTest {

    @TempDir
    Path dir;

    private void dict(String file, String text) throws IOException {
        Files.writeString(dir.resolve(file), text);
    }

    /** Every word list, empty unless written after. */
    private void allLists() throws IOException {
        for (LangidGenerator.Language l : LangidGenerator.LANGUAGES) {
            dict(l.file(), "");
        }
    }

    @Test
    void theWordHashIsSplitmix64OverTheUtf8Bytes() {
        // Values from an independent splitmix64: h = mix(len); h = mix(h ^ byte) per byte.
        assertEquals(6754272901643539897L, LangidGenerator.wordHash("a"));
        assertEquals(Long.parseUnsignedLong("15786170629530038928"), LangidGenerator.wordHash("ä"));
    }

    @Test
    void aWordIsItsNgramsWithBoundaryMarkers() {
        // "ab": unigrams a b; bigrams ^a ab b$; trigrams ^ab ab$; the 4-gram ^ab$. "aa": a twice.
        assertEquals("0 6754272901643539897:1 1114274585189131075:1 4618502397019973855:1 9875329673066966891:1"
                + " 3084431850198683007:1 8363456384159033630:1 10451008592912456430:1 4024048832142761242:1",
                LangidGenerator.line(0, "ab"));
        assertEquals("1 6754272901643539897:2 4618502397019973855:1 7602456703827548147:1 15440841917268542939:1"
                + " 17993707903513545225:1 2557839511232307407:1 4488414824517495856:1", LangidGenerator.line(1, "aa"));
    }

    @Test
    void writesOneLinePerKeptWordLanguageByLanguage() throws IOException {
        allLists();
        // English: a capitalised duplicate, an apostrophe, a digit, and "zz" also in German (dropped from both).
        dict("american-english", "ab\nAb\ndon't\nab1\nzz\n");
        dict("ngerman", "aa\nzz\n");
        // Swedish in ISO-8859-1, as Debian ships it: "ä" is one byte 0xE4.
        Files.write(dir.resolve("swedish"), new byte[] {(byte) 0xE4, '\n'});
        Path out = dir.resolve("out");
        List<LangidGenerator.Count> counts = LangidGenerator.write(dir, out, 0);
        assertEquals(new LangidGenerator.Count("english", 0, 5, 1, 1, 1, 0), counts.get(0));
        assertEquals(new LangidGenerator.Count("german", 1, 2, 1, 1, 1, 0), counts.get(1));
        assertEquals(1, counts.get(7).kept());
        String train = Files.readString(out.resolve("train.svm"), StandardCharsets.UTF_8);
        String test = Files.readString(out.resolve("test.svm"), StandardCharsets.UTF_8);
        String swedish = LangidGenerator.line(7, "ä");
        String expected = LangidGenerator.line(0, "ab") + "\n" + LangidGenerator.line(1, "aa") + "\n";
        assertEquals(LangidGenerator.isTest("ä") ? expected : expected + swedish + "\n", train);
        assertEquals(LangidGenerator.isTest("ä") ? swedish + "\n" : "", test);
        SparseSplit split = LibsvmReader.readDir(out);
        assertArrayEquals(new int[] {0, 1}, java.util.Arrays.copyOf(split.train().labels(), 2));
    }

    @Test
    void aCapKeepsTheWordsOfSmallestHash() throws IOException {
        allLists();
        dict("french", "un\ndeux\ntrois\nquatre\ncinq\n");
        List<LangidGenerator.Count> counts = LangidGenerator.write(dir, dir.resolve("out"), 2);
        assertEquals(5, counts.get(2).eligible());
        assertEquals(2, counts.get(2).kept());
        List<String> byHash = new java.util.ArrayList<>(List.of("un", "deux", "trois", "quatre", "cinq"));
        byHash.sort((a, b) -> Long.compareUnsigned(LangidGenerator.wordHash(a), LangidGenerator.wordHash(b)));
        String all = Files.readString(dir.resolve("out/train.svm")) + Files.readString(dir.resolve("out/test.svm"));
        for (int i = 0; i < byHash.size(); i++) {
            assertEquals(i < 2, all.contains(LangidGenerator.line(2, byHash.get(i))), byHash.get(i));
        }
    }

    @Test
    void missingWordListsAreNamedWithTheirPackages() throws IOException {
        dict("american-english", "a\n");
        IOException e = assertThrows(IOException.class, () -> LangidGenerator.write(dir, dir.resolve("out"), 0));
        assertTrue(e.getMessage().contains("ngerman (Debian package wngerman)"), e.getMessage());
        assertTrue(!e.getMessage().contains("american-english"), e.getMessage());
    }
}
