package io.gpups.worker.client;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.HelloAuth;
import io.gpups.core.protocol.Message;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardSecurity;
import io.gpups.server.ShardServer;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Who may do what on a shard, over real sockets: one live connection per rank, rank -1 is no worker, admin
 * requests from loopback or with the admin secret, per-rank secrets, connection slots under a flood, and a
 * worker that starts before its shard.
 */
class AccessTest {

    private static final byte[] RANK0 = "rank zero's own secret".getBytes(StandardCharsets.UTF_8);
    private static final byte[] RANK1 = "rank one's own secret!".getBytes(StandardCharsets.UTF_8);
    private static final byte[] ADMIN = "the admin's own secret".getBytes(StandardCharsets.UTF_8);
    private static final List<TensorSpec> MODEL = List.of(new TensorSpec("w", new long[] {1000},
            Initializer.zeros(), OptimizerSpec.defaults("sgd", 0.1f)));

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    private Device device() {
        Device device = Devices.installed().open("cpu", line -> { });
        open.add(device);
        return device;
    }

    private ShardServer start(String bind, int port, ShardSecurity security) throws Exception {
        ShardServer server = ShardServer.start(new ShardConfig(bind, port, 0, 1, 2, Consistency.parse("asp"), 1 << 20),
                device(), security);
        open.add(server);
        return server;
    }

    private static InetSocketAddress loopback(ShardServer server) {
        return new InetSocketAddress("127.0.0.1", server.port());
    }

    private PsClient connect(InetSocketAddress shard, int rank, PsClient.Options options) {
        PsClient c = PsClient.connect(List.of(shard), rank, options);
        open.add(c);
        return c;
    }

    /** A push and a pull as {@code c}'s rank, answered. */
    private static void works(PsClient c) throws Exception {
        c.register(MODEL).get(10, TimeUnit.SECONDS);
        ByteBuffer g = ByteBuffer.allocateDirect(4000).order(ByteOrder.LITTLE_ENDIAN);
        c.push("w", 0, g).get(10, TimeUnit.SECONDS);
        c.pull("w", 0, ByteBuffer.allocateDirect(4000).order(ByteOrder.LITTLE_ENDIAN)).get(10, TimeUnit.SECONDS);
    }

    // ---- one live connection per rank -------------------------------------------------------------

    @Test
    void aSecondHelloForALiveRankIsRefusedWhileTheFirstKeepsWorking() throws Exception {
        ShardServer server = start("127.0.0.1", 0, ShardSecurity.none());
        PsClient first = connect(loopback(server), 0, PsClient.Options.defaults());
        works(first);
        try (Raw impostor = new Raw(loopback(server))) {
            Messages.ErrorReply err = impostor.error(impostor.call(Opcode.HELLO, new Messages.Hello(0, 0)));
            assertEquals(ErrorCode.CONFLICT, err.code());
            assertTrue(err.message().contains("rank 0 is held by another live connection"), err.message());
            // Refused, it is still no worker: no push as rank 0 gets through.
            assertEquals(ErrorCode.NOT_HELLO, impostor.error(impostor.call(Opcode.CLOCK, new Messages.Clock(5))).code());
        }
        works(first);
        PsException e = assertThrows(PsException.class, () -> connect(loopback(server), 0, PsClient.Options.defaults()));
        assertTrue(e.getMessage().contains("CONFLICT"), e.getMessage());
        works(first);
    }

    @Test
    void afterTheHolderClosesItsRankCanSayHelloAgain() throws Exception {
        ShardServer server = start("127.0.0.1", 0, ShardSecurity.none());
        PsClient first = connect(loopback(server), 1, PsClient.Options.defaults());
        works(first);
        first.close();
        // A restarted worker: CONFLICT until the shard has seen the old connection close, which the connect
        // timeout waits out.
        works(connect(loopback(server), 1, PsClient.Options.defaults().withConnectTimeout(30_000)));
    }

    // ---- rank -1 is no worker ---------------------------------------------------------------------

