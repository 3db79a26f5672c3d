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
import io.gpups.core.protocol.TlsFiles;
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
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Authentication, TLS and limits, over real sockets. */
class SecurityTest {

    private static final byte[] SECRET = "correct horse battery staple".getBytes(StandardCharsets.UTF_8);
    private static final List<TensorSpec> MODEL = List.of(new TensorSpec("w", new long[] {1000},
            Initializer.zeros(), OptimizerSpec.defaults("sgd", 0.1f)));

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    private InetSocketAddress shard(ShardSecurity security) throws Exception {
        Device device = Devices.installed().open("cpu", line -> { });
        open.add(device);
        ShardServer server = ShardServer.start(new ShardConfig("127.0.0.1", 0, 0, 1, 1, Consistency.parse("asp"), 1 << 20),
                device, security);
        open.add(server);
        return new InetSocketAddress("127.0.0.1", server.port());
    }

    private PsClient connect(InetSocketAddress shard, HelloAuth auth, io.netty.handler.ssl.SslContext ssl) {
        PsClient c = PsClient.connect(List.of(shard), 0, PsClient.Options.defaults().secured(auth, ssl));
        open.add(c);
        return c;
    }

    private static void works(PsClient c) throws Exception {
        c.register(MODEL).get(10, TimeUnit.SECONDS);
        ByteBuffer g = ByteBuffer.allocateDirect(4000).order(ByteOrder.LITTLE_ENDIAN);
        g.putFloat(0, 1f);
        c.push("w", 0, g).get(10, TimeUnit.SECONDS);
        ByteBuffer p = ByteBuffer.allocateDirect(4000).order(ByteOrder.LITTLE_ENDIAN);
        c.pull("w", 0, p).get(10, TimeUnit.SECONDS);
        assertEquals(-0.1f, p.getFloat(0), 1e-7f);
    }

    private static ShardSecurity withAuth() {
        return new ShardSecurity(HelloAuth.ofSecret(SECRET), null, 16, Long.MAX_VALUE);
    }

    // ---- authentication ----------------------------------------------------------------------------

    @Test
    void theRightSecretIsLetIn() throws Exception {
        works(connect(shard(withAuth()), HelloAuth.ofSecret(SECRET), null));
    }

    @Test
    void aWrongSecretIsRefused() throws Exception {
        InetSocketAddress shard = shard(withAuth());
        PsException e = assertThrows(PsException.class,
                () -> connect(shard, HelloAuth.ofSecret("not the secret, but long enough".getBytes(StandardCharsets.UTF_8)), null));
        assertTrue(e.getMessage().contains("AUTH_FAILED") && e.getMessage().contains("wrong secret"), e.getMessage());
    }

    @Test
    void noSecretIsRefused() throws Exception {
        InetSocketAddress shard = shard(withAuth());
        PsException e = assertThrows(PsException.class, () -> connect(shard, null, null));
        assertTrue(e.getMessage().contains("requires authentication"), e.getMessage());
    }

    @Test
    void aReplayedProofIsRefusedAndTheConnectionClosed() throws Exception {
        InetSocketAddress shard = shard(withAuth());
        HelloAuth auth = HelloAuth.ofSecret(SECRET);
        try (Raw first = new Raw(shard); Raw second = new Raw(shard)) {
            byte[] challenge = Messages.HelloReply.read(first.call(Opcode.HELLO, new Messages.Hello(0, 0))).challenge();
            byte[] proof = auth.proof(challenge, 0);
            // The second connection gets its own challenge; the first one's proof is worthless there.
            assertTrue(Messages.HelloReply.read(second.call(Opcode.HELLO, new Messages.Hello(0, 0))).challenge() != null);
            Messages.ErrorReply err = second.error(second.call(Opcode.HELLO, new Messages.Hello(0, 0, proof)));
            assertEquals(ErrorCode.AUTH_FAILED, err.code());
            assertTrue(second.closedByPeer());
            // A proof is good once, on its own connection.
            assertEquals(null, Messages.HelloReply.read(first.call(Opcode.HELLO, new Messages.Hello(0, 0, proof))).challenge());
            // Once authenticated, HELLO again is only a rank check: no new challenge.
            assertEquals(null, Messages.HelloReply.read(first.call(Opcode.HELLO, new Messages.Hello(0, 0))).challenge());
        }
    }

    @Test
    void anythingBeforeHelloIsRefusedAndTheConnectionClosed() throws Exception {
        InetSocketAddress shard = shard(withAuth());
        try (Raw raw = new Raw(shard)) {
            Messages.ErrorReply err = raw.error(raw.call(Opcode.PULL, new Messages.Pull(0, 0, 0)));
            assertEquals(ErrorCode.NOT_HELLO, err.code());
            assertTrue(raw.closedByPeer());
        }
        works(connect(shard, HelloAuth.ofSecret(SECRET), null));
    }

    // ---- TLS ----------------------------------------------------------------------------------------

    private static Path tls(String name) throws URISyntaxException {
        return Path.of(SecurityTest.class.getResource("/tls/" + name).toURI());
    }

