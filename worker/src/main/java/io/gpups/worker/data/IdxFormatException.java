package io.gpups.worker.data;

import java.io.IOException;

/** An IDX file is malformed; the message names the file and the bad value. */
public final class IdxFormatException extends IOException {
    public IdxFormatException(String message) {
        super(message);
    }
}
