package io.gpups.cli;

import io.gpups.core.net.SharedRing;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code --shared-memory-dir}, shared by {@code server} and {@code worker}: where a worker on a shard's host makes a
 * shared-memory ring per connection for its pushes, and where the shard looks for it. Both must name the same
 * directory (by default {@code /dev/shm}); {@code off} keeps every frame on TCP.
 */
final class SharedMemoryOption {

    static final String OFF = "off";

    @Option(names = "--shared-memory-dir", defaultValue = "/dev/shm", description = "Where workers and shards on one "
            + "host share a memory ring per connection for pushes (the same directory on both sides; in containers, "
            + "a shared tmpfs or --ipc=host); off: TCP only. Where the directory is missing, TCP only "
            + "(default: ${DEFAULT-VALUE}).")
    String directory;

    /** The directory, or null when off or not a directory here (then everything goes over TCP). */
    Path directoryOrNull() {
        if (OFF.equals(directory)) {
            return null;
        }
        if (directory == null || directory.isBlank()) {
            throw new IllegalArgumentException("--shared-memory-dir is empty: give a directory or '" + OFF + "'");
        }
        Path dir = Path.of(directory);
        return Files.isDirectory(dir) ? dir : null;
    }

    /** The worker's ring, or null for TCP only. */
    io.gpups.worker.client.PsClient.Ring ring() {
        Path dir = directoryOrNull();
        return dir == null ? null : new io.gpups.worker.client.PsClient.Ring(dir, SharedRing.DEFAULT_CAPACITY);
    }
}
