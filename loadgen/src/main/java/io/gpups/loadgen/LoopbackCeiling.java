package io.gpups.loadgen;

import java.io.IOException;

/**
 * What loopback TCP carries on this machine in one direction with nothing else in the way, for one message
 * size, measured two ways in this process: plain Netty ({@link NettyLoopback}: the transport and defaults
 * the shards use) and blocking sockets ({@link SocketLoopback}: big reads and writes, no event loop). The
 * ceiling is the higher of the two, and {@link #source} says which one it was.
 *
 * <p>Loopback throughput on a small virtual machine swings by half from one connection to the next (where the
 * scheduler puts the two threads), so each way is measured {@value #ROUNDS} times, alternating, each on a fresh
 * connection, and keeps its best round: a ceiling is what the machine was seen to reach. That makes the
 * fractions reported against it lower, never higher.
 *
 * @param messageBytes         the message size, the benchmark's value size
 * @param nettyBytesPerSecond  Netty sender to Netty receiver
 * @param socketBytesPerSecond blocking socket to blocking socket
 */
public record LoopbackCeiling(int messageBytes, double nettyBytesPerSecond, double socketBytesPerSecond) {

    /** Rounds per way. */
    public static final int ROUNDS = 3;

    /** The ceiling: the higher of the two measurements. */
    public double bytesPerSecond() {
        return Math.max(nettyBytesPerSecond, socketBytesPerSecond);
    }

    /** {@code netty} or {@code socket}: the measurement that gave the ceiling. */
    public String source() {
        return nettyBytesPerSecond >= socketBytesPerSecond ? "netty" : "socket";
    }

    /**
     * Measures both ways, {@value #ROUNDS} alternating rounds each; every round runs {@code seconds / ROUNDS} after
     * {@code warmupSeconds / ROUNDS} on a fresh connection.
     */
    public static LoopbackCeiling measure(int messageBytes, double warmupSeconds, double seconds)
            throws IOException, InterruptedException {
        double netty = 0;
        double socket = 0;
        for (int round = 0; round < ROUNDS; round++) {
            netty = Math.max(netty, NettyLoopback.measure(messageBytes, warmupSeconds / ROUNDS, seconds / ROUNDS));
            socket = Math.max(socket, SocketLoopback.measure(messageBytes, warmupSeconds / ROUNDS, seconds / ROUNDS));
        }
        return new LoopbackCeiling(messageBytes, netty, socket);
    }
}
