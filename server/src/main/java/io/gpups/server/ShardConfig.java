package io.gpups.server;

import io.gpups.core.config.Consistency;
import io.gpups.core.protocol.Frame;

/**
 * What one shard server needs to know. {@link #validate()} names the first bad value.
 *
 * @param bindHost      address to listen on
 * @param port          TCP port; 0 picks a free one
 * @param shard         this shard's index in [0, shards)
 * @param shards        number of shards in the job
 * @param workers       number of workers in the job (bsp waits for this many gradients per step)
 * @param consistency   bsp, asp or ssp:S
 * @param maxFrameBytes largest frame accepted; a longer announced length closes the connection
 * @param workerTimeoutMillis a worker silent this long (no request, no heartbeat) is dropped from bsp steps
 *                      and from ssp's slowest clock until it speaks again; 0 never drops anyone
 */
public record ShardConfig(String bindHost, int port, int shard, int shards, int workers,
                          Consistency consistency, int maxFrameBytes, long workerTimeoutMillis) {

    public ShardConfig(String bindHost, int port, int shard, int shards, int workers, Consistency consistency,
                       int maxFrameBytes) {
        this(bindHost, port, shard, shards, workers, consistency, maxFrameBytes, 0);
    }

    /** A shard on loopback only; other hosts reach a shard only when it binds another address. */
    public static ShardConfig of(int port, int shard, int shards, int workers, Consistency consistency) {
        return new ShardConfig("127.0.0.1", port, shard, shards, workers, consistency, Frame.DEFAULT_MAX_FRAME_BYTES);
    }

    public ShardConfig validate() {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port must be in 0..65535, got " + port);
        }
        if (shards <= 0) {
            throw new IllegalArgumentException("shards must be > 0, got " + shards);
        }
        if (shard < 0 || shard >= shards) {
            throw new IllegalArgumentException("shard must be in 0.." + (shards - 1) + ", got " + shard);
        }
        if (workers <= 0) {
            throw new IllegalArgumentException("workers must be > 0, got " + workers);
        }
        if (workers > 4096) {
            throw new IllegalArgumentException("workers must be <= 4096, got " + workers);
        }
        if (consistency == null) {
            throw new IllegalArgumentException("consistency must be given");
        }
        if (workerTimeoutMillis < 0) {
            throw new IllegalArgumentException("worker timeout must be >= 0 ms, got " + workerTimeoutMillis);
        }
        if (maxFrameBytes < 1024) {
            throw new IllegalArgumentException("max frame bytes must be >= 1024, got " + maxFrameBytes);
        }
        return this;
    }
}
