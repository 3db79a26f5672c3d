package io.gpups.core.protocol;

import io.netty.handler.codec.DecoderException;

/**
 * A frame could not be received: the server's {@link FrameMemoryBudget} for frames being received is spent. The
 * connection that met it is closed; the others are not affected.
 */
public final class FrameMemoryBudgetException extends DecoderException {

    public FrameMemoryBudgetException(String message) {
        super(message);
    }
}
