package io.gpups.worker.model;

import io.gpups.core.device.Device;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.table.Eviction;
import io.gpups.core.table.TableSpec;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;

import java.util.List;
import java.util.Locale;

/**
 * {@code embbag:dim=D[,rows=R,row_optimizer=O,row_lr=L]}: a bag-of-embeddings classifier over sparse samples
 * ({@link io.gpups.worker.data.SparseDataset}). Sample b's embedding is the value-weighted mean of its ids' rows,
 * <pre>
 * e_b = sum_i v_i row(id_i) / sum_i v_i          (values v_i > 0, so the sum is positive)
 * </pre>
 * of the embedding table {@value #TABLE} (D floats per row, R rows per shard, eviction lru, updated by optimizer O at
 * learning rate L, by default adagrad at 0.05), then a linear softmax over the C classes: a dense weight [D, C] and
 * bias [C] on the shards as for {@link LogisticRegression} ({@code layer0.weight}, {@code layer0.bias}), trained with
 * softmax cross-entropy. The gradient of row {@code id_i} from sample b is {@code v_i / sum v * d(loss)/d(e_b)}; a
 * row's gradients over the batch are summed by the client.
 */
public final class EmbBagModel {

    /** The embedding table's name. */
    public static final String TABLE = "embbag/embeddings";
    /** Rows per shard when the spec does not say. */
    public static final long DEFAULT_ROWS = 1L << 21;
    /** The rows' update rule and learning rate when the spec does not say (as {@link CtrModel}'s, for its reasons). */
    public static final String DEFAULT_ROW_OPTIMIZER = CtrModel.DEFAULT_ROW_OPTIMIZER;
    public static final float DEFAULT_ROW_LR = CtrModel.DEFAULT_ROW_LR;
    public static final int DEFAULT_DIM = 32;
    private static final String KEYS = "dim, rows, row_optimizer, row_lr";

    private final int dim;
    private final int classes;
    private final long rowsPerShard;
    private final String rowOptimizer;
    private final float rowLr;
    private final long seed;

    private EmbBagModel(int dim, int classes, long rowsPerShard, String rowOptimizer, float rowLr, long seed) {
        this.dim = dim;
        this.classes = classes;
        this.rowsPerShard = rowsPerShard;
        this.rowOptimizer = rowOptimizer;
        this.rowLr = rowLr;
        this.seed = seed;
    }

    /** Whether {@code text} names a bag-of-embeddings model (it is {@code embbag} or starts with {@code embbag:}). */
    public static boolean names(String text) {
        String s = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        return s.equals("embbag") || s.startsWith("embbag:");
    }

    /**
     * Parses {@code embbag} or {@code embbag:dim=D,rows=R,row_optimizer=O,row_lr=L} (defaults dim
     * {@value #DEFAULT_DIM}, rows {@value #DEFAULT_ROWS}, adagrad at 0.05) for data of {@code classes} classes.
     */
    public static EmbBagModel parse(String text, int classes, long seed) {
        if (!names(text)) {
            throw new IllegalArgumentException("model '" + text + "' is not an embbag model");
        }
        String s = text.trim().toLowerCase(Locale.ROOT);
        int dim = DEFAULT_DIM;
        long rows = DEFAULT_ROWS;
        String rowOptimizer = DEFAULT_ROW_OPTIMIZER;
        float rowLr = DEFAULT_ROW_LR;
        if (s.startsWith("embbag:")) {
            for (String part : s.substring("embbag:".length()).split(",", -1)) {
                int eq = part.indexOf('=');
                if (eq < 0) {
                    throw new IllegalArgumentException("model '" + text + "': '" + part + "' is not key=value (keys: "
                            + KEYS + ")");
                }
                String key = part.substring(0, eq).trim();
                String value = part.substring(eq + 1).trim();
                switch (key) {
                    case "dim" -> dim = (int) Math.min(positive(text, key, value), Integer.MAX_VALUE);
                    case "rows" -> rows = positive(text, key, value);
                    case "row_optimizer" -> {
                        OptimizerSpec.defaults(value, 0.01f);   // names the kinds on a bad one
                        rowOptimizer = value;
                    }
                    case "row_lr" -> {
                        try {
                            rowLr = Float.parseFloat(value);
                        } catch (NumberFormatException e) {
                            rowLr = Float.NaN;
                        }
                        if (!(rowLr > 0) || Float.isInfinite(rowLr)) {
                            throw new IllegalArgumentException("model '" + text + "': row_lr '" + value
                                    + "' is not a finite number > 0");
                        }
                    }
                    default -> throw new IllegalArgumentException("model '" + text + "': unknown key '" + key
                            + "', expected " + KEYS);
                }
            }
        }
        if (dim > TableSpec.MAX_DIM) {
            throw new IllegalArgumentException("model '" + text + "': dim " + dim + " is more than " + TableSpec.MAX_DIM);
        }
        if (rows > TableSpec.MAX_CAPACITY) {
            throw new IllegalArgumentException("model '" + text + "': rows " + rows + " per shard is more than "
                    + TableSpec.MAX_CAPACITY);
        }
        if (classes < 2) {
            throw new IllegalArgumentException("an embbag model needs at least 2 classes, got " + classes);
        }
        return new EmbBagModel(dim, classes, rows, rowOptimizer, rowLr, seed);
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
        return "embbag:dim=" + dim + ",rows=" + rowsPerShard + ",row_optimizer=" + rowOptimizer + ",row_lr=" + rowLr;
    }

    public int dim() {
        return dim;
    }

    public int classes() {
        return classes;
    }

    private LogisticRegression softmax() {
        return new LogisticRegression(dim, classes, seed);
    }

    /** The softmax layer's tensors, as {@link LogisticRegression} names them. */
    public List<TensorSpec> tensors(OptimizerSpec optimizer) {
        return softmax().tensors(optimizer);
    }

    /** The embedding table: uniform(-0.05, 0.05) rows, each with its own state of the rows' optimizer. */
    public TableSpec table() {
        return new TableSpec(TABLE, dim, new Initializer(Initializer.Kind.UNIFORM, 0.05f, seed ^ 0x5EED),
                OptimizerSpec.defaults(rowOptimizer, rowLr), rowsPerShard, Eviction.LRU);
    }

    /** The softmax layer on {@code device} for batches of up to {@code maxBatch}, with the gradient of its input. */
    public RowInputNetwork onDevice(Device device, int maxBatch) {
        return new RowInputNetwork(DenseDeviceModel.withInputGradient(device, new int[] {dim, classes}, maxBatch),
                classes);
    }
}
