package io.gpups.core.protocol;

/** The code in an ERROR answer. The message beside it names the bad value. */
public enum ErrorCode {
    /** The frame's fixed fields are wrong (magic, version, a payload shorter than its layout). */
    BAD_FRAME(1),
    /** The opcode byte names no request. */
    UNKNOWN_OPCODE(2),
    /** No tensor has the given id on this shard. */
    UNKNOWN_TENSOR(3),
    /** The chunk index is out of range or the chunk is not held by this shard. */
    BAD_CHUNK(4),
    /** An element count disagrees with the chunk's size or with the payload's length. */
    SIZE_MISMATCH(5),
    /** A field holds a value outside its range (NaN hyper-parameter, bad shape, bad rank...). */
    BAD_ARGUMENT(6),
    /** A registration conflicts with an earlier one of the same name. */
    CONFLICT(7),
    /** A push for a step that is not the chunk's current step. */
    STALE_STEP(8),
    /** A request other than HELLO before a successful HELLO. */
    NOT_HELLO(9),
    /** The payload codec is not supported. */
    UNSUPPORTED_CODEC(10),
    /** The shard failed while serving the request; it keeps serving others. */
    INTERNAL(11),
    /** The shard is shutting down. */
    SHUTTING_DOWN(12),
    /**
     * The device has no memory for the request, the shard's registered-bytes limit would be crossed, or a pull
     * would be parked beyond the shard's limits on parked pulls (per connection, per shard).
     */
    OUT_OF_MEMORY(13),
    /** The HELLO proof does not match the challenge: wrong secret, or a replayed proof. */
    AUTH_FAILED(14),
    /**
     * A pushed gradient holds NaN or infinite values (as decoded); the shard refused it (its {@code --nonfinite}
     * policy is reject). The message names the tensor, chunk, rank, step and how many values were not finite.
     */
    NON_FINITE(15),
    /**
     * The connection may not make this request: a worker request (PUSH, PULL, PUSH_PULL, CLOCK) from a
     * connection that is not a worker (rank -1), or an admin request (SHUTDOWN, CHECKPOINT) without the admin
     * secret or, on a shard without authentication, from an address that is not loopback.
     */
    FORBIDDEN(16);

    public final int code;

    ErrorCode(int code) {
        this.code = code;
    }

    public static ErrorCode ofCode(int code) {
        for (ErrorCode e : values()) {
            if (e.code == code) {
                return e;
            }
        }
        return INTERNAL;
    }
}
