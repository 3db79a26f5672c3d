package io.gpups.loadgen;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Loopback TCP through blocking sockets: one thread writes messages of the benchmark's value size as fast as
 * a blocking socket takes them (at most 8 MiB per system call), another reads and discards them, both in this
 * process. No framing, no answers, no copies beyond the kernel's. One of the two measurements of
 * {@link LoopbackCeiling}; {@link NettyLoopback} is the other.
 */
final class SocketLoopback {

    /** The largest buffer either side hands to one system call; bigger messages go in several writes. */
    private static final int MAX_IO_BYTES = 8 << 20;

    private final int messageBytes;
    private volatile boolean stop;
    private volatile long received;
    private final AtomicReference<Throwable> failure = new AtomicReference<>();

    private SocketLoopback(int messageBytes) {
        this.messageBytes = messageBytes;
    }

    /** Bytes per second received over {@code seconds}, after {@code warmupSeconds} of the same traffic. */
    static double measure(int messageBytes, double warmupSeconds, double seconds) throws IOException, InterruptedException {
        return new SocketLoopback(messageBytes).run(warmupSeconds, seconds);
    }

    private double run(double warmupSeconds, double seconds) throws IOException, InterruptedException {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            try (SocketChannel out = SocketChannel.open(server.getLocalAddress());
                 SocketChannel in = server.accept()) {
                out.setOption(StandardSocketOptions.TCP_NODELAY, true);
                Thread receiver = start("gpups-loopback-receiver", () -> receive(in));
                Thread sender = start("gpups-loopback-sender", () -> send(out));
                try {
                    TimeUnit.NANOSECONDS.sleep((long) (warmupSeconds * 1e9));
                    long start = System.nanoTime();
                    long first = received;
                    TimeUnit.NANOSECONDS.sleep((long) (seconds * 1e9));
                    long bytes = received - first;
                    double elapsed = (System.nanoTime() - start) / 1e9;
                    Throwable e = failure.get();
                    if (e != null) {
                        throw new IOException("loopback measurement failed: " + e.getMessage(), e);
                    }
                    return bytes / elapsed;
                } finally {
                    stop = true;
                    // Closing the sockets (end of try) wakes both threads from blocking I/O.
                    out.close();
                    in.close();
                    sender.join(5000);
                    receiver.join(5000);
                }
            }
        }
    }

    private void send(SocketChannel out) throws IOException {
        ByteBuffer message = ByteBuffer.allocateDirect(Math.min(messageBytes, MAX_IO_BYTES));
        while (!stop) {
            for (int left = messageBytes; left > 0 && !stop; ) {
                message.clear().limit(Math.min(left, message.capacity()));
                left -= out.write(message);
            }
        }
    }

    private void receive(SocketChannel in) throws IOException {
        ByteBuffer sink = ByteBuffer.allocateDirect(Math.min(messageBytes, MAX_IO_BYTES));
        long total = 0;
        while (!stop) {
            sink.clear();
            int n = in.read(sink);
            if (n < 0) {
                return;
            }
            total += n;
            received = total;
        }
    }

    private interface Io {
        void run() throws IOException;
    }

    private Thread start(String name, Io body) {
        Thread t = new Thread(() -> {
            try {
                body.run();
            } catch (IOException e) {
                if (!stop) {
                    failure.compareAndSet(null, e);
                }
            }
        }, name);
        t.setDaemon(true);
        t.start();
        return t;
    }
}
