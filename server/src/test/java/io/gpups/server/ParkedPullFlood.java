package io.gpups.server;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A runnable check, not a unit test: floods one bsp shard (in this JVM, default parked-pull limits) with
 * {@code PULLS} pulls that would all wait (clock 1 while the chunk is at version 0), over {@code CONNECTIONS}
 * worker connections that read their answers as they come. Prints how many were parked and refused and the
 * heap in use (after a GC) before, at the peak and after every connection closed.
 *
 * <pre>
 * mvn -o -q -pl server -am test -Dtest=ParkedPullServerTest -Dsurefire.failIfNoSpecifiedTests=false
 * java -Xmx512m -cp server/target/test-classes:(the test class path) io.gpups.server.ParkedPullFlood [pulls] [connections]
 * </pre>
 * (defaults 3,000,000 pulls over 64 connections: 64 x 16,384 fills the per-shard limit exactly.)
 */
public final class ParkedPullFlood {

    private static final TensorSpec W = new TensorSpec("w", new long[] {4},
            new Initializer(Initializer.Kind.CONSTANT, 1f, 0), new OptimizerSpec.Sgd(0.1f, 0f));

    public static void main(String[] args) throws Exception {
        long pulls = args.length > 0 ? Long.parseLong(args[0]) : 3_000_000L;
        int connections = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        long perConnection = pulls / connections;
        try (Device device = Devices.installed().open("cpu", line -> { })) {
            ShardServer server = ShardServer.start(new ShardConfig("127.0.0.1", 0, 0, 1, connections,
                    Consistency.parse("bsp"), Frame.DEFAULT_MAX_FRAME_BYTES, 0), device);
            try {
                ParkedPulls.Limits limits = ParkedPulls.Limits.DEFAULT;
                System.out.printf("shard: bsp, %d workers; limits %d parked pulls per connection, %d per shard%n",
                        connections, limits.perConnection(), limits.perShard());
                Socket admin = hello(server.port(), 0);
                register(admin);
                System.out.printf("heap used before: %.1f MB%n", heapMb());

                AtomicLong data = new AtomicLong();
                AtomicLong refused = new AtomicLong();
                AtomicLong other = new AtomicLong();
                List<Socket> sockets = new ArrayList<>();
                List<Thread> threads = new ArrayList<>();
                long start = System.nanoTime();
                // Peaks while the flood runs: heap in use (no GC forced) and tasks queued for the agent.
                AtomicLong peakHeap = new AtomicLong();
                AtomicLong peakQueue = new AtomicLong();
                Thread sampler = new Thread(() -> {
                    while (!Thread.currentThread().isInterrupted()) {
                        peakHeap.accumulateAndGet(ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed(), Math::max);
                        peakQueue.accumulateAndGet(server.agent().queueDepth(), Math::max);
                        try {
                            Thread.sleep(20);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                });
                sampler.setDaemon(true);
                sampler.start();
                for (int r = 1; r < connections; r++) {
                    sockets.add(hello(server.port(), r));
                }
                sockets.add(0, admin);
                for (Socket s : sockets) {
                    Thread reader = new Thread(() -> readAnswers(s, perConnection, limits.perConnection(), data, refused, other));
                    Thread writer = new Thread(() -> writePulls(s, perConnection));
                    reader.start();
                    writer.start();
                    threads.add(reader);
                    threads.add(writer);
                }
                for (Thread t : threads) {
                    t.join();
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                sampler.interrupt();
                long parked = stat(admin, "parked_pulls_now");
                System.out.printf("sent %d pulls over %d connections in %.1f s: %d parked, %d refused (OUT_OF_MEMORY), "
                        + "%d answered with data, %d other answers; shard errors %d%n", perConnection * connections,
                        connections, seconds, parked, refused.get(), data.get(), other.get(), stat(admin, "errors"));
                System.out.printf("during the flood: at most %.1f MB of heap in use (garbage included), at most %d tasks "
                        + "queued for the agent%n", peakHeap.get() / 1e6, peakQueue.get());
                System.out.printf("heap used with every pull parked or refused: %.1f MB%n", heapMb());
                for (Socket s : sockets) {
                    s.close();
                }
                Socket probe = hello(server.port(), 0);
                long deadline = System.nanoTime() + 60_000_000_000L;
                long left;
                while ((left = stat(probe, "parked_pulls_now")) != 0 && System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                }
                System.out.printf("after every connection closed: %d parked; heap used %.1f MB%n", left, heapMb());
                probe.close();
            } finally {
                server.close();
            }
        }
    }

    private static Socket hello(int port, int rank) throws Exception {
        Socket s = new Socket("127.0.0.1", port);
        s.setTcpNoDelay(true);
        write(s.getOutputStream(), Frames.encode(ByteBufAllocator.DEFAULT, Opcode.HELLO, 1, new Messages.Hello(rank, 0)));
        expect(s, Opcode.OK);
        return s;
    }

    private static void register(Socket s) throws Exception {
        write(s.getOutputStream(), Frames.encode(ByteBufAllocator.DEFAULT, Opcode.REGISTER, 2,
                new Messages.Register(W, 4, new int[] {0})));
        expect(s, Opcode.OK);
    }

    private static void writePulls(Socket s, long n) {
        try {
            OutputStream out = new BufferedOutputStream(s.getOutputStream(), 1 << 16);
            for (long i = 0; i < n; i++) {
                ByteBuf frame = Frames.encode(ByteBufAllocator.DEFAULT, Opcode.PULL, 100 + i, new Messages.Pull(0, 0, 1));
                byte[] bytes = new byte[frame.readableBytes()];
                frame.readBytes(bytes);
                frame.release();
                out.write(bytes);
            }
            out.flush();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads the answers that come before the step: every pull beyond what parks is refused at once. */
    private static void readAnswers(Socket s, long sent, int parkable, AtomicLong data, AtomicLong refused, AtomicLong other) {
        try {
            DataInputStream in = new DataInputStream(s.getInputStream());
            long expected = Math.max(0, sent - parkable);
            for (long i = 0; i < expected; i++) {
                int length = Integer.reverseBytes(in.readInt());
                byte[] rest = new byte[length];
                in.readFully(rest);
                int op = rest[3] & 0xff;
                if (op == Opcode.DATA.code) {
                    data.incrementAndGet();
                } else if (op == Opcode.ERROR.code
                        && (rest[12] & 0xff | (rest[13] & 0xff) << 8) == ErrorCode.OUT_OF_MEMORY.code) {
                    refused.incrementAndGet();
                } else {
                    other.incrementAndGet();
                }
            }
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static long stat(Socket s, String field) throws Exception {
        write(s.getOutputStream(), Frames.empty(ByteBufAllocator.DEFAULT, Opcode.STATS, 3));
        ByteBuf payload = read(s, Opcode.DATA);
        String json = Messages.Text.read(payload).text();
        Matcher m = Pattern.compile("\"" + field + "\":(\\d+)").matcher(json);
        if (!m.find()) {
            throw new IllegalStateException(field + " not in " + json);
        }
        return Long.parseLong(m.group(1));
    }

    private static void expect(Socket s, Opcode op) throws Exception {
        read(s, op);
    }

    private static ByteBuf read(Socket s, Opcode op) throws Exception {
        DataInputStream in = new DataInputStream(s.getInputStream());
        int length = Integer.reverseBytes(in.readInt());
        byte[] rest = new byte[length];
        in.readFully(rest);
        if ((rest[3] & 0xff) != op.code) {
            throw new IllegalStateException("expected " + op + ", got opcode " + (rest[3] & 0xff));
        }
        return io.netty.buffer.Unpooled.wrappedBuffer(rest, 12, rest.length - 12);
    }

    private static void write(OutputStream out, ByteBuf frame) throws Exception {
        byte[] bytes = new byte[frame.readableBytes()];
        frame.readBytes(bytes);
        frame.release();
        out.write(bytes);
        out.flush();
    }

    private static double heapMb() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed() / 1e6;
    }
}
