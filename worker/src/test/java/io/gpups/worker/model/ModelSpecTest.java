package io.gpups.worker.model;

import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.tensor.TensorSpec;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelSpecTest {

    @Test
    void parsesAnMlp() {
        ModelSpec spec = ModelSpec.parse("mlp:256,128");

        assertArrayEquals(new int[] {256, 128}, spec.hidden());
        assertEquals("mlp:256,128", spec.toString());
        Model model = spec.create(784, 10, 1L);
        assertInstanceOf(Mlp.class, model);
        assertEquals("mlp:256,128", model.name());
    }

    @Test
    void parsesLogisticRegression() {
        Model model = ModelSpec.parse(" LogReg ").create(784, 10, 1L);

        assertInstanceOf(LogisticRegression.class, model);
        assertEquals("logreg", model.name());
    }

    @Test
    void rejectsBadSpecsNamingTheBadPart() {
        assertTrue(message("mlp:256,x").contains("'x'"));
        assertTrue(message("mlp:256,0").contains("'0'"));
        assertTrue(message("mlp:").contains("expected logreg or mlp"));
        assertTrue(message("cnn").contains("'cnn'"));
    }

    @Test
    void tensorsAreWeightsShapedInByOutThenBiases() {
        OptimizerSpec sgd = OptimizerSpec.defaults("sgd", 0.1f);
        List<TensorSpec> tensors = new Mlp(784, new int[] {64}, 10, 5L).tensors(sgd);

        assertEquals(4, tensors.size());
        assertEquals("layer0.weight", tensors.get(0).name());
        assertArrayEquals(new long[] {784, 64}, tensors.get(0).shape());
        assertArrayEquals(new long[] {64}, tensors.get(1).shape());
        assertArrayEquals(new long[] {64, 10}, tensors.get(2).shape());
        assertEquals("layer1.bias", tensors.get(3).name());
        assertEquals(tensors, new Mlp(784, new int[] {64}, 10, 5L).tensors(sgd), "every worker must register the same list");
    }

    private static String message(String spec) {
        return assertThrows(IllegalArgumentException.class, () -> ModelSpec.parse(spec)).getMessage();
    }
}
