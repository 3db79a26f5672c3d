package io.gpups.worker.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.gpups.worker.data.IdxFixtures.assertMentions;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataSourceTest {

    @TempDir
    Path dir;

    private final List<String> log = new ArrayList<>();

    @Test
    void anExplicitDirectoryMustHoldEveryFile() throws IOException {
        Files.write(dir.resolve(FashionMnist.TRAIN_IMAGES + ".gz"), new byte[0]);
        Files.write(dir.resolve(FashionMnist.TEST_LABELS), new byte[0]);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DataSource.resolve(dir, dir.resolve("unused"), log::add));

        assertMentions(e.getMessage(), dir.toString(), FashionMnist.TRAIN_LABELS, FashionMnist.TEST_IMAGES);
        assertTrue(!e.getMessage().contains(FashionMnist.TRAIN_IMAGES), e.getMessage());
    }

    @Test
    void anExplicitDirectoryThatDoesNotExistIsAnError() {
        Path missing = dir.resolve("nowhere");

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DataSource.resolve(missing, dir, log::add));

        assertMentions(e.getMessage(), missing.toString(), "no such directory");
    }

    @Test
    void anExplicitDirectoryLoadsPlainOrGzippedFiles() throws IOException {
        IdxFixtures.writeMiniatureSet(dir, 12, 5, false);

        DataSource source = DataSource.resolve(dir, dir.resolve("unused"), log::add);
        TrainTestSplit split = source.load();

        assertInstanceOf(DataSource.IdxDirectory.class, source);
        assertEquals(12, split.train().samples());
        assertEquals(5, split.test().samples());
        assertEquals(6, split.featureCount());
        assertEquals(3, split.classes());
        assertTrue(log.isEmpty(), log.toString());
    }

    @Test
    void withoutADirectoryTheInstalledPackageIsUsed() throws IOException {
        IdxFixtures.writeMiniatureSet(dir, 4, 2, true);

        DataSource source = DataSource.resolve(null, dir, log::add);

        assertEquals(new DataSource.IdxDirectory(dir), source);
        assertEquals(4, source.load().train().samples());
    }

    @Test
    void withNeitherTheSyntheticSetIsUsedAndAnnouncedOnce() {
        DataSource source = DataSource.resolve(null, dir.resolve("absent"), log::add);

        assertInstanceOf(DataSource.Synthetic.class, source);
        assertEquals(1, log.size(), log.toString());
        assertMentions(log.get(0), "synthetic", "apt-get install dataset-fashion-mnist");
    }
}
