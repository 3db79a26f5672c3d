package io.gpups.cli;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which worker of a chaos plan holds where, and the {@code --chaos-hold} text that carries it. */
class ChaosHoldTest {

    @Test
    void killWorkerHoldsTheVictimAtTheKillStepAndTheOthersBeforeTheirLastStep() {
        ChaosPlan plan = ChaosPlan.parse("kill-worker:1@60steps", 2, 3);

        assertEquals(new ChaosHold(60, ChaosHold.Until.KILLED), plan.hold(1));
        assertEquals(new ChaosHold(ChaosHold.LAST, ChaosHold.Until.REJOINED), plan.hold(0));
        assertEquals(new ChaosHold(ChaosHold.LAST, ChaosHold.Until.REJOINED), plan.hold(2));
    }

    @Test
    void killShardHoldsEveryWorkerAtTheKillStepUntilItHasLostTheShard() {
        for (String chaos : new String[] {"kill-shard:1@120steps", "kill-shard-fresh:1@2steps"}) {
            ChaosPlan plan = ChaosPlan.parse(chaos, 2, 2);
            long step = plan.afterSteps();
            assertEquals(new ChaosHold(step, ChaosHold.Until.SHARD_LOST), plan.hold(0), chaos);
            assertEquals(new ChaosHold(step, ChaosHold.Until.SHARD_LOST), plan.hold(1), chaos);
        }
    }

    @Test
    void theSecondsFormsHoldNobody() {
        for (String chaos : new String[] {"kill-worker:1@2.5", "kill-shard:0@3", "kill-shard-fresh:1@1"}) {
            ChaosPlan plan = ChaosPlan.parse(chaos, 2, 2);
            assertNull(plan.hold(0), chaos);
            assertNull(plan.hold(1), chaos);
        }
    }

    @Test
    void theWorkerOptionReadsBackWhatLocalWrites() {
        List<ChaosHold> holds = List.of(new ChaosHold(60, ChaosHold.Until.KILLED),
                new ChaosHold(ChaosHold.LAST, ChaosHold.Until.REJOINED), new ChaosHold(2, ChaosHold.Until.SHARD_LOST));
        assertEquals(List.of("--chaos-hold", "60:killed"), holds.get(0).asArgs());
        assertEquals(List.of("--chaos-hold", "last:rejoined"), holds.get(1).asArgs());
        assertEquals(List.of("--chaos-hold", "2:shard-lost"), holds.get(2).asArgs());
        for (ChaosHold h : holds) {
            assertEquals(h, ChaosHold.parse(h.asArgs().get(1)));
        }
    }

    @Test
    void aMalformedHoldIsRefusedNamingItsForm() {
        for (String text : new String[] {"60", "60:asleep", "-1:killed", "first:rejoined", "last:"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ChaosHold.parse(text));
            assertTrue(e.getMessage().startsWith("--chaos-hold '" + text + "': expected STEP:UNTIL"), e.getMessage());
        }
    }
}
