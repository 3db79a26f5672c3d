package io.gpups.loadgen;

import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;

import java.util.Locale;

/**
 * One rows benchmark ({@code gpups bench --mode rows-pull|rows-push}): workers pull or push {@code idsPerRequest}
 * ids of an embedding table of {@code tableRows} rows of {@code dim} floats, drawn from {@code ids}; the shards run
 * asp (rows are applied on arrival).
 */
public record RowsBenchSettings(int shards, int workers, boolean push, long tableRows, int dim, int idsPerRequest,
                                RowIdDistribution ids, String optimizerName, OptimizerSpec optimizer, String device,
                                double seconds, double warmupSeconds, int window, double loopbackSeconds) {

    /** The benchmark table's name. */
    public static final String TABLE = "bench/rows";
    /** Most rows of the benchmark table. */
    public static final long MAX_TABLE_ROWS = 1L << 31;

    public static RowsBenchSettings conclude(int shards, int workers, String mode, long tableRows, int dim, int idsPerRequest,
                                             String ids, String optimizer, String device, double seconds,
                                             double warmupSeconds, Integer window, double loopbackSeconds) {
        if (shards < 1 || shards > BenchSettings.MAX_SHARDS) {
            throw new IllegalArgumentException("--shards " + shards + ": must be 1.." + BenchSettings.MAX_SHARDS);
        }
        if (workers < 1 || workers > BenchSettings.MAX_WORKERS) {
            throw new IllegalArgumentException("--workers " + workers + ": must be 1.." + BenchSettings.MAX_WORKERS);
        }
        boolean push = switch (mode.trim().toLowerCase(Locale.ROOT)) {
            case "rows-pull" -> false;
            case "rows-push" -> true;
            default -> throw new IllegalArgumentException("--mode " + mode + ": a rows benchmark is rows-pull or rows-push");
        };
        if (tableRows < 1 || tableRows > MAX_TABLE_ROWS) {
            throw new IllegalArgumentException("--table-rows " + tableRows + ": must be 1.." + MAX_TABLE_ROWS);
        }
        if (dim < 1 || dim > TableSpec.MAX_DIM) {
            throw new IllegalArgumentException("--dim " + dim + ": must be 1.." + TableSpec.MAX_DIM);
        }
        if (idsPerRequest < 1 || idsPerRequest > 1 << 20) {
            throw new IllegalArgumentException("--ids-per-request " + idsPerRequest + ": must be 1.." + (1 << 20));
        }
        RowIdDistribution distribution = RowIdDistribution.parse(ids, tableRows);
        OptimizerSpec spec;
        try {
            spec = OptimizerSpec.defaults(optimizer, BenchSettings.LEARNING_RATE);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--optimizer " + e.getMessage());
        }
        if (!TableSpec.ROW_OPTIMIZERS.contains(spec.kind())) {
            throw new IllegalArgumentException("--optimizer " + optimizer + ": rows take sgd, adagrad, adam or adamw");
        }
        if (!(seconds > 0) || Double.isInfinite(seconds)) {
            throw new IllegalArgumentException("--seconds " + seconds + ": must be a finite number > 0");
        }
        if (!(warmupSeconds >= 0) || Double.isInfinite(warmupSeconds)) {
            throw new IllegalArgumentException("--warmup-seconds " + warmupSeconds + ": must be a finite number >= 0");
        }
        if (!(loopbackSeconds >= 0) || Double.isInfinite(loopbackSeconds)) {
            throw new IllegalArgumentException("--loopback-seconds " + loopbackSeconds + ": must be a finite number >= 0");
        }
        int w = window == null ? 4 : window;
        if (w < 1 || w > BenchSettings.MAX_WINDOW) {
            throw new IllegalArgumentException("--window " + w + ": must be 1.." + BenchSettings.MAX_WINDOW);
        }
        try {
            Devices.DeviceSpec.parse(device);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--device " + e.getMessage());
        }
        return new RowsBenchSettings(shards, workers, push, tableRows, dim, idsPerRequest, distribution,
                optimizer.trim().toLowerCase(Locale.ROOT), spec, device.trim().toLowerCase(Locale.ROOT), seconds,
                warmupSeconds, w, loopbackSeconds);
    }

    public String modeName() {
        return push ? "rows-push" : "rows-pull";
    }

    /**
     * The table: capacity per shard the rows it should hold with room to spare (1.25x its share, at least a bucket),
     * eviction none (every row stays), small uniform initial values.
     */
    public TableSpec table() {
        long perShard = (long) Math.ceil(1.25 * tableRows / shards) + 64;
        return new TableSpec(TABLE, dim, new Initializer(Initializer.Kind.UNIFORM, 0.01f, 1), optimizer,
                Math.min(perShard, TableSpec.MAX_CAPACITY), Eviction.NONE);
    }

    /** Bytes of one request's row values (float32), when all its ids are unique. */
    public int requestValueBytes() {
        return 4 * dim * idsPerRequest;
    }
}