    @Test
    void rankMinusOneMayNotPushPullOrClock() throws Exception {
        ShardServer server = start("127.0.0.1", 0, ShardSecurity.none());
        PsClient observer = connect(loopback(server), -1, PsClient.Options.defaults());
        observer.register(MODEL).get(10, TimeUnit.SECONDS);
        ByteBuffer g = ByteBuffer.allocateDirect(4000).order(ByteOrder.LITTLE_ENDIAN);
        for (CompletableFuture<?> refused : List.of(observer.push("w", 0, g),
                observer.pull("w", 0, ByteBuffer.allocateDirect(4000).order(ByteOrder.LITTLE_ENDIAN)),
                observer.clock(1))) {
            ExecutionException e = assertThrows(ExecutionException.class, () -> refused.get(10, TimeUnit.SECONDS));
            PsException ps = assertInstanceOf(PsException.class, e.getCause());
            assertEquals(ErrorCode.FORBIDDEN, ps.code(), ps.getMessage());
            assertTrue(ps.getMessage().contains("needs a worker rank 0..1"), ps.getMessage());
        }
        // Observers still read STATS.
        assertTrue(observer.stats().get(10, TimeUnit.SECONDS).get(0).contains("\"pushes\":0"));
    }

    // ---- admin requests ---------------------------------------------------------------------------

