package io.gpups.worker.model;

import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.tensor.ChunkLayout;
import io.gpups.core.tensor.Partitioner;
import io.gpups.core.tensor.TensorSpec;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The default job's model, as the worker registers it (mlp:256,128 over Fashion-MNIST's 784 inputs and 10 classes),
 * placed on 2, 3 and 4 shards: each shard within 1.15x of the mean. A shard receives its bytes from every worker on
 * every step, so these are also each shard's share of the pushed traffic.
 */
class DefaultJobPlacementTest {

    private static List<TensorSpec> defaultModel() {
        return ModelSpec.parse("mlp:256,128").create(784, 10, 42).tensors(OptimizerSpec.defaults("adam", 1e-3f));
    }

    @Test
    void theDefaultModelIsBalancedOnTwoThreeAndFourShards() {
        List<TensorSpec> model = defaultModel();
        assertEquals(940_584, 4 * model.stream().mapToLong(TensorSpec::elements).sum());
        long[][] expected = {
            {497_816, 442_768},
            {313_112, 313_572, 313_900},
            {250_792, 195_744, 247_024, 247_024},
        };
        for (int shards = 2; shards <= 4; shards++) {
            Partitioner.Placement p = Partitioner.place(model, shards, ChunkLayout.DEFAULT_CHUNK_BYTES);
            assertArrayEquals(expected[shards - 2], p.bytesPerShard(), shards + " shards");
            assertTrue(p.imbalance() <= Partitioner.MAX_IMBALANCE, shards + " shards: " + p.imbalance());
        }
    }

    @Test
    void onlyTheTwoLargeWeightsAreCutAndInTheSamePiecesForEveryShardCount() {
        // Whole 4 MiB chunks would put layer0.weight (802,816 bytes) alone on a shard and the other 137,768 bytes on
        // the other: 5.8x. Pieces of at most 64 KiB cut the two weights that exceed them; the rest stay one chunk.
        for (int shards = 2; shards <= 4; shards++) {
            Partitioner.Placement p = Partitioner.place(defaultModel(), shards, ChunkLayout.DEFAULT_CHUNK_BYTES);
            assertEquals(new ChunkLayout(200_704, 15_439), p.of("layer0.weight").layout(), shards + " shards");
            assertEquals(new ChunkLayout(32_768, 16_384), p.of("layer1.weight").layout(), shards + " shards");
            for (String whole : List.of("layer0.bias", "layer1.bias", "layer2.weight", "layer2.bias")) {
                assertEquals(1, p.of(whole).layout().chunks(), whole);
                assertEquals(ChunkLayout.DEFAULT_CHUNK_BYTES / 4, p.of(whole).layout().chunkElements(), whole);
            }
        }
    }
}
