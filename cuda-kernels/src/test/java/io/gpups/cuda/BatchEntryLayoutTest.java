package io.gpups.cuda;

import io.gpups.core.optim.KernelParameters;
import io.gpups.core.optim.OptimizerSpec.OptimizerKind;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link BatchEntryLayout}'s offsets are those of {@code BatchEntry} as g++ lays it out when it compiles
 * gpups_kernels.cu for the host CUDA model (the same struct nvcc compiles: pointers and long longs are 8 bytes and
 * 8-aligned on both), and the accumulation's kind is no optimizer's id.
 */
class BatchEntryLayoutTest {

    @Test
    void theJavaOffsetsAreTheCompiledStructs() {
        Map<String, Integer> compiled = new LinkedHashMap<>();
        for (String field : HostCudaModel.batch_entry_layout().split(",")) {
            String[] nameValue = field.split("=");
            compiled.put(nameValue[0], Integer.parseInt(nameValue[1]));
        }
        Map<String, Integer> java = new LinkedHashMap<>();
        java.put("param", BatchEntryLayout.PARAM_OFFSET);
        java.put("slot0", BatchEntryLayout.SLOT0_OFFSET);
        java.put("slot1", BatchEntryLayout.SLOT1_OFFSET);
        java.put("gradient", BatchEntryLayout.GRADIENT_OFFSET);
        java.put("n", BatchEntryLayout.COUNT_OFFSET);
        java.put("kind", BatchEntryLayout.KIND_OFFSET);
        java.put("guard", BatchEntryLayout.GUARD_OFFSET);
        java.put("params", BatchEntryLayout.PARAMS_OFFSET);
        java.put("bytes", BatchEntryLayout.BYTES);
        java.put("params_floats", KernelParameters.MAX_FLOATS);
        java.put("accumulate", BatchEntryLayout.KIND_ACCUMULATE);
        assertEquals(java, compiled);
    }

    @Test
    void anAccumulationsKindIsNoOptimizersId() {
        assertEquals(0, Arrays.stream(OptimizerKind.values()).filter(k -> k.id == BatchEntryLayout.KIND_ACCUMULATE).count());
    }
}
