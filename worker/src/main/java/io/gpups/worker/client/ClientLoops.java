package io.gpups.worker.client;

import io.gpups.core.net.Transport;
import io.netty.channel.EventLoopGroup;

import java.util.concurrent.TimeUnit;

/**
 * The event loops of every {@link PsClient} in this process: one group, made for the first client and shut down
 * with the last, so that a process with many clients (a benchmark's workers, a trainer's data and control clients)
 * runs as many loop threads as its cores can use, not two per client. Netty starts a loop's thread with its first
 * connection, so a process with one connection runs one.
 *
 * <p>The group has {@code min(cores, 4)} loops, or {@value #THREADS_PROPERTY} when that system property is set.
 */
final class ClientLoops {

    static final String THREADS_PROPERTY = "gpups.client.io.threads";
    private static final int DEFAULT_MAX_THREADS = 4;

    private static EventLoopGroup group;
    private static int clients;

    private ClientLoops() {
    }

    /** One client's hold on the shared group; {@link #close} gives it back (once, however often it is called). */
    static final class Lease implements AutoCloseable {
        private final EventLoopGroup group;
        private boolean closed;

        private Lease(EventLoopGroup group) {
            this.group = group;
        }

        EventLoopGroup group() {
            return group;
        }

        @Override
        public void close() {
            synchronized (ClientLoops.class) {
                if (!closed) {
                    closed = true;
                    release();
                }
            }
        }
    }

    static synchronized Lease acquire() {
        if (clients == 0) {
            group = Transport.best().eventLoopGroup(threads());
        }
        clients++;
        return new Lease(group);
    }

    private static void release() {
        if (--clients == 0) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
            group = null;
        }
    }

    /** Clients holding the group now (for tests). */
    static synchronized int clients() {
        return clients;
    }

    static int threads() {
        String value = System.getProperty(THREADS_PROPERTY);
        if (value == null) {
            return Math.min(Runtime.getRuntime().availableProcessors(), DEFAULT_MAX_THREADS);
        }
        try {
            int n = Integer.parseInt(value.trim());
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException("-D" + THREADS_PROPERTY + " must be a whole number >= 1, got '" + value + "'");
    }
}
