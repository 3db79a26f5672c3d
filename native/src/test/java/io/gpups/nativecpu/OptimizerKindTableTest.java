package io.gpups.nativecpu;

import io.gpups.core.optim.KernelParameters;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.optim.OptimizerSpec.OptimizerKind;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The Java kind table ({@link OptimizerKind}) and the kernel headers' ({@code GPUPS_OPTIMIZER_KINDS} in
 * {@code gpups/optimizers.cuh}), as compiled into the CPU device, hold the same optimizers: the same ids, names, slot
 * counts and parameter structs of the size {@link KernelParameters} builds. The CUDA kernels compile the same header.
 */
class OptimizerKindTableTest {

    /** Ids past every kind the table may hold; the header has none at or above it. */
    private static final int ID_LIMIT = 256;

    @Test
    void theCompiledTableHoldsEveryJavaKindAndNothingElse() {
        Map<Integer, String> compiled = new TreeMap<>();
        for (int id = -1; id < ID_LIMIT; id++) {
            String name = CpuKernels.optimizer_kind_name(id);
            if (name != null) {
                compiled.put(id, name + " slots=" + CpuKernels.optimizer_kind_slots(id)
                        + " params=" + CpuKernels.optimizer_kind_params(id));
            }
        }
        Map<Integer, String> java = new TreeMap<>();
        for (OptimizerKind kind : OptimizerKind.values()) {
            int params = KernelParameters.of(OptimizerSpec.defaults(kind.cliName(), 0.1f), 1, 1f).length;
            java.put(kind.id, kind.cliName() + " slots=" + kind.slots + " params=" + params);
        }
        assertEquals(java, compiled);
    }

    @Test
    void unknownIdsAreNotInTheTable() {
        assertEquals(-1, CpuKernels.optimizer_kind_slots(ID_LIMIT));
        assertEquals(-1, CpuKernels.optimizer_kind_params(-1));
    }

    @Test
    void thePaddedStructIsTheSameSize() {
        assertEquals(KernelParameters.MAX_FLOATS, CpuKernels.optimizer_params_max());
    }
}
