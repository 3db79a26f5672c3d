package io.gpups.worker.client;

import io.gpups.core.protocol.ErrorCode;

/** A shard answered a request with ERROR, or the connection to it failed. */
public final class PsException extends RuntimeException {

    private final ErrorCode code;

    public PsException(ErrorCode code, String message) {
        super(message);
        this.code = code;
    }

    /** The shard's error code, or {@code null} when the connection failed. */
    public ErrorCode code() {
        return code;
    }
}
