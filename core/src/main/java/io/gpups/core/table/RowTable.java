package io.gpups.core.table;

import io.gpups.core.device.NonFiniteGuard;

import java.nio.ByteBuffer;

/**
 * One shard's part of an embedding table, in a device's memory: an open-addressing hash table of u64 ids beside
 * slabs of row values, per-row optimizer state and per-row counters. Made by {@link io.gpups.core.device.Device#createTable};
 * every device runs the same math (the shared kernel header {@code gpups/tables.cuh}).
 *
 * <h2>Layout</h2>
 * {@link #slots()} slots in buckets of {@link #BUCKET_SLOTS}: the spec's capacity rounded up to whole buckets. An id's
 * home bucket is {@link RowIds#bucketOf}. The key {@link #EMPTY_KEY} marks a free slot and cannot be stored. Slots
 * are never freed (an evicted row's slot goes to the new id), so a lookup may stop at the first bucket with a free
 * slot.
 * <ul>
 *   <li>Eviction {@code none}: an id lives in the first bucket, from its home bucket on (wrapping), that had a free
 *       slot when it arrived. A full table (every slot taken) has no room.</li>
 *   <li>Eviction {@code lru} and {@code lfu}: an id lives in its home bucket. When that bucket is full, the new id
 *       takes the slot of the row with the lowest score among those not touched at this call's clock: lru the
 *       oldest last touch, lfu the fewest touches (ties: the oldest last touch, then the lowest slot).</li>
 * </ul>
 *
 * <h2>Per-row counters</h2>
 * Each row keeps its optimizer step (the number of updates applied to it, from which Adam's bias corrections come),
 * the clock of its last touch and its number of touches (saturating at 2^32 - 1). A row born now has step 0, one
 * touch, and its optimizer state at its start value (0, adagrad's initial accumulator).
 *
 * <h2>Calls</h2>
 * Ids are unique within one call (the caller checks). {@code slots} arrays hold slot indices, as
 * {@link #findOrInsert} returned them. Host buffers are read or written from their position, which is left unchanged;
 * every value is little-endian. Like a device, a table is used by one thread at a time.
 */
public interface RowTable extends AutoCloseable {

    /** Slots per bucket. */
    int BUCKET_SLOTS = 16;
    /** The key of a free slot: no row can have this id. */
    long EMPTY_KEY = -1L;

    TableSpec spec();

    /** Slots in all: capacity rounded up to whole buckets. */
    long slots();

    /** Rows stored now. */
    long rows();

    /** Rows replaced by new ids since the table was made. */
    long evictions();

    /**
     * Finds the slot of each of {@code count} ids ({@code count} u64 at {@code ids}' position), inserting the absent
     * ones, and counts a touch of each at {@code clock}. {@code slots[i]} is id i's slot, or -1 where the table had no
     * room for it (an id already stored always gets its slot). {@code born[i]} is 1 where the row was inserted by this
     * call, else 0: a born row's values are undefined until {@link #writeRows}. {@code clock} must be greater than every
     * earlier call's.
     *
     * @return how many rows this call evicted
     * @throws IllegalArgumentException for an id equal to {@link #EMPTY_KEY}, or arrays or a buffer too short
     */
    long findOrInsert(ByteBuffer ids, int count, long clock, int[] slots, byte[] born);

    /** Sets the values of {@code count} rows from float32 {@code values} ({@code count * dim} of them). */
    void writeRows(int[] slots, int count, ByteBuffer values);

    /** Writes the values of {@code count} rows into {@code out}, as {@code dtype} (a pullable one), row after row. */
    void gatherRows(int[] slots, int count, RowDtype dtype, ByteBuffer out);

    /**
     * One optimizer step per row: the row's step is counted up by one, then the spec's update rule runs on each
     * element with {@code gradScale * gradient} and the row's new step (Adam's bias corrections are per row). The
     * gradients are {@code count} rows of {@code dtype} from {@code gradients}' position. A gradient element that is not
     * finite is handled as {@code guard} says and counted; it never reaches a value or the state.
     *
     * @return how many gradient elements were not finite
     */
    long applyRows(int[] slots, int count, ByteBuffer gradients, RowDtype dtype, float gradScale, NonFiniteGuard guard);

    /** Writes optimizer state slot {@code stateSlot} (0-based, less than the optimizer's slots) of {@code count} rows into {@code out} as float32. */
    void gatherState(int stateSlot, int[] slots, int count, ByteBuffer out);

    /** For each of {@code count} rows, three values into {@code out[3i..3i+2]}: its step, its last touch's clock and its touches. */
    void readCounters(int[] slots, int count, long[] out);

    /**
     * Lists stored rows in slot order, from slot {@code fromSlot} on: up to {@code max} of them, their ids into
     * {@code ids} and their slots into {@code slotsOut}. Returns how many were listed; fewer than {@code max} means
     * the end of the table was reached.
     */
    int listRows(long fromSlot, int max, long[] ids, int[] slotsOut);

    /**
     * Puts {@code count} rows back as a checkpoint had them, as {@link #findOrInsert} would place their ids (at clock
     * {@code clock}), with their values (float32, {@code count * dim}), their state ({@code state[s]}: float32,
     * {@code count * dim}, one buffer per optimizer slot) and their counters ({@code counters[3i..3i+2]} as
     * {@link #readCounters} gives them). Returns how many rows had no room (eviction none, table full); those are
     * left out.
     */
    long restoreRows(ByteBuffer ids, int count, ByteBuffer values, ByteBuffer[] state, long[] counters, long clock);

    @Override
    void close();
}