    /** An IPv4 address of this host that is not loopback, or null. */
    private static InetAddress nonLoopbackAddress() throws IOException {
        for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (!nic.isUp() || nic.isLoopback()) {
                continue;
            }
            for (InetAddress a : Collections.list(nic.getInetAddresses())) {
                if (a instanceof Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress()) {
                    return a;
                }
            }
        }
        return null;
    }

    @Test
    void withoutAuthAShutdownFromANonLoopbackAddressIsRefusedAndOneFromLoopbackStopsTheShard() throws Exception {
        InetAddress outside = nonLoopbackAddress();
        assumeTrue(outside != null, "this host has no non-loopback address; ShardAccessTest checks the rule");
        ShardServer server = start("0.0.0.0", 0, ShardSecurity.none());
        PsClient worker = connect(loopback(server), 0, PsClient.Options.defaults());
        try (Raw remote = new Raw(new InetSocketAddress(outside, server.port()))) {
            remote.call(Opcode.HELLO, new Messages.Hello(-1, 0));
            Messages.ErrorReply err = remote.error(remote.call(Opcode.SHUTDOWN, null));
            assertEquals(ErrorCode.FORBIDDEN, err.code());
            assertTrue(err.message().contains("only from loopback, not from /" + outside.getHostAddress()), err.message());
            err = remote.error(remote.call(Opcode.CHECKPOINT, new Messages.Checkpoint("x")));
            assertEquals(ErrorCode.FORBIDDEN, err.code());
        }
        works(worker);
        assertFalse(server.terminated().isDone());
        try (Raw local = new Raw(loopback(server))) {
            local.call(Opcode.HELLO, new Messages.Hello(-1, 0));
            assertEquals(Opcode.OK.code, answerOpcode(local, Opcode.SHUTDOWN));
        }
        server.terminated().get(30, TimeUnit.SECONDS);
    }

    private static int answerOpcode(Raw raw, Opcode op) throws IOException {
        raw.call(op, null);
        return raw.lastOpcode;
    }

    // ---- per-rank secrets -------------------------------------------------------------------------

    private static ShardSecurity perRankAuth(int maxConnections) {
        return new ShardSecurity(HelloAuth.ofRankSecrets(Map.of(0, RANK0, 1, RANK1, HelloAuth.ADMIN, ADMIN)), null,
                maxConnections, Long.MAX_VALUE);
    }

    @Test
    void aRanksSecretProvesThatRankAndNoOther() throws Exception {
        ShardServer server = start("127.0.0.1", 0, perRankAuth(16));
        // Rank 0's secret, used to claim rank 1.
        PsClient.Options rank0Secret = PsClient.Options.defaults().secured(HelloAuth.ofSecret(RANK0), null);
        PsException e = assertThrows(PsException.class, () -> connect(loopback(server), 1, rank0Secret));
        assertTrue(e.getMessage().contains("AUTH_FAILED") && e.getMessage().contains("wrong secret for rank 1"), e.getMessage());
        // The same secret as rank 0 gets in; so does rank 1 with a file that holds only its own line.
        works(connect(loopback(server), 0, rank0Secret));
        works(connect(loopback(server), 1, PsClient.Options.defaults().secured(HelloAuth.parse("1:" + new String(RANK1,
                StandardCharsets.UTF_8) + "\n"), null)));
        // A worker's secret is no admin's.
        PsException admin = assertThrows(PsException.class, () -> connect(loopback(server), -1, rank0Secret));
        assertTrue(admin.getMessage().contains("AUTH_FAILED"), admin.getMessage());
    }

    // ---- slots under a flood ----------------------------------------------------------------------

    @Test
    void aFloodOfIdleAndTricklingConnectionsCannotKeepOutAWorkerWithTheToken() throws Exception {
        int max = 50;
        ShardServer server = start("127.0.0.1", 0, perRankAuth(max));
        InetSocketAddress shard = loopback(server);
        List<Socket> flood = new ArrayList<>();
        // Half the slots held by idle connections, then as many again trickling a HELLO a byte at a time.
        for (int i = 0; i < max / 2; i++) {
            flood.add(new Socket(shard.getAddress(), shard.getPort()));
        }
        byte[] hello = bytes(Opcode.HELLO, new Messages.Hello(1, 0));
        for (int i = 0; i < max; i++) {
            Socket s = new Socket(shard.getAddress(), shard.getPort());
            s.getOutputStream().write(hello, 0, 3);
            flood.add(s);
        }
        flood.forEach(open::add);
        long start = System.nanoTime();
        // One try (no connect timeout): the worker gets in at once.
        PsClient worker = connect(shard, 0, PsClient.Options.defaults().secured(HelloAuth.parse("0:" + new String(RANK0,
                StandardCharsets.UTF_8)), null));
        double seconds = (System.nanoTime() - start) / 1e9;
        works(worker);
        System.out.printf("slot flood: --max-connections %d, %d idle + %d trickling connections; a worker with the token "
                + "connected and said HELLO in %.3f s%n", max, max / 2, max, seconds);
    }

    private static byte[] bytes(Opcode op, Message m) {
        ByteBuf frame = m == null ? Frames.empty(ByteBufAllocator.DEFAULT, op, 1) : Frames.encode(ByteBufAllocator.DEFAULT, op, 1, m);
        byte[] b = new byte[frame.readableBytes()];
        frame.readBytes(b);
        frame.release();
        return b;
    }

    // ---- the first connect ------------------------------------------------------------------------

    @Test
    void aWorkerStartedBeforeItsShardGetsInOnceTheShardIsUp() throws Exception {
        int port;
        CompletableFuture<PsClient> worker;
        try (ServerSocket notYet = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = notYet.getLocalPort();
            InetSocketAddress shard = new InetSocketAddress("127.0.0.1", port);
            worker = CompletableFuture.supplyAsync(() -> PsClient.connect(List.of(shard), 0,
                    PsClient.Options.defaults().withConnectTimeout(60_000)));
            // The worker's first try reaches something that is not a shard yet and goes away: it closes.
            notYet.accept().close();
        }
        // Until the shard binds, the worker's tries are refused; then one gets in.
        start("127.0.0.1", port, ShardSecurity.none());
        PsClient c = worker.get(60, TimeUnit.SECONDS);
        open.add(c);
        works(c);
    }

    @Test
    void aShardThatNeverComesUpFailsTheConnectAtItsDeadlineNamingTheAddress() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        InetSocketAddress nobody = new InetSocketAddress("127.0.0.1", port);
        PsException e = assertThrows(PsException.class, () -> PsClient.connect(List.of(nobody), 0,
                PsClient.Options.defaults().withConnectTimeout(300)));
        assertTrue(e.getMessage().contains("shard 0 at " + nobody + " not reachable within the connect timeout of 300 ms"),
                e.getMessage());
    }

    /** A blocking raw client for byte-level checks. */
    private static final class Raw implements AutoCloseable {
        private final Socket socket;
        private final DataInputStream in;
        private long nextId = 1;
        int lastOpcode;

        Raw(InetSocketAddress shard) throws IOException {
            socket = new Socket(shard.getAddress(), shard.getPort());
            socket.setSoTimeout(10_000);
            in = new DataInputStream(socket.getInputStream());
        }

        ByteBuf call(Opcode op, Message m) throws IOException {
            ByteBuf frame = m == null ? Frames.empty(ByteBufAllocator.DEFAULT, op, nextId++)
                    : Frames.encode(ByteBufAllocator.DEFAULT, op, nextId++, m);
            byte[] bytes = new byte[frame.readableBytes()];
            frame.readBytes(bytes);
            frame.release();
            socket.getOutputStream().write(bytes);
            int length = Integer.reverseBytes(in.readInt());
            byte[] rest = new byte[length];
            in.readFully(rest);
            lastOpcode = rest[3] & 0xff;
            return Unpooled.wrappedBuffer(rest, Frame.HEADER_LENGTH - 4, length - (Frame.HEADER_LENGTH - 4));
        }

        Messages.ErrorReply error(ByteBuf payload) {
            assertEquals(Opcode.ERROR.code, lastOpcode, "expected an ERROR answer");
            return Messages.ErrorReply.read(payload);
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
