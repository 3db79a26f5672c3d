package io.gpups.worker.data;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SyntheticClassificationTest {

    private static final SyntheticClassification SMALL = new SyntheticClassification(500, 100, 20, 4, 0.1f, 0.25f, 0.1f, 7L);

    @Test
    void theSameSeedGivesTheSameBytes() {
        TrainTestSplit first = SMALL.generate();
        TrainTestSplit second = SMALL.generate();

        assertArrayEquals(bytes(first.train().features()), bytes(second.train().features()));
        assertArrayEquals(first.train().labels(), second.train().labels());
        assertArrayEquals(bytes(first.test().features()), bytes(second.test().features()));
        assertArrayEquals(first.test().labels(), second.test().labels());
    }

    @Test
    void anotherSeedGivesAnotherSet() {
        SyntheticClassification other = new SyntheticClassification(500, 100, 20, 4, 0.1f, 0.25f, 0.1f, 8L);

        assertFalse(Arrays.equals(SMALL.generate().train().features(), other.generate().train().features()));
    }

    @Test
    void hasTheRequestedShapeWithFeaturesInTheUnitInterval() {
        TrainTestSplit split = SMALL.generate();

        assertEquals(500, split.train().samples());
        assertEquals(100, split.test().samples());
        assertEquals(20, split.featureCount());
        assertEquals(4, split.classes());
        for (float x : split.train().features()) {
            assertTrue(x >= 0f && x <= 1f, "feature " + x + " outside [0, 1]");
        }
        int[] perClass = new int[4];
        for (int label : split.train().labels()) {
            perClass[label]++;
        }
        for (int count : perClass) {
            assertTrue(count > 80, "class counts " + Arrays.toString(perClass) + " are far from balanced");
        }
    }

    @Test
    void theDefaultSetHasFashionMnistsShape() {
        SyntheticClassification fashion = SyntheticClassification.fashionMnistShaped(1L);

        assertEquals(12_000, fashion.trainSamples());
        assertEquals(2_000, fashion.testSamples());
        assertEquals(784, fashion.featureCount());
        assertEquals(10, fashion.classes());
    }

    private static byte[] bytes(float[] values) {
        ByteBuffer buffer = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buffer.asFloatBuffer().put(values);
        return buffer.array();
    }
}
