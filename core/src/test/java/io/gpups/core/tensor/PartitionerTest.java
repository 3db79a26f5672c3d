package io.gpups.core.tensor;

import io.gpups.core.optim.OptimizerSpec;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PartitionerTest {

    private static TensorSpec tensor(String name, long elements) {
        return new TensorSpec(name, new long[] {elements}, Initializer.zeros(), OptimizerSpec.defaults("sgd", 0.1f));
    }

    @Test
    void cutsIntoChunksOfAtMostChunkBytes() {
        Partitioner.Placement p = Partitioner.place(List.of(tensor("w", 10)), 3, 16);
        Partitioner.TensorPlacement w = p.of("w");
        assertEquals(3, w.layout().chunks());
        assertEquals(4, w.layout().length(0));
        assertEquals(2, w.layout().length(2));
        assertEquals(8, w.layout().offset(2));
        assertArrayEquals(new int[] {0, 1, 2}, w.shardOfChunk());
    }

    @Test
    void balancesBytesAcrossShards() {
        // 4 MiB chunks: a 10 MiB tensor makes 4+4+2, a 2 MiB one goes where there is least.
        Partitioner.Placement p = Partitioner.place(
                List.of(tensor("big", 10L << 18), tensor("small", 2L << 18), tensor("bias", 256)), 2, 4 << 20);
        assertArrayEquals(new int[] {0, 1, 0}, p.of("big").shardOfChunk());
        assertArrayEquals(new int[] {1}, p.of("small").shardOfChunk());
        assertArrayEquals(new int[] {0}, p.of("bias").shardOfChunk());
        assertArrayEquals(new long[] {(6L << 20) + 1024, 6L << 20}, p.bytesPerShard());
        assertArrayEquals(new int[] {0, 2}, p.of("big").chunksOn(0));
    }

    @Test
    void isDeterministic() {
        List<TensorSpec> model = List.of(tensor("a", 1000), tensor("b", 7), tensor("c", 123456));
        assertEquals(Partitioner.place(model, 3, 4096).bytesPerShard()[2], Partitioner.place(model, 3, 4096).bytesPerShard()[2]);
        assertArrayEquals(Partitioner.place(model, 3, 4096).of("c").shardOfChunk(),
                Partitioner.place(model, 3, 4096).of("c").shardOfChunk());
    }

    @Test
    void rejectsBadArguments() {
        assertThrows(IllegalArgumentException.class, () -> Partitioner.place(List.of(), 0, 16));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Partitioner.place(List.of(tensor("a", 1), tensor("a", 1)), 1, 16));
        assertEquals("tensor 'a' appears twice in the model", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Partitioner.place(List.of(), 1, 6));
    }

    @Test
    void initializerDependsOnlyOnTheIndex() {
        Initializer init = Initializer.glorotUniform(784, 256, 7);
        float[] whole = new float[100];
        init.fill(0, whole, 100);
        float[] tail = new float[40];
        init.fill(60, tail, 40);
        for (int i = 0; i < 40; i++) {
            assertEquals(whole[60 + i], tail[i]);
        }
        float bound = (float) Math.sqrt(6.0 / (784 + 256));
        for (float v : whole) {
            assertEquals(0, v, bound);
        }
    }
}
