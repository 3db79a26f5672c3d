package io.gpups.worker.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Which shards a reconnecting worker takes for reset: only those back at version 0 after it saw more. */
class ShardResetCheckTest {

    @Test
    void aShardBackAtZeroAfterItWasSeenLaterIsAReset() {
        ShardResetException e = ShardResetException.check(new long[] {40, 40, 40}, new long[] {41, 41, 0}, 41);
        assertEquals(2, e.shard());
        assertEquals("shard 2 came back with its chunks at version 0, their initial values, but this worker was at step 41 "
                + "and had seen shard 2 at version 40; shard 0 is at version 41, shard 1 is at version 41.",
                e.getMessage().substring(0, e.getMessage().indexOf('.') + 1));
    }

    @Test
    void aShardRestoredBehindTheOthersIsWhatRestoreAskedFor() {
        assertNull(ShardResetException.check(new long[] {120, 120}, new long[] {120, 100}, 121));
    }

    @Test
    void aShardAtZeroThatWasNeverSeenPastZeroOrHoldsNothingIsNoReset() {
        assertNull(ShardResetException.check(new long[] {0, -1}, new long[] {0, 0}, 0), "nothing trained yet");
        assertNull(ShardResetException.check(new long[] {7, -1}, new long[] {7, -1}, 7), "shard 1 holds no chunk");
    }
}
