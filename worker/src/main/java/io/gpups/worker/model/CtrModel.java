package io.gpups.worker.model;

import io.gpups.core.device.Device;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * {@code ctr:dim=D,mlp=H1,H2,...[,rows=R,row_optimizer=O,row_lr=L]}: a click-through-rate model. Each of the
 * sample's categorical fields looks up one row of an embedding table ({@value #TABLE}, D floats per row, R rows per
 * shard, eviction lru, updated by optimizer O at learning rate L, by default adagrad at 0.05); the
 * rows of all fields, concatenated with the dense features, go through an MLP with ReLU to two logits, trained with
 * softmax cross-entropy (the logistic loss written with two classes; the click probability is the softmax's second
 * output). The MLP's tensors are dense, on the shards as for {@link Mlp}; the table's rows are pulled and pushed by
 * id, so a worker only ever holds the rows of its batch.
 */
public final class CtrModel {

    /** The embedding table's name. */
    public static final String TABLE = "ctr/embeddings";
    /** Rows per shard when the spec does not say. */
    public static final long DEFAULT_ROWS = 1L << 21;
    /**
     * The rows' update rule and learning rate when the spec does not say: adagrad, whose step shrinks with a row's
     * own history, the usual choice for embeddings (a rare id's few gradients are noisy; Adam's normalized step would
     * move it as far as a frequent one's).
     */
    public static final String DEFAULT_ROW_OPTIMIZER = "adagrad";
    public static final float DEFAULT_ROW_LR = 0.05f;
    private static final String KEYS = "dim, mlp, rows, row_optimizer, row_lr";

    private final int dim;
    private final int[] hidden;
    /** The rows' update rule (null: the job's) and learning rate (NaN: the job's). */
    private final String rowOptimizer;
    private final float rowLr;
    private final long rowsPerShard;
    private final int fields;
    private final int denseFeatures;
    private final long seed;

    private CtrModel(int dim, int[] hidden, long rowsPerShard, int fields, int denseFeatures, long seed,
                     String rowOptimizer, float rowLr) {
        this.rowOptimizer = rowOptimizer;
        this.rowLr = rowLr;
        this.dim = dim;
        this.hidden = hidden.clone();
        this.rowsPerShard = rowsPerShard;
        this.fields = fields;
        this.denseFeatures = denseFeatures;
        this.seed = seed;
    }

    /** Whether {@code text} names a CTR model (it starts with {@code ctr}). */
    public static boolean names(String text) {
        String s = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        return s.equals("ctr") || s.startsWith("ctr:");
    }

    /**
     * Parses {@code ctr} or {@code ctr:dim=D,mlp=H1,H2,...,rows=R} (defaults dim 16, mlp 256,128, rows
     * {@value #DEFAULT_ROWS}) for data of {@code fields} categorical fields and {@code denseFeatures} dense ones.
     */
    public static CtrModel parse(String text, int fields, int denseFeatures, long seed) {
        if (!names(text)) {
            throw new IllegalArgumentException("model '" + text + "' is not a ctr model");
        }
        String s = text.trim().toLowerCase(Locale.ROOT);
        int dim = 16;
        int[] hidden = {256, 128};
        long rows = DEFAULT_ROWS;
        String rowOptimizer = DEFAULT_ROW_OPTIMIZER;
        float rowLr = DEFAULT_ROW_LR;
        if (s.startsWith("ctr:")) {
            String key = null;
            List<Integer> mlp = null;
            for (String part : s.substring(4).split(",", -1)) {
                String value = part.trim();
                int eq = value.indexOf('=');
                if (eq >= 0) {
                    key = value.substring(0, eq).trim();
                    value = value.substring(eq + 1).trim();
                    if (key.equals("mlp")) {
                        mlp = new java.util.ArrayList<>();
                    }
                } else if (!"mlp".equals(key)) {
                    throw new IllegalArgumentException("model '" + text + "': '" + part + "' is not key=value (keys: "
                            + KEYS + ")");
                }
                if ("row_optimizer".equals(key)) {
                    rowOptimizer = value;
                    OptimizerSpec.defaults(value, 0.01f);   // names the kinds on a bad one
                    continue;
                }
                if ("row_lr".equals(key)) {
                    try {
                        rowLr = Float.parseFloat(value);
                    } catch (NumberFormatException e) {
                        rowLr = Float.NaN;
                    }
                    if (!(rowLr > 0) || Float.isInfinite(rowLr)) {
                        throw new IllegalArgumentException("model '" + text + "': row_lr '" + value
                                + "' is not a finite number > 0");
                    }
                    continue;
                }
                long n = positive(text, key, value);
                switch (key == null ? "" : key) {
                    case "dim" -> dim = (int) Math.min(n, Integer.MAX_VALUE);
                    case "rows" -> rows = n;
                    case "mlp" -> mlp.add((int) Math.min(n, Integer.MAX_VALUE));
                    default -> throw new IllegalArgumentException("model '" + text + "': unknown key '" + key
                            + "', expected " + KEYS);
                }
            }
            if (mlp != null) {
                hidden = mlp.stream().mapToInt(Integer::intValue).toArray();
            }
        }
        if (dim > TableSpec.MAX_DIM) {
            throw new IllegalArgumentException("model '" + text + "': dim " + dim + " is more than " + TableSpec.MAX_DIM);
        }
        if (rows > TableSpec.MAX_CAPACITY) {
            throw new IllegalArgumentException("model '" + text + "': rows " + rows + " per shard is more than "
                    + TableSpec.MAX_CAPACITY);
        }
        if (fields <= 0 || denseFeatures < 0) {
            throw new IllegalArgumentException("a ctr model needs categorical fields, got " + fields + " and "
                    + denseFeatures + " dense features");
        }
        return new CtrModel(dim, hidden, rows, fields, denseFeatures, seed, rowOptimizer, rowLr);
    }

    private static long positive(String text, String key, String value) {
        try {
            long n = Long.parseLong(value);
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // named below
        }
        throw new IllegalArgumentException("model '" + text + "': " + key + " '" + value + "' is not a positive integer");
    }

    public String name() {
        return "ctr:dim=" + dim + ",mlp=" + Arrays.stream(hidden).mapToObj(Integer::toString).collect(Collectors.joining(","))
                + ",rows=" + rowsPerShard + ",row_optimizer=" + rowOptimizer + ",row_lr=" + rowLr;
    }

    public int dim() {
        return dim;
    }

    public int fields() {
        return fields;
    }

    public int denseFeatures() {
        return denseFeatures;
    }

    /** Width of the MLP's input: every field's row, then the dense features. */
    public int inputs() {
        return fields * dim + denseFeatures;
    }

    private Mlp mlp() {
        return new Mlp(inputs(), hidden, 2, seed);
    }

    /** The MLP's tensors, as {@link Mlp} names them. */
    public List<TensorSpec> tensors(OptimizerSpec optimizer) {
        return mlp().tensors(optimizer);
    }

    /** The embedding table: uniform(-0.05, 0.05) rows, each with its own state of the rows' optimizer. */
    public TableSpec table() {
        return new TableSpec(TABLE, dim, new Initializer(Initializer.Kind.UNIFORM, 0.05f, seed ^ 0x5EED),
                OptimizerSpec.defaults(rowOptimizer, rowLr), rowsPerShard, Eviction.LRU);
    }

    /** The MLP on {@code device} for batches of up to {@code maxBatch}, with the gradient of its input. */
    public RowInputNetwork onDevice(Device device, int maxBatch) {
        return new RowInputNetwork(DenseDeviceModel.withInputGradient(device, mlp().widths(), maxBatch), 2);
    }
}
