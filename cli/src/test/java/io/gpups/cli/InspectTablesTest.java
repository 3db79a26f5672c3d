package io.gpups.cli;

import io.gpups.core.config.Consistency;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.RowIds;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;
import io.gpups.server.checkpoint.CheckpointCatalog;
import io.gpups.server.checkpoint.CheckpointWriter;
import io.gpups.server.checkpoint.ShardSnapshot;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.LongStream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code gpups inspect} lists each table of a checkpoint with its rows on every shard. */
class InspectTablesTest {

    @TempDir
    Path dir;

    @Test
    void eachTableIsListedWithItsRowsPerShard() throws Exception {
        TableSpec spec = new TableSpec("items", 2, Initializer.zeros(), new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0f),
                64, Eviction.LRU);
        long[] ids = LongStream.range(0, 10).toArray();
        CheckpointWriter writer = new CheckpointWriter(dir, 0);
        int[] rows = new int[2];
        for (int s = 0; s < 2; s++) {
            int shard = s;
            long[] mine = Arrays.stream(ids).filter(id -> RowIds.shardOf(id, 2) == shard).toArray();
            rows[s] = mine.length;
            int n = mine.length;
            long[] ones = new long[n];
            Arrays.fill(ones, 1);
            writer.write(new ShardSnapshot("t", s, 2, 1, Consistency.parse("asp"), 1000, List.of(), List.of(
                    new ShardSnapshot.TableSnapshot(spec, 7 + s, mine, List.of(new float[2 * n]),
                            List.of(List.of(new float[2 * n]), List.of(new float[2 * n])), ones, ones, ones))));
        }
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        InspectCommand.print(new PrintStream(buf, true, StandardCharsets.UTF_8), dir, CheckpointCatalog.scan(dir, true), false);
        String out = buf.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("ckpt-t-2shards  complete"), out);
        assertTrue(out.contains("0 tensor(s), 0 chunk(s), 1 table(s)"), out);
        assertTrue(out.contains("table items              dim 2, 10 row(s) (shard 0: " + rows[0] + ", 1: " + rows[1]
                + "), clock 8, 64 rows/shard, eviction lru  adam(lr=0.01"), out);
        assertTrue(out.contains("state m,v"), out);
    }
}
