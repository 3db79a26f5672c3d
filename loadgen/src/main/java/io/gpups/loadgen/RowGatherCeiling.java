package io.gpups.loadgen;

import io.gpups.core.device.Device;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.RowDtype;
import io.gpups.core.table.RowTable;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/**
 * The random-gather ceiling of a device for a rows benchmark: a table of {@code rows} rows of {@code dim} floats on
 * the device, and the rate at which the device copies {@code perRequest} rows at uniformly random slots into host
 * memory ({@link RowTable#gatherRows} with the slots known: no lookup, nothing depending on an earlier load).
 *
 * @param bytesPerSecond row bytes gathered per second
 */
public record RowGatherCeiling(String device, long rows, int dim, int perRequest, double bytesPerSecond, double fillSeconds) {

    /** Sets of random slots gathered in turn. */
    private static final int PICKS = 64;

    /** Builds the table (every row inserted once) and measures gathers for {@code seconds}. */
    public static RowGatherCeiling measure(Device device, long rows, int dim, int perRequest, double seconds) {
        TableSpec spec = new TableSpec("gather-ceiling", dim, Initializer.zeros(), new OptimizerSpec.Sgd(0.1f, 0f),
                rows, Eviction.NONE);
        long fillStart = System.nanoTime();
        try (RowTable table = device.createTable(spec)) {
            int[] allSlots = new int[(int) rows];
            int batch = 1 << 16;
            ByteBuffer ids = ByteBuffer.allocateDirect(8 * batch).order(ByteOrder.LITTLE_ENDIAN);
            int[] slots = new int[batch];
            byte[] born = new byte[batch];
            long clock = 0;
            for (long first = 0; first < rows; first += batch) {
                int n = (int) Math.min(batch, rows - first);
                ids.clear();
                for (int i = 0; i < n; i++) {
                    ids.putLong(RowIdDistribution.idOfRank(first + i + 1));
                }
                ids.flip();
                table.findOrInsert(ids, n, ++clock, slots, born);
                System.arraycopy(slots, 0, allSlots, (int) first, n);
            }
            double fill = (System.nanoTime() - fillStart) / 1e9;
            // The random slots are drawn before the clock starts: the ceiling is the gather alone.
            SplittableRandom random = new SplittableRandom(7);
            int[][] picks = new int[PICKS][perRequest];
            for (int[] pick : picks) {
                for (int i = 0; i < perRequest; i++) {
                    pick[i] = allSlots[random.nextInt((int) rows)];
                }
            }
            ByteBuffer out = ByteBuffer.allocateDirect(4 * dim * perRequest).order(ByteOrder.LITTLE_ENDIAN);
            long gathered = 0;
            long start = System.nanoTime();
            long end = start + (long) (seconds * 1e9);
            long now = start;
            for (int round = 0; now < end || gathered == 0; round++) {
                table.gatherRows(picks[round % PICKS], perRequest, RowDtype.FP32, out);
                gathered += perRequest;
                now = System.nanoTime();
            }
            return new RowGatherCeiling(device.name(), rows, dim, perRequest, gathered * 4.0 * dim / ((now - start) / 1e9), fill);
        }
    }
}
