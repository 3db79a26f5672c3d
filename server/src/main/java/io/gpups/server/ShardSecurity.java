package io.gpups.server;

import io.gpups.core.net.SharedRing;
import io.gpups.core.protocol.HelloAuth;
import io.netty.handler.ssl.SslContext;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Who may talk to a shard, and how much they may ask of it.
 *
 * @param auth               HELLO authentication (one shared secret or per-rank secrets), or null for none
 * @param ssl                TLS for every connection (mutual when built with a CA), or null for plain TCP
 * @param maxConnections     connections accepted at once; at most half of them before their HELLO is proven
 *                           (see {@link ConnectionLimit})
 * @param maxRegisteredBytes device bytes (parameters, optimizer state, accumulators) the shard's chunks may
 *                           take; a REGISTER that would cross it gets OUT_OF_MEMORY
 * @param allowRemoteAdmin   without auth, take SHUTDOWN and CHECKPOINT from any address, not only loopback
 * @param helloTimeoutMillis a connection without a proven HELLO this long after opening is closed; 0: never
 * @param idleTimeoutMillis  a connection with no request in flight that sent nothing (no request, no
 *                           heartbeat) this long is closed; 0: never
 * @param frameMemoryBytes   direct memory all connections' frame decoders may hold for frames being received
 *                           ({@link io.gpups.core.protocol.FrameMemoryBudget}); a connection whose frame does not fit
 *                           is closed. 0 for the default, half the JVM's direct memory limit
 * @param ringDirectory      where workers on this host may offer shared-memory rings for their frames
 *                           ({@link io.gpups.core.net.SharedRing}, RING_ATTACH), or null: none, every frame comes
 *                           over TCP. By default {@code /dev/shm} where it is a directory
 */
public record ShardSecurity(HelloAuth auth, SslContext ssl, int maxConnections, long maxRegisteredBytes,
                            boolean allowRemoteAdmin, long helloTimeoutMillis, long idleTimeoutMillis,
                            long frameMemoryBytes, Path ringDirectory) {

    public static final int DEFAULT_MAX_CONNECTIONS = 1024;
    public static final long DEFAULT_HELLO_TIMEOUT_MILLIS = 10_000;
    /** Thirty heartbeat periods of a worker (one a second): long GC pauses pass, dead peers go. */
    public static final long DEFAULT_IDLE_TIMEOUT_MILLIS = 30_000;

    public ShardSecurity {
        if (maxConnections < 1) {
            throw new IllegalArgumentException("max connections must be >= 1, got " + maxConnections);
        }
        if (maxRegisteredBytes < 1) {
            throw new IllegalArgumentException("max registered bytes must be >= 1, got " + maxRegisteredBytes);
        }
        if (helloTimeoutMillis < 0) {
            throw new IllegalArgumentException("hello timeout must be >= 0 ms (0: none), got " + helloTimeoutMillis);
        }
        if (idleTimeoutMillis < 0) {
            throw new IllegalArgumentException("idle timeout must be >= 0 ms (0: none), got " + idleTimeoutMillis);
        }
        if (frameMemoryBytes < 0) {
            throw new IllegalArgumentException("frame memory budget must be >= 0 bytes (0 for the default), got "
                    + frameMemoryBytes);
        }
    }

    /** Loopback-only admin, the default handshake and idle timeouts and the default frame memory budget. */
    public ShardSecurity(HelloAuth auth, SslContext ssl, int maxConnections, long maxRegisteredBytes) {
        this(auth, ssl, maxConnections, maxRegisteredBytes, false, DEFAULT_HELLO_TIMEOUT_MILLIS,
                DEFAULT_IDLE_TIMEOUT_MILLIS, 0, defaultRingDirectory());
    }

    /** {@code /dev/shm} where it is a directory, else null (no rings). */
    public static Path defaultRingDirectory() {
        return Files.isDirectory(SharedRing.DEFAULT_DIRECTORY) ? SharedRing.DEFAULT_DIRECTORY : null;
    }

    public static ShardSecurity none() {
        return new ShardSecurity(null, null, DEFAULT_MAX_CONNECTIONS, Long.MAX_VALUE);
    }

    /** These settings with admin and timeouts as given. */
    public ShardSecurity withAccess(boolean allowRemoteAdmin, long helloTimeoutMillis, long idleTimeoutMillis) {
        return new ShardSecurity(auth, ssl, maxConnections, maxRegisteredBytes, allowRemoteAdmin, helloTimeoutMillis,
                idleTimeoutMillis, frameMemoryBytes, ringDirectory);
    }

    /** These settings with a frame memory budget of {@code bytes} (0 for the default). */
    public ShardSecurity withFrameMemoryBytes(long bytes) {
        return new ShardSecurity(auth, ssl, maxConnections, maxRegisteredBytes, allowRemoteAdmin, helloTimeoutMillis,
                idleTimeoutMillis, bytes, ringDirectory);
    }

    /** These settings taking workers' rings from {@code directory}, or none when it is null. */
    public ShardSecurity withRingDirectory(Path directory) {
        return new ShardSecurity(auth, ssl, maxConnections, maxRegisteredBytes, allowRemoteAdmin, helloTimeoutMillis,
                idleTimeoutMillis, frameMemoryBytes, directory);
    }
}