    private ShardSecurity mutualTls() throws Exception {
        return new ShardSecurity(null, new TlsFiles(tls("server.pem"), tls("server.key"), tls("ca.pem")).serverContext(),
                16, Long.MAX_VALUE);
    }

    @Test
    void aClientWithTheRightCaAndCertificateWorksOverMutualTls() throws Exception {
        InetSocketAddress shard = shard(mutualTls());
        works(connect(shard, null, new TlsFiles(tls("client.pem"), tls("client.key"), tls("ca.pem")).clientContext()));
    }

    @Test
    void aPlainTextClientIsRefused() throws Exception {
        InetSocketAddress shard = shard(mutualTls());
        assertThrows(PsException.class, () -> connect(shard, null, null));
    }

    @Test
    void aClientCertificateFromAnotherCaIsRefused() throws Exception {
        InetSocketAddress shard = shard(mutualTls());
        assertThrows(PsException.class, () -> connect(shard, null,
                new TlsFiles(tls("stranger.pem"), tls("stranger.key"), tls("ca.pem")).clientContext()));
    }

    @Test
    void aShardCertificateTheClientDoesNotTrustIsRefused() throws Exception {
        InetSocketAddress shard = shard(mutualTls());
        assertThrows(PsException.class, () -> connect(shard, null,
                new TlsFiles(tls("client.pem"), tls("client.key"), tls("other-ca.pem")).clientContext()));
    }

    @Test
    void tlsAndAuthenticationTogether() throws Exception {
        ShardSecurity both = new ShardSecurity(HelloAuth.ofSecret(SECRET),
                new TlsFiles(tls("server.pem"), tls("server.key"), null).serverContext(), 16, Long.MAX_VALUE);
        works(connect(shard(both), HelloAuth.ofSecret(SECRET), new TlsFiles(null, null, tls("ca.pem")).clientContext()));
    }

    // ---- limits -------------------------------------------------------------------------------------

    @Test
    void connectionsBeyondTheLimitAreClosed() throws Exception {
        InetSocketAddress shard = shard(new ShardSecurity(null, null, 2, Long.MAX_VALUE));
        // Two connections past HELLO fill the shard; a third is refused. (Connections not past HELLO would be
        // pushed out by newcomers instead: see AccessTest.)
        try (Raw a = new Raw(shard)) {
            Messages.HelloReply.read(a.call(Opcode.HELLO, new Messages.Hello(0, 0)));
            Raw b = new Raw(shard);
            Messages.HelloReply.read(b.call(Opcode.HELLO, new Messages.Hello(-1, 0)));
            try (b; Raw c = new Raw(shard)) {
                assertThrows(IOException.class, () -> c.call(Opcode.HELLO, new Messages.Hello(-1, 0)), "closed by the shard");
            }
            Messages.HelloReply.read(a.call(Opcode.HELLO, new Messages.Hello(0, 0)));
        }
    }

    @Test
    void registeringBeyondTheByteLimitIsOutOfMemoryAndNothingIsAllocated() throws Exception {
        // sgd on 1000 floats takes 4000 device bytes (parameters only under asp) and 4096 + 1 for its metadata;
        // the limit allows one such tensor.
        InetSocketAddress shard = shard(new ShardSecurity(null, null, 16, 14000));
        PsClient c = connect(shard, null, null);
        c.register(MODEL).get(10, TimeUnit.SECONDS);
        // Rank 0 is held by c; an observer (rank -1) may register too.
        PsClient other = PsClient.connect(List.of(shard), -1, PsClient.Options.defaults());
        open.add(other);
        List<TensorSpec> second = List.of(new TensorSpec("v", new long[] {1000}, Initializer.zeros(), OptimizerSpec.defaults("sgd", 0.1f)));
        ExecutionException e = assertThrows(ExecutionException.class, () -> other.register(second).get(10, TimeUnit.SECONDS));
        PsException ps = assertInstanceOf(PsException.class, e.getCause());
        assertEquals(ErrorCode.OUT_OF_MEMORY, ps.code());
        assertTrue(ps.getMessage().contains("needs 8097 bytes (device memory and 4097 for its metadata); this shard holds 8097 of its limit 14000"), ps.getMessage());
        works(c);
    }

    /** A blocking raw client for byte-level checks. */
    private static final class Raw implements AutoCloseable {
        private final Socket socket;
        private final DataInputStream in;
        private long nextId = 1;

        Raw(InetSocketAddress shard) throws IOException {
            socket = new Socket(shard.getAddress(), shard.getPort());
            socket.setSoTimeout(5000);
            in = new DataInputStream(socket.getInputStream());
        }

        /** Sends a request and returns the answer's payload; an ERROR answer's payload is returned as is. */
        ByteBuf call(Opcode op, Message m) throws IOException {
            ByteBuf frame = Frames.encode(ByteBufAllocator.DEFAULT, op, nextId++, m);
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

        private int lastOpcode;

        Messages.ErrorReply error(ByteBuf payload) {
            assertEquals(Opcode.ERROR.code, lastOpcode, "expected an ERROR answer");
            return Messages.ErrorReply.read(payload);
        }

        boolean closedByPeer() {
            try {
                return in.read() == -1;
            } catch (java.net.SocketTimeoutException e) {
                return false;
            } catch (IOException e) {
                return true;
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
