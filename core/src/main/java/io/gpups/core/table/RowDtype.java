package io.gpups.core.table;

/**
 * How row values travel in PULL_ROWS answers and PUSH_ROWS requests (docs/PROTOCOL.md, "Rows"). Every element is
 * little-endian.
 */
public enum RowDtype {
    /** float32, 4 bytes per element. */
    FP32(0, true),
    /** bfloat16 (the high half of a float32, rounded to nearest even), 2 bytes per element. */
    BF16(1, true),
    /** IEEE half precision, 2 bytes per element. */
    FP16(2, true),
    /** Pushes only: per row a float32 scale, then dim signed bytes q; the value is {@code scale * q}. */
    INT8(3, false);

    /** The id on the wire and in the kernels. */
    public final int id;
    /** Whether a pull may ask for rows in this type. */
    public final boolean pullable;

    RowDtype(int id, boolean pullable) {
        this.id = id;
        this.pullable = pullable;
    }

    public static RowDtype ofId(int id) {
        for (RowDtype d : values()) {
            if (d.id == id) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown row dtype " + id + ", expected 0 (fp32), 1 (bf16), 2 (fp16) or 3 (int8)");
    }

    /** Bytes of one row of {@code dim} elements. */
    public long rowBytes(int dim) {
        return switch (this) {
            case FP32 -> 4L * dim;
            case BF16, FP16 -> 2L * dim;
            case INT8 -> 4L + dim;
        };
    }
}
