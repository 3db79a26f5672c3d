package io.gpups.cli;

/** A failure the user can act on; printed as one line, exit code 2. */
final class CliException extends RuntimeException {
    CliException(String message) {
        super(message);
    }
}
