package io.gpups.core.optim;

import org.junit.jupiter.api.Test;

import java.math.BigDecimal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The float structs of optimizers.cuh, field by field. */
class KernelParametersTest {

    @Test
    void eachKindGivesItsStructsFieldsInDeclarationOrder() {
        assertArrayEquals(new float[] {0.1f, 0.01f, 0.5f}, KernelParameters.of(new OptimizerSpec.Sgd(0.1f, 0.01f), 1, 0.5f));
        assertArrayEquals(new float[] {0.1f, 0.9f, 0.01f, 0.5f},
                KernelParameters.of(new OptimizerSpec.Momentum(0.1f, 0.9f, 0.01f), 1, 0.5f));
        assertArrayEquals(new float[] {0.1f, 0.8f, 0.02f, 0.5f},
                KernelParameters.of(new OptimizerSpec.Nesterov(0.1f, 0.8f, 0.02f), 1, 0.5f));
        // The initial accumulator keeps its wire position 2 in the struct (the step does not read it).
        assertArrayEquals(new float[] {0.1f, 1e-8f, 7f, 0.03f, 0.5f},
                KernelParameters.of(new OptimizerSpec.Adagrad(0.1f, 1e-8f, 7f, 0.03f), 1, 0.5f));
        float[] adam = KernelParameters.of(new OptimizerSpec.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f), 3, 0.25f);
        assertArrayEquals(new float[] {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f,
                (float) (1 - Math.pow(0.9f, 3)), (float) (1 - Math.pow(0.999f, 3)), 0.25f}, adam);
        float[] adamw = KernelParameters.of(new OptimizerSpec.AdamW(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f), 3, 0.25f);
        assertArrayEquals(adam, adamw);
        assertArrayEquals(new float[] {1e-4f, 0.9f, 0.99f, 0.1f, 0.25f},
                KernelParameters.of(new OptimizerSpec.Lion(1e-4f, 0.9f, 0.99f, 0.1f), 3, 0.25f));
    }

    /** One order: the struct starts with the hyper-parameters in wire order, for every kind, and fits the padded struct. */
    @Test
    void everyKindsStructIsItsWireHyperParametersThenStepTermsThenGradScale() {
        for (OptimizerSpec.OptimizerKind kind : OptimizerSpec.OptimizerKind.values()) {
            OptimizerSpec spec = OptimizerSpec.defaults(kind.cliName(), 0.125f);
            float[] wire = spec.hyperParameters();
            float[] struct = KernelParameters.of(spec, 4, 0.5f);
            assertEquals(kind.hyperParameterNames.size(), wire.length, kind.cliName());
            assertArrayEquals(wire, java.util.Arrays.copyOf(struct, wire.length), kind.cliName());
            assertArrayEquals(spec.stepTerms(4), java.util.Arrays.copyOfRange(struct, wire.length, struct.length - 1),
                    kind.cliName());
            assertEquals(0.5f, struct[struct.length - 1], kind.cliName());
            org.junit.jupiter.api.Assertions.assertTrue(struct.length <= KernelParameters.MAX_FLOATS, kind.cliName());
        }
    }

    /**
     * {@code 1 - beta^t} rounded once to float, against the exact value (BigDecimal powers of the float beta). In
     * float arithmetic ({@code 1f - (float) Math.pow(beta, t)}, or a running product) beta2 = 0.999 is off by 57 ulps
     * already at t = 2, which is what biases Adam's first steps.
     */
    @Test
    void biasCorrectionIsTheExactValueRoundedOnceToFloat() {
        for (float beta : new float[] {0.9f, 0.99f, 0.999f, 0.9999f}) {
            for (int t = 1; t <= 50; t++) {
                float exact = BigDecimal.ONE.subtract(new BigDecimal(beta).pow(t)).floatValue();
                assertEquals(exact, KernelParameters.biasCorrection(beta, t), "beta " + beta + " step " + t);
            }
        }
        assertEquals(1f, KernelParameters.biasCorrection(0.9f, 1_000_000));
    }
}
