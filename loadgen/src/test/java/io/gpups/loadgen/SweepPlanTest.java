package io.gpups.loadgen;

import io.gpups.core.codec.Codec;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SweepPlanTest {

    @Test
    void defaultSweepWalksThreeLinesThroughTheGrid() {
        SweepPlan plan = SweepPlan.parse(SweepPlan.DEFAULT_SIZES, SweepPlan.DEFAULT_SHARDS, SweepPlan.DEFAULT_WORKERS,
                SweepPlan.DEFAULT_CODECS, false);
        List<SweepPlan.Point> points = plan.points();
        // 8 sizes; 2 x 2 shard/worker counts at the two sizes of >= 2 chunks (16 and 64 MiB), 2 of them already
        // counted; 3 codecs x 8 sizes.
        assertEquals(8 + 6 + 24, points.size());
        assertEquals(points.size(), Set.copyOf(points).size());
        assertEquals(new SweepPlan.Point(4096, 1, 1, Codec.NONE), points.get(0));
        assertTrue(points.contains(new SweepPlan.Point(16 << 20, 2, 2, Codec.NONE)));
        assertTrue(points.contains(new SweepPlan.Point(64 << 20, 1, 1, Codec.SIGN)));
        assertEquals(128, SweepPlan.parse(SweepPlan.DEFAULT_SIZES, SweepPlan.DEFAULT_SHARDS, SweepPlan.DEFAULT_WORKERS,
                SweepPlan.DEFAULT_CODECS, true).points().size());
    }
}
