package io.gpups.core.table;

import io.gpups.core.device.NonFiniteGuard;
import io.gpups.core.optim.OptimizerSpec;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * {@link RowTable}'s contract written out plainly, on Java arrays: the oracle every device's table is compared with,
 * bit for bit. Test code of the device modules, shared through gpups-core's test jar.
 *
 * <p>The optimizer steps are the formulas of {@code gpups/optimizers.cuh} in float, in the kernels' operation order
 * (Java rounds each float operation, as the host compilers do without fused multiply-adds), with the row's own step's
 * bias corrections by repeated squaring in double ({@link #biasCorrection}). The row codecs are written from their
 * definitions (the nearest value, ties to even), not from the kernels' bit tricks. Checks of the arguments are the
 * devices' business; this class assumes a well-formed call.
 */
public final class RowTableReference implements RowTable {

    private final TableSpec spec;
    private final int dim;
    private final long buckets;
    private final int stateSlots;
    private final long[] keys;
    private final long[] lastTouch;
    private final long[] touches;
    private final long[] steps;
    private final float[] values;
    private final float[][] state;
    private long rows;
    private long evictions;

    public RowTableReference(TableSpec spec) {
        this.spec = spec;
        this.dim = spec.dim();
        int slots = (int) ((spec.capacity() + BUCKET_SLOTS - 1) / BUCKET_SLOTS * BUCKET_SLOTS);
        this.buckets = slots / BUCKET_SLOTS;
        this.stateSlots = spec.optimizer().slots();
        this.keys = new long[slots];
        Arrays.fill(keys, EMPTY_KEY);
        this.lastTouch = new long[slots];
        this.touches = new long[slots];
        this.steps = new long[slots];
        this.values = new float[slots * dim];
        this.state = new float[stateSlots][slots * dim];
    }

    @Override
    public TableSpec spec() {
        return spec;
    }

    @Override
    public long slots() {
        return keys.length;
    }

    @Override
    public long rows() {
        return rows;
    }

    @Override
    public long evictions() {
        return evictions;
    }

    // ---- placement ------------------------------------------------------------------------------------

    @Override
    public long findOrInsert(ByteBuffer ids, int count, long clock, int[] slots, byte[] born) {
        ByteBuffer le = ids.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        // First pass: every id looked up; found rows touched, new ids given the free slot their lookup stopped at.
        for (int i = 0; i < count; i++) {
            long id = le.getLong(ids.position() + 8 * i);
            born[i] = 0;
            slots[i] = -1;
            int free = -1;
            long probes = spec.eviction() == Eviction.NONE ? buckets : 1;
            long home = RowIds.bucketOf(id, buckets);
            search:
            for (long p = 0; p < probes; p++) {
                int first = (int) (((home + p) % buckets) * BUCKET_SLOTS);
                for (int s = first; s < first + BUCKET_SLOTS; s++) {
                    if (keys[s] == id) {
                        slots[i] = s;
                        break search;
                    }
                    if (keys[s] == EMPTY_KEY) {
                        free = s;
                        break search;
                    }
                }
            }
            if (slots[i] >= 0) {
                lastTouch[slots[i]] = clock;
                touches[slots[i]] = Math.min(touches[slots[i]] + 1, 0xFFFFFFFFL);
            } else if (free >= 0) {
                birth(free, id, clock);
                slots[i] = free;
                born[i] = 1;
                rows++;
            }
        }
        // Second pass (lru, lfu): the ids that found no free slot replace, in index order, the lowest-scored row of
        // their home bucket among those not touched at this clock.
        long evicted = 0;
        for (int i = 0; i < count && spec.eviction() != Eviction.NONE; i++) {
            if (slots[i] >= 0) {
                continue;
            }
            long id = le.getLong(ids.position() + 8 * i);
            int first = (int) (RowIds.bucketOf(id, buckets) * BUCKET_SLOTS);
            int victim = -1;
            for (int s = first; s < first + BUCKET_SLOTS; s++) {
                if (Long.compareUnsigned(lastTouch[s], clock) >= 0) {
                    continue;
                }
                if (victim < 0 || scoresLower(s, victim)) {
                    victim = s;
                }
            }
            if (victim >= 0) {
                birth(victim, id, clock);
                slots[i] = victim;
                born[i] = 1;
                evicted++;
            }
        }
        evictions += evicted;
        return evicted;
    }

    /** Whether row a scores strictly lower than row b: lru the older last touch; lfu fewer touches, then older. */
    private boolean scoresLower(int a, int b) {
        if (spec.eviction() == Eviction.LFU && touches[a] != touches[b]) {
            return touches[a] < touches[b];
        }
        return Long.compareUnsigned(lastTouch[a], lastTouch[b]) < 0;
    }

    private void birth(int slot, long id, long clock) {
        keys[slot] = id;
        lastTouch[slot] = clock;
        touches[slot] = 1;
        steps[slot] = 0;
        float start = spec.optimizer() instanceof OptimizerSpec.Adagrad a ? a.initialAccumulator() : 0f;
        for (int k = 0; k < stateSlots; k++) {
            Arrays.fill(state[k], slot * dim, (slot + 1) * dim, start);
        }
    }

    // ---- values ---------------------------------------------------------------------------------------

    @Override
    public void writeRows(int[] slots, int count, ByteBuffer in) {
        ByteBuffer le = in.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            for (int j = 0; j < dim; j++) {
                values[slots[i] * dim + j] = le.getFloat(in.position() + 4 * (i * dim + j));
            }
        }
    }

    @Override
    public void gatherRows(int[] slots, int count, RowDtype dtype, ByteBuffer out) {
        ByteBuffer le = out.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            for (int j = 0; j < dim; j++) {
                float v = values[slots[i] * dim + j];
                int at = out.position() + (int) (i * dtype.rowBytes(dim));
                switch (dtype) {
                    case FP32 -> le.putFloat(at + 4 * j, v);
                    case BF16 -> le.putShort(at + 2 * j, (short) toBf16(v));
                    case FP16 -> le.putShort(at + 2 * j, (short) toHalf(v));
                    case INT8 -> throw new IllegalArgumentException("int8 is not pullable");
                }
            }
        }
    }

    @Override
    public long applyRows(int[] slots, int count, ByteBuffer gradients, RowDtype dtype, float gradScale,
                          NonFiniteGuard guard) {
        ByteBuffer le = gradients.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long nonFinite = 0;
        float[] x = new float[1 + stateSlots];
        for (int i = 0; i < count; i++) {
            int slot = slots[i];
            long t = ++steps[slot];
            int row = gradients.position() + (int) (i * dtype.rowBytes(dim));
            for (int j = 0; j < dim; j++) {
                float grad = switch (dtype) {
                    case FP32 -> le.getFloat(row + 4 * j);
                    case BF16 -> Float.intBitsToFloat((le.getShort(row + 2 * j) & 0xFFFF) << 16);
                    case FP16 -> fromHalf(le.getShort(row + 2 * j) & 0xFFFF);
                    case INT8 -> le.getFloat(row) * (float) le.get(row + 4 + j);
                };
                boolean finite = Float.isFinite(grad);
                if (!finite) {
                    nonFinite++;
                    if (guard == NonFiniteGuard.SKIP) {
                        continue;
                    }
                    grad = 0f;
                }
                int e = slot * dim + j;
                x[0] = values[e];
                for (int k = 0; k < stateSlots; k++) {
                    x[1 + k] = state[k][e];
                }
                step(spec.optimizer(), x, grad, t, gradScale);
                values[e] = x[0];
                for (int k = 0; k < stateSlots; k++) {
                    state[k][e] = x[1 + k];
                }
            }
        }
        return nonFinite;
    }

    /** One element's step: {@code x = {p, slots...}}, the formulas of optimizers.cuh in float. */
    static void step(OptimizerSpec spec, float[] x, float grad, long t, float gradScale) {
        if (spec instanceof OptimizerSpec.Sgd o) {
            float g = gradScale * grad + o.weightDecay() * x[0];
            x[0] -= o.lr() * g;
        } else if (spec instanceof OptimizerSpec.Adagrad o) {
            float g = gradScale * grad + o.weightDecay() * x[0];
            x[1] += g * g;
            x[0] -= o.lr() * g / ((float) Math.sqrt(x[1]) + o.eps());
        } else if (spec instanceof OptimizerSpec.Adam o) {
            float g = gradScale * grad + o.weightDecay() * x[0];
            adam(x, g, o.lr(), o.beta1(), o.beta2(), o.eps(), t);
        } else if (spec instanceof OptimizerSpec.AdamW o) {
            x[0] -= o.lr() * o.weightDecay() * x[0];
            adam(x, gradScale * grad, o.lr(), o.beta1(), o.beta2(), o.eps(), t);
        } else {
            throw new IllegalArgumentException(spec.kind().cliName() + " is not a row optimizer");
        }
    }

    private static void adam(float[] x, float g, float lr, float beta1, float beta2, float eps, long t) {
        x[1] = beta1 * x[1] + (1f - beta1) * g;
        x[2] = beta2 * x[2] + (1f - beta2) * (g * g);
        float stepSize = lr / biasCorrection(beta1, t);
        float invSqrtBc2 = 1f / (float) Math.sqrt(biasCorrection(beta2, t));
        x[0] -= stepSize * x[1] / ((float) Math.sqrt(x[2]) * invSqrtBc2 + eps);
    }

    /** {@code 1 - beta^t}: beta^t by repeated squaring in double (tables.cuh's pow_by_squaring), rounded to float. */
    public static float biasCorrection(float beta, long t) {
        double result = 1.0;
        double base = beta;
        for (long e = t; e != 0; e >>>= 1) {
            if ((e & 1) != 0) {
                result *= base;
            }
            base *= base;
        }
        return (float) (1.0 - result);
    }

    // ---- state, counters, listing, restore ------------------------------------------------------------------

    @Override
    public void gatherState(int stateSlot, int[] slots, int count, ByteBuffer out) {
        ByteBuffer le = out.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            for (int j = 0; j < dim; j++) {
                le.putFloat(out.position() + 4 * (i * dim + j), state[stateSlot][slots[i] * dim + j]);
            }
        }
    }

    @Override
    public void readCounters(int[] slots, int count, long[] out) {
        for (int i = 0; i < count; i++) {
            out[3 * i] = steps[slots[i]];
            out[3 * i + 1] = lastTouch[slots[i]];
            out[3 * i + 2] = touches[slots[i]];
        }
    }

    @Override
    public int listRows(long fromSlot, int max, long[] ids, int[] slotsOut) {
        int n = 0;
        for (long s = fromSlot; s < keys.length && n < max; s++) {
            if (keys[(int) s] != EMPTY_KEY) {
                ids[n] = keys[(int) s];
                slotsOut[n] = (int) s;
                n++;
            }
        }
        return n;
    }

    @Override
    public long restoreRows(ByteBuffer ids, int count, ByteBuffer in, ByteBuffer[] stateIn, long[] counters, long clock) {
        int[] slots = new int[count];
        findOrInsert(ids, count, clock, slots, new byte[count]);
        ByteBuffer v = in.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long noRoom = 0;
        for (int i = 0; i < count; i++) {
            int s = slots[i];
            if (s < 0) {
                noRoom++;
                continue;
            }
            for (int j = 0; j < dim; j++) {
                values[s * dim + j] = v.getFloat(in.position() + 4 * (i * dim + j));
                for (int k = 0; k < stateSlots; k++) {
                    state[k][s * dim + j] = stateIn[k].duplicate().order(ByteOrder.LITTLE_ENDIAN)
                            .getFloat(stateIn[k].position() + 4 * (i * dim + j));
                }
            }
            steps[s] = counters[3 * i];
            lastTouch[s] = counters[3 * i + 1];
            touches[s] = counters[3 * i + 2];
        }
        return noRoom;
    }

    @Override
    public void close() {
    }

    // ---- row codecs, from their definitions -----------------------------------------------------------------

    /** The value of IEEE half h: sign, then 2^-24 * m for subnormals, (1 + m/1024) * 2^(e-15) for normals. */
    public static float fromHalf(int h) {
        int sign = (h >> 15) & 1;
        int e = (h >> 10) & 0x1F;
        int m = h & 0x3FF;
        float magnitude;
        if (e == 0) {
            magnitude = (float) Math.scalb((double) m, -24);
        } else if (e == 31) {
            return Float.intBitsToFloat((sign << 31) | 0x7F800000 | (m << 13));
        } else {
            magnitude = (float) Math.scalb(1.0 + m / 1024.0, e - 15);
        }
        return sign == 1 ? -magnitude : magnitude;
    }

    /**
     * The half nearest to v (ties to the even one); past the largest half by half an ulp or more, infinity; NaN gives
     * the quiet NaN 0x7E00 with v's sign. Found by a binary search over the positive halves, which are ordered as
     * their bits.
     */
    public static int toHalf(float v) {
        int sign = Float.floatToRawIntBits(v) < 0 ? 0x8000 : 0;
        if (Float.isNaN(v)) {
            return sign | 0x7E00;
        }
        double a = Math.abs((double) v);
        int lo = 0;
        int hi = 0x7C00;  // the halves 0..0x7BFF are finite; 0x7C00 stands for 2^16, the next step past 65504
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            if (halfMagnitude(mid) <= a) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        double below = a - halfMagnitude(lo);
        double above = halfMagnitude(hi) - a;
        int nearest = below < above ? lo : above < below ? hi : ((lo & 1) == 0 ? lo : hi);
        if (a >= halfMagnitude(0x7C00)) {
            nearest = 0x7C00;
        }
        return sign | nearest;
    }

    private static double halfMagnitude(int h) {
        return h == 0x7C00 ? 65536.0 : Math.abs((double) fromHalf(h));
    }

    /**
     * The bfloat16 nearest to v (ties to the even one), as the high half of a float: the float just below (low half
     * cleared) or the next one up; NaN keeps its high half with the quiet bit set.
     */
    public static int toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) {
            return ((bits >>> 16) | 0x40) & 0xFFFF;
        }
        if (Float.isInfinite(v)) {
            return bits >>> 16;
        }
        int down = bits >>> 16;
        int up = down + 1;
        double a = Math.abs((double) v);
        double below = a - bf16Magnitude(down);
        double above = bf16Magnitude(up) - a;
        int nearest = below < above ? down : above < below ? up : ((down & 1) == 0 ? down : up);
        return nearest & 0xFFFF;
    }

    /** |value| of the bf16 with these bits; the one past the largest finite stands for 2^128. */
    private static double bf16Magnitude(int b) {
        int magnitudeBits = b & 0x7FFF;
        return magnitudeBits == 0x7F80 ? Math.scalb(1.0, 128) : Math.abs((double) Float.intBitsToFloat(magnitudeBits << 16));
    }
}
