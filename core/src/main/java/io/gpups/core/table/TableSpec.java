package io.gpups.core.table;

import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.tensor.Initializer;

import java.nio.charset.StandardCharsets;
import java.util.EnumSet;
import java.util.Set;

/**
 * An embedding table as registered with the shards: rows of {@code dim} float32 values keyed by 64-bit ids, each
 * with its own optimizer state and step count. {@code capacity} is rows per shard. Rows are born on first touch with
 * {@link RowIds#initialValues}. Two specs conflict when they share a name but differ in anything else.
 */
public record TableSpec(String name, int dim, Initializer initializer, OptimizerSpec optimizer, long capacity,
                        Eviction eviction) {

    /** Longest name in UTF-8 bytes. */
    public static final int MAX_NAME_BYTES = 256;
    /** Widest row. */
    public static final int MAX_DIM = 4096;
    /** Most rows per shard (slots are 32-bit indices). */
    public static final long MAX_CAPACITY = 1L << 31;
    /** The update rules a row can have. */
    public static final Set<OptimizerSpec.OptimizerKind> ROW_OPTIMIZERS = EnumSet.of(OptimizerSpec.OptimizerKind.SGD,
            OptimizerSpec.OptimizerKind.ADAGRAD, OptimizerSpec.OptimizerKind.ADAM, OptimizerSpec.OptimizerKind.ADAMW);

    public TableSpec {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("table name must not be empty");
        }
        int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
        if (nameBytes > MAX_NAME_BYTES) {
            throw new IllegalArgumentException("table name '" + name + "' is " + nameBytes
                    + " bytes in UTF-8, at most " + MAX_NAME_BYTES + " allowed");
        }
        if (dim <= 0 || dim > MAX_DIM) {
            throw new IllegalArgumentException("table '" + name + "': dim must be 1.." + MAX_DIM + ", got " + dim);
        }
        if (capacity <= 0 || capacity > MAX_CAPACITY) {
            throw new IllegalArgumentException("table '" + name + "': capacity must be 1.." + MAX_CAPACITY
                    + " rows per shard, got " + capacity);
        }
        if (initializer == null || optimizer == null || eviction == null) {
            throw new IllegalArgumentException("table '" + name + "': initializer, optimizer and eviction must be given");
        }
        if (!ROW_OPTIMIZERS.contains(optimizer.kind())) {
            throw new IllegalArgumentException("table '" + name + "': optimizer " + optimizer.kind().cliName()
                    + " is not one a row can have; expected sgd, adagrad, adam or adamw");
        }
        optimizer.validate();
    }

    @Override
    public String toString() {
        return name + "[dim " + dim + ", " + capacity + " rows/shard, eviction " + eviction.cliName() + "] init="
                + initializer.kind().name().toLowerCase() + "(" + initializer.value() + ", seed " + initializer.seed()
                + ") optimizer=" + optimizer;
    }
}
