package io.gpups.server;

import io.gpups.core.config.Consistency;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.protocol.TableMessages;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.RowIds;
import io.gpups.core.table.RowTable;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;
import io.gpups.server.checkpoint.CheckpointCatalog;
import io.gpups.server.checkpoint.CheckpointSettings;
import io.gpups.server.checkpoint.CheckpointWriter;
import io.gpups.server.checkpoint.ShardSnapshot;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Embedding tables in checkpoints, below the socket: a table's rows come back bit for bit with their optimizer state
 * and counters, so training goes on as if never stopped; rows written by one shard count land, each once, on the
 * shard of another count that owns them; and a table the checkpoint cannot fill is refused, naming why.
 */
class TableCheckpointsTest {

    private static final int DIM = 4;
    private static final Initializer INIT = new Initializer(Initializer.Kind.UNIFORM, 0.5f, 17);
    private static final OptimizerSpec.Adam ADAM = new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0f);
    private static final OptimizerSpec.Sgd SGD = new OptimizerSpec.Sgd(0.25f, 0f);

    @TempDir
    Path dir;

    private static TableSpec items(OptimizerSpec optimizer, int dim, long capacity) {
        return new TableSpec("items", dim, INIT, optimizer, capacity, Eviction.NONE);
    }

    private static CheckpointSettings writes(Path to) {
        return new CheckpointSettings(to, null, 0, null);
    }

    private static CheckpointSettings restores(Path from) {
        return new CheckpointSettings(null, null, 0, from);
    }

    private static EmbeddedShard.Answer registerTable(EmbeddedShard shard, EmbeddedChannel ch, TableSpec spec) {
        return shard.call(ch, Opcode.REGISTER_TABLE, new TableMessages.RegisterTable(spec));
    }

    private static int register(EmbeddedShard shard, EmbeddedChannel ch, TableSpec spec) {
        return Messages.RegisterReply.read(registerTable(shard, ch, spec).ok().payload()).tensorId();
    }

    private static ByteBuf rows(int table, long[] ids, float[] grads) {
        ByteBuf b = Unpooled.buffer();
        new TableMessages.RowsHeader(table, RowDtype.FP32, ids.length, 1).writeTo(b);
        for (long id : ids) {
            b.writeLongLE(id);
        }
        if (grads != null) {
            for (float g : grads) {
                b.writeFloatLE(g);
            }
        }
        return b;
    }

    /** The rows of {@code ids}, fp32, row after row. */
    private static float[] pull(EmbeddedShard shard, EmbeddedChannel ch, int table, int dim, long... ids) {
        shard.sendRaw(ch, Opcode.PULL_ROWS, rows(table, ids, null));
        shard.run();
        EmbeddedShard.Answer a = shard.answer(ch);
        assertEquals(Opcode.DATA, a.opcode(), a::toString);
        ByteBuf p = a.payload().duplicate();
        assertEquals(ids.length, TableMessages.RowsReplyHeader.read(p, dim).count());
        float[] v = new float[ids.length * dim];
        for (int i = 0; i < v.length; i++) {
            v[i] = p.readFloatLE();
        }
        return v;
    }

    private static void push(EmbeddedShard shard, EmbeddedChannel ch, int table, long[] ids, float[] grads) {
        shard.sendRaw(ch, Opcode.PUSH_ROWS, rows(table, ids, grads));
        shard.run();
        shard.answer(ch).ok();
    }

    /** CHECKPOINT {@code name} (straight to the agent: an embedded channel is no loopback connection), answered OK. */
    private static void checkpoint(EmbeddedShard shard, EmbeddedChannel ch, String name) throws Exception {
        shard.agent.submit(() -> shard.agent.checkpoint(ch, 99, new Messages.Checkpoint(name)));
        shard.run();
        shard.agent.checkpoints().awaitWrites();
        shard.answer(ch).ok();
    }

    /** Every stored row's counters (step, last touch, touches), by id. */
    private static Map<Long, List<Long>> counters(EmbeddedShard shard, int table) {
        RowTable t = shard.agent.tables().get(table).rows;
        int n = (int) t.rows();
        long[] ids = new long[n];
        int[] slots = new int[n];
        assertEquals(n, t.listRows(0, n, ids, slots));
        long[] c = new long[3 * n];
        t.readCounters(slots, n, c);
        Map<Long, List<Long>> out = new HashMap<>();
        for (int i = 0; i < n; i++) {
            out.put(ids[i], List.of(c[3 * i], c[3 * i + 1], c[3 * i + 2]));
        }
        return out;
    }

    /** The ids stored in a shard's table. */
    private static Set<Long> stored(EmbeddedShard shard, int table) {
        return counters(shard, table).keySet();
    }

    private static float[] gradients(int rows, int seed) {
        float[] g = new float[rows * DIM];
        for (int i = 0; i < g.length; i++) {
            g[i] = (float) Math.sin(seed * 1000 + i) * 0.75f;
        }
        return g;
    }

    @Test
    void aRestoredTableHoldsEveryRowBitForBitAndAdamStepsOnAsIfNeverStopped() throws Exception {
        long[] ids = {3, 17, -5, 1L << 40, 99, 1234567};
        long[] twice = {17, 99};
        float[] atCheckpoint;
        float[] afterNextPush;
        Map<Long, List<Long>> countersAfter;
        long clockAtCheckpoint;
        try (EmbeddedShard uninterrupted = new EmbeddedShard(0, 1, writes(dir))) {
            EmbeddedChannel ch = uninterrupted.worker(0);
            int t = register(uninterrupted, ch, items(ADAM, DIM, 64));
            push(uninterrupted, ch, t, ids, gradients(ids.length, 1));
            push(uninterrupted, ch, t, twice, gradients(twice.length, 2));
            pull(uninterrupted, ch, t, DIM, 4242);  // a row born by a pull: step 0
            checkpoint(uninterrupted, ch, "rows");
            clockAtCheckpoint = uninterrupted.agent.tables().get(t).clock;
            assertEquals(3, clockAtCheckpoint, "three requests before the checkpoint");

            atCheckpoint = pull(uninterrupted, ch, t, DIM, ids);
            push(uninterrupted, ch, t, ids, gradients(ids.length, 3));
            afterNextPush = pull(uninterrupted, ch, t, DIM, ids);
            countersAfter = counters(uninterrupted, t);
        }
        try (EmbeddedShard restored = new EmbeddedShard(0, 1, restores(dir))) {
            EmbeddedChannel ch = restored.worker(0);
            int t = register(restored, ch, items(ADAM, DIM, 64));
            ShardTables.TableState state = restored.agent.tables().get(t);
            assertEquals(clockAtCheckpoint, state.clock, "the restored table's clock is the checkpoint's");
            assertEquals(ids.length + 1, state.rowsRestored);
            assertEquals(0, state.rowsNotRestored);

            assertArrayEquals(atCheckpoint, pull(restored, ch, t, DIM, ids), "values as checkpointed, bit for bit");
            push(restored, ch, t, ids, gradients(ids.length, 3));
            assertArrayEquals(afterNextPush, pull(restored, ch, t, DIM, ids),
                    "the next Adam step (moments and per-row step restored) equals the uninterrupted run's");
            assertEquals(countersAfter, counters(restored, t),
                    "steps, last touches (the clock went on from the checkpoint's) and touch counts");
            assertEquals(List.of(0L, clockAtCheckpoint, 1L), countersAfter.get(4242L), "the row born by the last pull");
        }
    }

    @Test
    void rowsWrittenByTwoShardsLandEachOnceOnTheShardThatOwnsThemInThreeShardsOrOne() throws Exception {
        TableSpec spec = items(SGD, DIM, 512);
        long[] ids = new long[300];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = RowIds.mix(i + 1) >>> 3;
        }
        Map<Long, float[]> expected = new HashMap<>();
        for (int s = 0; s < 2; s++) {
            try (EmbeddedShard old = new EmbeddedShard(s, 2, writes(dir))) {
                EmbeddedChannel ch = old.worker(0);
                int t = register(old, ch, spec);
                long[] mine = owned(ids, s, 2);
                push(old, ch, t, mine, gradients(mine.length, s + 1));
                checkpoint(old, ch, "two");
                float[] v = pull(old, ch, t, DIM, mine);
                for (int i = 0; i < mine.length; i++) {
                    expected.put(mine[i], java.util.Arrays.copyOfRange(v, i * DIM, (i + 1) * DIM));
                }
            }
        }
        assertTrue(CheckpointCatalog.check(dir.resolve("ckpt-two-2shards"), true, false).complete());
        for (int shards : new int[] {3, 1}) {
            Set<Long> seen = new HashSet<>();
            int total = 0;
            for (int s = 0; s < shards; s++) {
                try (EmbeddedShard now = new EmbeddedShard(s, shards, restores(dir))) {
                    EmbeddedChannel ch = now.worker(0);
                    int t = register(now, ch, spec);
                    Set<Long> here = stored(now, t);
                    for (long id : here) {
                        assertEquals(s, RowIds.shardOf(id, shards), "id " + id + " restored on shard " + s + " of " + shards);
                    }
                    total += here.size();
                    seen.addAll(here);
                    long[] mine = owned(ids, s, shards);
                    assertEquals(mine.length, here.size(), "rows on shard " + s + " of " + shards);
                    float[] v = pull(now, ch, t, DIM, mine);
                    for (int i = 0; i < mine.length; i++) {
                        assertArrayEquals(expected.get(mine[i]), java.util.Arrays.copyOfRange(v, i * DIM, (i + 1) * DIM),
                                "row " + mine[i] + " on shard " + s + " of " + shards);
                    }
                }
            }
            assertEquals(ids.length, total, "rows over " + shards + " shard(s): none lost, none twice");
            assertEquals(expected.keySet(), seen);
        }
    }

    private static long[] owned(long[] ids, int shard, int shards) {
        return java.util.Arrays.stream(ids).filter(id -> RowIds.shardOf(id, shards) == shard).toArray();
    }

    @Test
    void aSecondCheckpointUnderTheSameNameRewritesATableWhoseRowsChanged() throws Exception {
        long[] ids = {5, 6};
        float[] latest;
        try (EmbeddedShard old = new EmbeddedShard(0, 1, writes(dir))) {
            EmbeddedChannel ch = old.worker(0);
            int t = register(old, ch, items(SGD, DIM, 64));
            push(old, ch, t, ids, gradients(ids.length, 1));
            checkpoint(old, ch, "same");
            push(old, ch, t, ids, gradients(ids.length, 2));
            checkpoint(old, ch, "same");
            latest = pull(old, ch, t, DIM, ids);
        }
        try (EmbeddedShard now = new EmbeddedShard(0, 1, restores(dir))) {
            EmbeddedChannel ch = now.worker(0);
            int t = register(now, ch, items(SGD, DIM, 64));
            assertArrayEquals(latest, pull(now, ch, t, DIM, ids), "the rows of the second checkpoint");
        }
    }

    @Test
    void rowsWithoutRoomAreCountedNotLost() throws Exception {
        long[] ids = new long[40];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = 1000 + i;
        }
        try (EmbeddedShard old = new EmbeddedShard(0, 1, writes(dir))) {
            EmbeddedChannel ch = old.worker(0);
            int t = register(old, ch, items(SGD, DIM, 64));
            pull(old, ch, t, DIM, ids);
            checkpoint(old, ch, "big");
        }
        try (EmbeddedShard small = new EmbeddedShard(0, 1, restores(dir))) {
            EmbeddedChannel ch = small.worker(0);
            int t = register(small, ch, items(SGD, DIM, 32));
            ShardTables.TableState state = small.agent.tables().get(t);
            assertEquals(32, state.rowsRestored);
            assertEquals(8, state.rowsNotRestored, "rows of the checkpoint that found no room are counted");
        }
    }

    @Test
    void aTableRegisteredWithAnotherDimOrOptimizerIsRefusedNamingBoth() throws Exception {
        try (EmbeddedShard old = new EmbeddedShard(0, 1, writes(dir))) {
            EmbeddedChannel ch = old.worker(0);
            int t = register(old, ch, items(ADAM, DIM, 64));
            pull(old, ch, t, DIM, 1, 2, 3);
            checkpoint(old, ch, "adam");
        }
        try (EmbeddedShard now = new EmbeddedShard(0, 1, restores(dir))) {
            EmbeddedChannel ch = now.worker(0);
            registerTable(now, ch, items(ADAM, 8, 64)).refused(ErrorCode.BAD_ARGUMENT,
                    "REGISTER_TABLE 'items' cannot be restored from checkpoint " + dir.resolve("ckpt-adam-1shards")
                            + ": dim 8 differs from the checkpoint's 4");
            registerTable(now, ch, items(SGD, DIM, 64)).refused(ErrorCode.BAD_ARGUMENT,
                    "optimizer sgd differs from the checkpoint's adam");
            assertTrue(now.agent.tables().isEmpty(), "a refused table is not registered");
            assertEquals(3, now.agent.tables().get(register(now, ch, items(ADAM, DIM, 64))).rowsRestored,
                    "the matching spec restores");
        }
    }

    @Test
    void aRowInTheFileOfAShardThatDoesNotOwnItIsRefusedNamingTheFile() throws Exception {
        TableSpec spec = items(SGD, DIM, 64);
        long foreign = 0;
        while (RowIds.shardOf(foreign, 2) != 1) {
            foreign++;
        }
        CheckpointWriter writer = new CheckpointWriter(dir, 0);
        writer.write(new ShardSnapshot("bad", 0, 2, 1, Consistency.parse("asp"), 1000, List.of(),
                List.of(table(spec, 5, new long[] {foreign}, new long[] {1}))));
        writer.write(new ShardSnapshot("bad", 1, 2, 1, Consistency.parse("asp"), 1000, List.of(),
                List.of(table(spec, 5, new long[0], new long[0]))));
        assertTrue(CheckpointCatalog.check(dir.resolve("ckpt-bad-2shards"), true, false).complete(),
                "the files are whole; only their rows are wrong");
        try (EmbeddedShard now = new EmbeddedShard(1, 2, restores(dir))) {
            registerTable(now, now.worker(0), spec).refused(ErrorCode.INTERNAL, "shard-0.safetensors: table 'items'"
                    + " row 0: id " + foreign + " belongs to shard 1 of 2, not to shard 0 whose file holds it");
            assertTrue(now.agent.tables().isEmpty());
        }
    }

    @Test
    void aRowTouchedAfterItsShardsClockIsRefusedNamingTheFile() throws Exception {
        TableSpec spec = items(SGD, DIM, 64);
        new CheckpointWriter(dir, 0).write(new ShardSnapshot("late", 0, 1, 1, Consistency.parse("asp"), 1000,
                List.of(), List.of(table(spec, 5, new long[] {7}, new long[] {6}))));
        try (EmbeddedShard now = new EmbeddedShard(0, 1, restores(dir))) {
            registerTable(now, now.worker(0), spec).refused(ErrorCode.INTERNAL,
                    "shard-0.safetensors: table 'items' row 0: last touch 6 is after its shard's clock 5");
        }
    }

    @Test
    void aTableMissingFromAShardsPartOrWithAWrongShapeMakesTheCheckpointUnusable() throws Exception {
        TableSpec spec = items(SGD, DIM, 64);
        CheckpointWriter writer = new CheckpointWriter(dir, 0);
        writer.write(new ShardSnapshot("gap", 0, 2, 1, Consistency.parse("asp"), 1000, List.of(),
                List.of(table(spec, 5, new long[0], new long[0]))));
        writer.write(new ShardSnapshot("gap", 1, 2, 1, Consistency.parse("asp"), 1000, List.of(),
                List.of(table(new TableSpec("other", DIM, INIT, SGD, 64, Eviction.NONE), 5, new long[0], new long[0]))));
        CheckpointCatalog.Found gap = CheckpointCatalog.check(dir.resolve("ckpt-gap-2shards"), true, false);
        assertFalse(gap.complete());
        assertEquals("table 'items': shard-1.json does not hold its rows (every shard holds some of a table's rows)",
                gap.problem());

        long id = 11;
        new CheckpointWriter(dir, 0).write(new ShardSnapshot("shape", 0, 1, 1, Consistency.parse("asp"), 1000,
                List.of(), List.of(table(spec, 5, new long[] {id}, new long[] {1}))));
        Path part = dir.resolve("ckpt-shape-1shards").resolve(CheckpointWriter.partFile(0));
        String json = Files.readString(part);
        assertTrue(json.contains("\"rows\" : 1"), json);
        Files.writeString(part, json.replace("\"rows\" : 1", "\"rows\" : 2"), StandardCharsets.UTF_8);
        CheckpointCatalog.Found shape = CheckpointCatalog.check(dir.resolve("ckpt-shape-1shards"), true, false);
        assertFalse(shape.complete());
        assertNotNull(shape.problem());
        assertTrue(shape.problem().startsWith("shard-0.safetensors: tensor 'table/items/ids' (table/items/ids I64[1]"),
                shape.problem());
        assertTrue(shape.problem().endsWith("of table 'items' should be I64[2]"), shape.problem());
    }

    /** A table snapshot of {@code ids} with zero values, step 1, one touch each at {@code lastTouch}. */
    private static ShardSnapshot.TableSnapshot table(TableSpec spec, long clock, long[] ids, long[] lastTouch) {
        int n = ids.length;
        long[] steps = new long[n];
        long[] touches = new long[n];
        java.util.Arrays.fill(steps, 1);
        java.util.Arrays.fill(touches, 1);
        List<List<float[]>> state = new ArrayList<>();
        for (int k = 0; k < spec.optimizer().slots(); k++) {
            state.add(List.of(new float[n * spec.dim()]));
        }
        return new ShardSnapshot.TableSnapshot(spec, clock, ids, List.of(new float[n * spec.dim()]), state, steps,
                lastTouch, touches);
    }
}
