package io.gpups.server;

import io.gpups.core.protocol.HelloAuth;
import io.netty.handler.ssl.SslContext;

/**
 * Who may talk to a shard, and how much they may ask of it.
 *
 * @param auth               shared-secret HELLO authentication, or null for none
 * @param ssl                TLS for every connection (mutual when built with a CA), or null for plain TCP
 * @param maxConnections     connections accepted at once; more are refused and closed
 * @param maxRegisteredBytes device bytes (parameters, optimizer state, accumulators) the shard's chunks may
 *                           take; a REGISTER that would cross it gets OUT_OF_MEMORY
 * @param frameMemoryBytes   direct memory all connections' frame decoders may hold for frames being received
 *                           ({@link io.gpups.core.protocol.FrameMemoryBudget}); a connection whose frame does not fit
 *                           is closed. 0 for the default, half the JVM's direct memory limit
 */
public record ShardSecurity(HelloAuth auth, SslContext ssl, int maxConnections, long maxRegisteredBytes,
                            long frameMemoryBytes) {

    public static final int DEFAULT_MAX_CONNECTIONS = 1024;

    public ShardSecurity {
        if (maxConnections < 1) {
            throw new IllegalArgumentException("max connections must be >= 1, got " + maxConnections);
        }
        if (maxRegisteredBytes < 1) {
            throw new IllegalArgumentException("max registered bytes must be >= 1, got " + maxRegisteredBytes);
        }
        if (frameMemoryBytes < 0) {
            throw new IllegalArgumentException("frame memory budget must be >= 0 bytes (0 for the default), got "
                    + frameMemoryBytes);
        }
    }

    /** Limits with the default frame memory budget. */
    public ShardSecurity(HelloAuth auth, SslContext ssl, int maxConnections, long maxRegisteredBytes) {
        this(auth, ssl, maxConnections, maxRegisteredBytes, 0);
    }

    /** These limits with a frame memory budget of {@code bytes} (0 for the default). */
    public ShardSecurity withFrameMemoryBytes(long bytes) {
        return new ShardSecurity(auth, ssl, maxConnections, maxRegisteredBytes, bytes);
    }

    public static ShardSecurity none() {
        return new ShardSecurity(null, null, DEFAULT_MAX_CONNECTIONS, Long.MAX_VALUE);
    }
}
