package io.gpups.server.checkpoint;

import io.gpups.core.config.Consistency;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A table's rows in a shard's safetensors file, as the README's "Checkpoints" lays them out, read by an independent reader. */
class TableCheckpointFilesTest {

    @TempDir
    Path root;

    @Test
    void aTablesRowsAreSafetensorsEntriesBesideTheChunksAndItsPartDescribesThem() throws IOException {
        TableSpec spec = new TableSpec("emb/items", 2, Initializer.zeros(),
                new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0f), 64, Eviction.LFU);
        // Two rows, paged as the snapshot pages them: values and state slots split over two arrays.
        ShardSnapshot.TableSnapshot rows = new ShardSnapshot.TableSnapshot(spec, 9, new long[] {7, 12},
                List.of(new float[] {1, 2}, new float[] {3, 4}),
                List.of(List.of(new float[] {0.1f, 0.2f}, new float[] {0.3f, 0.4f}), List.of(new float[] {5, 6, 7, 8})),
                new long[] {3, 0}, new long[] {9, 4}, new long[] {5, 1});
        new CheckpointWriter(root, 0).write(new ShardSnapshot("t", 0, 1, 1, Consistency.parse("asp"), 1000, List.of(),
                List.of(rows)));
        Path dir = root.resolve("ckpt-t-1shards");

        MinimalSafeTensorsReader f = new MinimalSafeTensorsReader(Files.readAllBytes(dir.resolve("shard-0.safetensors")));
        Map<String, MinimalSafeTensorsReader.Tensor> t = f.tensors;
        assertEquals(List.of("table/emb/items/ids", "table/emb/items/step", "table/emb/items/last_touch",
                "table/emb/items/touches", "table/emb/items/values", "table/emb/items/state/m", "table/emb/items/state/v"),
                List.copyOf(t.keySet()), "I64 entries first, then F32, each in the order written");
        assertEquals("I64", t.get("table/emb/items/ids").dtype());
        assertArrayEquals(new long[] {2}, t.get("table/emb/items/ids").shape());
        assertArrayEquals(new double[] {7, 12}, t.get("table/emb/items/ids").values());
        assertArrayEquals(new long[] {2, 2}, t.get("table/emb/items/values").shape());
        assertArrayEquals(new double[] {1, 2, 3, 4}, t.get("table/emb/items/values").values());
        assertArrayEquals(new double[] {0.1f, 0.2f, 0.3f, 0.4f}, t.get("table/emb/items/state/m").values());
        assertArrayEquals(new double[] {5, 6, 7, 8}, t.get("table/emb/items/state/v").values());
        assertArrayEquals(new double[] {3, 0}, t.get("table/emb/items/step").values());
        assertArrayEquals(new double[] {9, 4}, t.get("table/emb/items/last_touch").values());
        assertArrayEquals(new double[] {5, 1}, t.get("table/emb/items/touches").values());

        CheckpointCatalog.Found found = CheckpointCatalog.check(dir, true, false);
        assertTrue(found.complete(), found.problem());
        Manifest.TableEntry entry = found.manifest().tables().get(0);
        assertEquals(spec, entry.spec(), "the definition reads back as registered");
        assertEquals(9, entry.clock());
        assertEquals(new Manifest.TablePartEntry(0, "shard-0.safetensors", 2, 9, "table/emb/items/ids",
                "table/emb/items/values", Map.of("m", "table/emb/items/state/m", "v", "table/emb/items/state/v"),
                "table/emb/items/step", "table/emb/items/last_touch", "table/emb/items/touches"), entry.parts().get(0));
        assertEquals(found.manifest().tables(), Manifest.read(dir.resolve(CheckpointWriter.MANIFEST)).tables(),
                "manifest.json holds the merged table");
    }
}
