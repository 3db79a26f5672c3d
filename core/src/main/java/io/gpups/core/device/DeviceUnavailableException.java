package io.gpups.core.device;

/** The requested device cannot be used here; the message says why, in one line. */
public final class DeviceUnavailableException extends RuntimeException {
    public DeviceUnavailableException(String message) {
        super(message);
    }
}
