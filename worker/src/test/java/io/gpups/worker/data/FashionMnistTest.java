package io.gpups.worker.data;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Loads the real Fashion-MNIST from the Debian package's directory. Skipped when the set is not installed,
 * except under CI (environment variable {@code CI} set, and not to {@code false}), where a missing set fails.
 */
class FashionMnistTest {

    @Test
    void loadsTheInstalledSet() throws IOException {
        if (!FashionMnist.isComplete(FashionMnist.DEBIAN_PACKAGE_DIR)) {
            String reason = "Fashion-MNIST is missing from " + FashionMnist.DEBIAN_PACKAGE_DIR + " (lacks "
                    + FashionMnist.missingFiles(FashionMnist.DEBIAN_PACKAGE_DIR) + "); install it with `"
                    + FashionMnist.INSTALL_HINT + "`";
            if (runningInCi()) {
                fail("CI=" + System.getenv("CI") + " requires the data set: " + reason);
            }
            Assumptions.abort(reason);
        }

        TrainTestSplit split = FashionMnist.load(FashionMnist.DEBIAN_PACKAGE_DIR);

        assertEquals(60_000, split.train().samples());
        assertEquals(10_000, split.test().samples());
        assertEquals(28 * 28, split.featureCount());
        assertEquals(10, split.classes());
        Path testImages = FashionMnist.DEBIAN_PACKAGE_DIR.resolve(FashionMnist.TEST_IMAGES + ".gz");
        if (Files.exists(testImages)) {
            assertArrayEquals(new int[] {10_000, 28, 28}, IdxReader.read(testImages).dimensions());
        }
    }

    private static boolean runningInCi() {
        String ci = System.getenv("CI");
        return ci != null && !ci.isBlank() && !ci.equalsIgnoreCase("false") && !ci.equals("0");
    }
}
