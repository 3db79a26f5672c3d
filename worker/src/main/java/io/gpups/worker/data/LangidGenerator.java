package io.gpups.worker.data;

import io.gpups.core.table.RowIds;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * A language-identification set from word lists (Debian's {@code /usr/share/dict}): each word is one libsvm line
 * ({@link LibsvmReader}) whose label is its language and whose features are its character n-grams.
 *
 * <ul>
 *   <li>Languages, in label order: {@link #LANGUAGES} (file names as Debian's {@code w*} packages install them).
 *       A file is read as UTF-8, or as ISO-8859-1 where it is not valid UTF-8 (Debian's {@code swedish} is).</li>
 *   <li>A word is the line lowercased ({@link Locale#ROOT}); a word with any code point that is not a letter
 *       (apostrophes, hyphens, digits) is skipped, as is a word that lowercases to one already kept in its language.
 *       A word found in more than one language is ambiguous and dropped from all of them.</li>
 *   <li>{@link #wordHash}: {@code h = mix(byteLength); for each UTF-8 byte b: h = mix(h ^ b)} with
 *       {@link RowIds#mix} (splitmix64), b unsigned. A word is in the test set when
 *       {@code mix(wordHash(word)) mod 10 == 0} (unsigned). With a cap, each language keeps the {@code cap} words of
 *       smallest unsigned {@code wordHash}, so classes balance and the choice is fixed.</li>
 *   <li>Features: the word with boundary markers, {@code "^" + word + "$"}; its n-grams of n = 1..4 code points,
 *       except the unigrams {@code ^} and {@code $} (in every word); each n-gram's id is {@code wordHash} of its UTF-8
 *       bytes, its value the times it occurs in the word. Features are written in order of first occurrence, n = 1
 *       first, then by position.</li>
 *   <li>Lines are written language by language, words in lexical (code point) order.</li>
 * </ul>
 */
public final class LangidGenerator {

    /** A language's label is its index here. */
    public static final List<Language> LANGUAGES = List.of(
            new Language("english", "american-english", "wamerican"),
            new Language("german", "ngerman", "wngerman"),
            new Language("french", "french", "wfrench"),
            new Language("spanish", "spanish", "wspanish"),
            new Language("italian", "italian", "witalian"),
            new Language("portuguese", "portuguese", "wportuguese"),
            new Language("dutch", "dutch", "wdutch"),
            new Language("swedish", "swedish", "wswedish"));

    /** Words per language when not told; 0 would mean all. */
    public static final int DEFAULT_CAP = 40_000;
    /** The longest n-gram, in code points. */
    public static final int MAX_N = 4;

    /** A language: its name, its word list under the dict directory, and the Debian package that installs it. */
    public record Language(String name, String file, String debianPackage) {
    }

    /**
     * What was written for one language: its list's lines, the words of letters found in no other language
     * ({@code eligible}), those kept under the cap, and how they split.
     */
    public record Count(String language, int label, int read, int eligible, int kept, int train, int test) {
    }

    private LangidGenerator() {
    }

    /** {@code h = mix(bytes.length); for each byte b (unsigned): h = mix(h ^ b)}. */
    public static long wordHash(byte[] bytes) {
        long h = RowIds.mix(bytes.length);
        for (byte b : bytes) {
            h = RowIds.mix(h ^ (b & 0xFF));
        }
        return h;
    }

    /** {@link #wordHash} of {@code text}'s UTF-8 bytes. */
    public static long wordHash(String text) {
        return wordHash(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Whether {@code word} goes to the test set: {@code mix(wordHash(word)) mod 10 == 0}, unsigned. */
    public static boolean isTest(String word) {
        return Long.remainderUnsigned(RowIds.mix(wordHash(word)), 10) == 0;
    }

    /** The libsvm line of {@code word} (lowercase letters) with {@code label}, without its line end. */
    public static String line(int label, String word) {
        Map<Long, Integer> counts = new LinkedHashMap<>();
        int[] cps = ("^" + word + "$").codePoints().toArray();
        for (int n = 1; n <= MAX_N; n++) {
            for (int at = 0; at + n <= cps.length; at++) {
                if (n == 1 && (at == 0 || at == cps.length - 1)) {
                    continue;
                }
                String gram = new String(cps, at, n);
                counts.merge(wordHash(gram), 1, Integer::sum);
            }
        }
        StringBuilder sb = new StringBuilder().append(label);
        counts.forEach((id, count) -> sb.append(' ').append(Long.toUnsignedString(id)).append(':').append(count));
        return sb.toString();
    }

    /**
     * Writes {@code out/train.svm} and {@code out/test.svm} from the word lists under {@code dictDir}, at most
     * {@code cap} words per language (0: all). The error names every word list it lacks.
     */
    public static List<Count> write(Path dictDir, Path out, int cap) throws IOException {
        if (cap < 0) {
            throw new IllegalArgumentException("cap " + cap + ": expected 0 (all words) or more");
        }
        List<String> missing = new ArrayList<>();
        for (Language l : LANGUAGES) {
            if (!Files.isRegularFile(dictDir.resolve(l.file()))) {
                missing.add(dictDir.resolve(l.file()) + " (Debian package " + l.debianPackage() + ")");
            }
        }
        if (!missing.isEmpty()) {
            throw new IOException("word lists missing: " + String.join(", ", missing));
        }
        List<TreeSet<String>> words = new ArrayList<>();
        int[] read = new int[LANGUAGES.size()];
        Map<String, Integer> languagesOf = new HashMap<>();
        for (int label = 0; label < LANGUAGES.size(); label++) {
            TreeSet<String> kept = new TreeSet<>();
            for (String raw : lines(dictDir.resolve(LANGUAGES.get(label).file()))) {
                read[label]++;
                String word = raw.strip().toLowerCase(Locale.ROOT);
                if (!word.isEmpty() && word.codePoints().allMatch(Character::isLetter) && kept.add(word)) {
                    languagesOf.merge(word, 1, Integer::sum);
                }
            }
            words.add(kept);
        }
        Files.createDirectories(out);
        List<Count> counts = new ArrayList<>();
        try (BufferedWriter train = Files.newBufferedWriter(out.resolve(LibsvmReader.TRAIN_FILE), StandardCharsets.UTF_8);
             BufferedWriter test = Files.newBufferedWriter(out.resolve(LibsvmReader.TEST_FILE), StandardCharsets.UTF_8)) {
            for (int label = 0; label < LANGUAGES.size(); label++) {
                List<String> chosen = new ArrayList<>();
                for (String w : words.get(label)) {
                    if (languagesOf.get(w) == 1) {
                        chosen.add(w);
                    }
                }
                int eligible = chosen.size();
                if (cap > 0 && chosen.size() > cap) {
                    List<String> byHash = new ArrayList<>(chosen);
                    byHash.sort((a, b) -> Long.compareUnsigned(wordHash(a), wordHash(b)));
                    TreeSet<String> capped = new TreeSet<>(byHash.subList(0, cap));
                    chosen = new ArrayList<>(capped);
                }
                int trainCount = 0;
                int testCount = 0;
                for (String w : chosen) {
                    BufferedWriter to = isTest(w) ? test : train;
                    to.write(line(label, w));
                    to.write('\n');
                    if (to == test) {
                        testCount++;
                    } else {
                        trainCount++;
                    }
                }
                counts.add(new Count(LANGUAGES.get(label).name(), label, read[label], eligible, chosen.size(), trainCount,
                        testCount));
            }
        }
        return counts;
    }

    /** The lines of {@code file}: UTF-8, or ISO-8859-1 where the bytes are not valid UTF-8. */
    private static List<String> lines(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            text = new String(bytes, StandardCharsets.ISO_8859_1);
        }
        return text.lines().toList();
    }
}
