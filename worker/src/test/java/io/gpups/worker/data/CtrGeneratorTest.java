package io.gpups.worker.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CtrGeneratorTest {

    @TempDir
    Path dir;

    private static CtrGenerator small(long seed) {
        return new CtrGenerator(CtrDataset.FIELDS, 1_000, 1.1, seed);
    }

    @Test
    void sameSeedWritesTheSameBytesAndAnotherSeedDoesNot() throws IOException {
        small(7).write(dir.resolve("a"), 300, 50);
        small(7).write(dir.resolve("b"), 300, 50);
        small(8).write(dir.resolve("c"), 300, 50);
        for (String file : new String[] {CriteoReader.TRAIN_FILE, CriteoReader.TEST_FILE}) {
            byte[] a = Files.readAllBytes(dir.resolve("a").resolve(file));
            assertArrayEquals(a, Files.readAllBytes(dir.resolve("b").resolve(file)), file);
            assertFalse(java.util.Arrays.equals(a, Files.readAllBytes(dir.resolve("c").resolve(file))), file);
        }
        assertFalse(Files.exists(dir.resolve("a").resolve("train.tsv.partial")));
    }

    @Test
    void writtenFilesReadBackEqualTheRowsGeneratedInMemory() throws IOException {
        CtrGenerator generator = small(11);
        CtrGenerator.TeacherReport written = generator.write(dir, 400, 120);
        CtrGenerator.Generated generated = generator.generateWithTeacher(400, 120);
        CtrSplit read = CriteoReader.readDir(dir);
        assertEquals(400, read.train().rows());
        assertEquals(120, read.test().rows());
        assertEquals(generated.split().train(), read.train());
        assertEquals(generated.split().test(), read.test());
        assertEquals(written, generated.teacher());
        assertEquals(read.train().positives() + read.test().positives(), written.positives());
    }

    @Test
    void testRowsDoNotDependOnHowManyTrainRowsThereAre() {
        assertEquals(small(3).generate(100, 40).test(), small(3).generate(250, 40).test());
    }

    @Test
    void teacherAucAndPositiveRateAreInTheirBands() {
        CtrGenerator.TeacherReport report = CtrGenerator.criteoShaped(CtrGenerator.DEFAULT_SEED)
                .generateWithTeacher(2_000, 20_000).teacher();
        assertTrue(report.testAuc() >= 0.75 && report.testAuc() <= 0.85, "teacher AUC " + report.testAuc());
        assertTrue(report.positiveRate() >= 0.20 && report.positiveRate() <= 0.35, "positive rate " + report.positiveRate());
        // Better than the log loss of always predicting the positive rate (the label's entropy).
        double p = report.positiveRate();
        double entropy = -(p * Math.log(p) + (1 - p) * Math.log(1 - p));
        assertTrue(report.testLogLoss() < entropy - 0.05, "log loss " + report.testLogLoss() + " vs entropy " + entropy);
    }

    @Test
    void aFewFieldsKeepTheTeacherLearnable() {
        CtrGenerator.TeacherReport report = new CtrGenerator(3, 100, 1.1, 5).generateWithTeacher(1_000, 20_000).teacher();
        assertTrue(report.testAuc() >= 0.75 && report.testAuc() <= 0.85, "teacher AUC " + report.testAuc());
    }

    @Test
    void fieldsPastTheCountAreEmptyAndAboutThreePercentOfTheOthersAre() {
        CtrDataset d = new CtrGenerator(4, 1_000, 1.1, 9).generate(20_000, 10).train();
        int empty = 0;
        for (int i = 0; i < d.rows(); i++) {
            for (int f = 0; f < CtrDataset.FIELDS; f++) {
                long id = d.id(i, f);
                assertEquals(f, CtrDataset.fieldOf(id));
                if (f >= 4) {
                    assertEquals(CtrDataset.idOfMissing(f), id);
                } else if (id == CtrDataset.idOfMissing(f)) {
                    empty++;
                }
            }
        }
        double rate = empty / (4.0 * d.rows());
        assertTrue(Math.abs(rate - CtrGenerator.EMPTY_CATEGORICAL) < 0.005, "empty rate " + rate);
    }

    @Test
    void aValueIsTheLow32BitsOfTheMixOfSeedFieldAndRank() {
        CtrGenerator g = small(42);
        long expected = io.gpups.core.table.RowIds.mix(42L ^ 3 * 0x9E3779B97F4A7C15L ^ 17) & 0xFFFF_FFFFL;
        assertEquals(expected, g.valueOf(3, 17));
        assertNotEquals(g.valueOf(3, 17), g.valueOf(4, 17));
    }

    @Test
    void zipfRanksFollowTheirLaw() {
        // Ranks 1..5 of 50 with exponent 1.1: frequencies within 4 standard errors of k^-1.1 / H.
        int n = 50;
        double s = 1.1;
        double h = 0;
        for (int k = 1; k <= n; k++) {
            h += Math.pow(k, -s);
        }
        CtrGenerator.ZipfRanks zipf = new CtrGenerator.ZipfRanks(n, s);
        SplittableRandom random = new SplittableRandom(1);
        int draws = 200_000;
        int[] counts = new int[n + 1];
        for (int i = 0; i < draws; i++) {
            long k = zipf.next(random);
            assertTrue(k >= 1 && k <= n, "rank " + k);
            counts[(int) k]++;
        }
        for (int k = 1; k <= 5; k++) {
            double p = Math.pow(k, -s) / h;
            double error = Math.sqrt(p * (1 - p) / draws);
            assertEquals(p, counts[k] / (double) draws, 4 * error, "rank " + k);
        }
        // The tail too: ranks 26..50 together.
        double tail = 0;
        int tailCount = 0;
        for (int k = 26; k <= n; k++) {
            tail += Math.pow(k, -s) / h;
            tailCount += counts[k];
        }
        assertEquals(tail, tailCount / (double) draws, 4 * Math.sqrt(tail * (1 - tail) / draws));
    }

    @Test
    void badParametersAreNamed() {
        assertEquals("fields 27: expected 1..26", assertThrows(IllegalArgumentException.class,
                () -> new CtrGenerator(27, 10, 1.1, 1)).getMessage());
        assertEquals("vocab 0: expected 1..2147483647", assertThrows(IllegalArgumentException.class,
                () -> new CtrGenerator(26, 0, 1.1, 1)).getMessage());
        assertEquals("Zipf exponent NaN: expected a number in (0, 10.0]", assertThrows(IllegalArgumentException.class,
                () -> new CtrGenerator(26, 10, Double.NaN, 1)).getMessage());
        assertEquals("test rows 0: expected 1.." + CtrDataset.MAX_ROWS, assertThrows(IllegalArgumentException.class,
                () -> small(1).generate(10, 0)).getMessage());
    }
}
