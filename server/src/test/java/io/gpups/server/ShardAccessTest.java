package io.gpups.server;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.FrameDecoder;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.HelloAuth;
import io.gpups.core.protocol.Message;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.server.checkpoint.CheckpointSettings;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shard's access rules, on {@link EmbeddedChannel}s through the real {@link FrameDecoder} and
 * {@link ShardHandler}: one live connection per rank, worker requests only from worker ranks, admin requests
 * only from admins. Requests the handler answers itself (HELLO, HEARTBEAT, SHUTDOWN, refusals) are answered at
 * once; the agent is never started, so nothing here depends on its thread. An EmbeddedChannel's remote
 * address is not loopback.
 */
class ShardAccessTest {

    private static final byte[] RANK0 = "rank zero's own secret".getBytes(StandardCharsets.UTF_8);
    private static final byte[] RANK1 = "rank one's own secret!".getBytes(StandardCharsets.UTF_8);
    private static final byte[] ADMIN = "the admin's own secret".getBytes(StandardCharsets.UTF_8);

    private Device device;
    private ShardConfig config;
    private ShardAgent agent;
    private WorkerLiveness liveness;
    /** The shard's clock, in nanoseconds: the test moves it. */
    private final AtomicLong now = new AtomicLong(3_000_000_000L);
    private final AtomicInteger shutdowns = new AtomicInteger();
    private long nextId = 1;

    @BeforeEach
    void open() {
        device = Devices.installed().open("cpu", line -> { });
        agent(new ShardConfig("127.0.0.1", 0, 0, 1, 2, Consistency.parse("bsp"), 1 << 16));
    }

    private void agent(ShardConfig config) {
        this.config = config;
        liveness = new WorkerLiveness(config.workers(), config.workerTimeoutMillis(), now::get);
        agent = new ShardAgent(config, device, Long.MAX_VALUE, liveness, NonFinitePolicy.REJECT,
                CheckpointSettings.none(), now::get);
    }

    @AfterEach
    void close() {
        device.close();
    }

    private ShardHandler handler(ShardSecurity security) {
        return new ShardHandler(config, agent, liveness, security, shutdowns::incrementAndGet);
    }

    private static EmbeddedChannel channel(ShardHandler handler) {
        return new EmbeddedChannel(new FrameDecoder(1 << 16), handler);
    }

    /** Sends a request and returns its answer (the handler answers these itself, at once). */
    private Answer call(EmbeddedChannel ch, Opcode op, Message m) {
        long id = nextId++;
        ch.writeInbound(m == null ? Frames.empty(ByteBufAllocator.DEFAULT, op, id) : Frames.encode(ByteBufAllocator.DEFAULT, op, id, m));
        ch.runPendingTasks();
        ByteBuf out = ch.readOutbound();
        assertNotNull(out, op + " got no answer");
        try {
            assertEquals(id, out.getLongLE(Frame.REQUEST_ID_OFFSET));
            Opcode answer = Opcode.ofCode(out.getUnsignedByte(Frame.OPCODE_OFFSET));
            ByteBuf payload = out.slice(Frame.HEADER_LENGTH, out.readableBytes() - Frame.HEADER_LENGTH);
            if (answer == Opcode.ERROR) {
                return new Answer(answer, Messages.ErrorReply.read(payload), null);
            }
            return new Answer(answer, null, op == Opcode.HELLO ? Messages.HelloReply.read(payload) : null);
        } finally {
            out.release();
        }
    }

    private record Answer(Opcode opcode, Messages.ErrorReply error, Messages.HelloReply hello) {
        Answer ok() {
            assertEquals(Opcode.OK, opcode, () -> "expected OK, got " + error);
            return this;
        }

        void refused(ErrorCode code, String fragment) {
            assertEquals(Opcode.ERROR, opcode, "expected an ERROR answer");
            assertEquals(code, error.code(), error.message());
            assertTrue(error.message().contains(fragment), error.message());
        }
    }

    private Answer hello(EmbeddedChannel ch, int rank) {
        return call(ch, Opcode.HELLO, new Messages.Hello(rank, 0));
    }

    /** HELLO with a proof from {@code keys} for {@code rank}, on a shard that checks proofs. */
    private Answer helloProving(EmbeddedChannel ch, int rank, HelloAuth keys) {
        Answer challenged = hello(ch, rank).ok();
        assertNotNull(challenged.hello().challenge(), "the shard requires authentication");
        return call(ch, Opcode.HELLO, new Messages.Hello(rank, 0, keys.proof(challenged.hello().challenge(), rank)));
    }

    // ---- one live connection per rank ---------------------------------------------------------------

    @Test
    void aSecondHelloForALiveRankIsAConflictUntilTheFirstConnectionCloses() {
        ShardHandler handler = handler(ShardSecurity.none());
        EmbeddedChannel first = channel(handler);
        EmbeddedChannel second = channel(handler);
        hello(first, 1).ok();
        hello(second, 1).refused(ErrorCode.CONFLICT, "rank 1 is held by another live connection");
        // The holder keeps its rank (HELLO again on its own connection is fine), and other ranks are free.
        hello(first, 1).ok();
        hello(channel(handler), 0).ok();
        first.close();
        hello(second, 1).ok();
    }

    @Test
    void aRankSilentPastTheWorkerTimeoutCanBeTakenOverAndItsOldConnectionIsClosed() {
        agent(new ShardConfig("127.0.0.1", 0, 0, 1, 2, Consistency.parse("bsp"), 1 << 16, 1));
        ShardHandler handler = handler(ShardSecurity.none());
        EmbeddedChannel first = channel(handler);
        hello(first, 0).ok();
        EmbeddedChannel second = channel(handler);
        now.addAndGet(1_000_000L);
        hello(second, 0).refused(ErrorCode.CONFLICT, "rank 0 is held by another live connection");
        // Rank 0 spoke at HELLO and is silent since: past the 1 ms worker timeout, its rank may be taken over.
        now.addAndGet(1);
        hello(second, 0).ok();
        assertFalse(first.isActive(), "the timed-out holder's connection is closed");
    }

    // ---- rank -1 is not a worker ----------------------------------------------------------------------

    @Test
    void rankMinusOneMayNotPushPullOrClock() {
        EmbeddedChannel ch = channel(handler(ShardSecurity.none()));
        hello(ch, -1).ok();
        call(ch, Opcode.PULL, new Messages.Pull(0, 0, 0)).refused(ErrorCode.FORBIDDEN, "PULL needs a worker rank 0..1");
        call(ch, Opcode.CLOCK, new Messages.Clock(1)).refused(ErrorCode.FORBIDDEN, "CLOCK needs a worker rank");
        call(ch, Opcode.PUSH, new Messages.PushHeader(0, 0, 0, 0)).refused(ErrorCode.FORBIDDEN, "PUSH needs a worker rank");
        call(ch, Opcode.PUSH_PULL, new Messages.PushHeader(0, 0, 0, 0)).refused(ErrorCode.FORBIDDEN, "PUSH_PULL needs a worker rank");
        // What an observer may do still works.
        call(ch, Opcode.HEARTBEAT, null).ok();
        assertEquals(0, agent.queueDepth(), "nothing reached the agent");
    }

    // ---- admin requests -------------------------------------------------------------------------------

    @Test
    void withoutAuthAdminRequestsFromANonLoopbackAddressAreForbidden() {
        EmbeddedChannel ch = channel(handler(ShardSecurity.none()));
        hello(ch, -1).ok();
        call(ch, Opcode.SHUTDOWN, null).refused(ErrorCode.FORBIDDEN, "takes admin requests only from loopback");
        call(ch, Opcode.CHECKPOINT, new Messages.Checkpoint("x")).refused(ErrorCode.FORBIDDEN, "CHECKPOINT is an admin request");
        assertEquals(0, shutdowns.get());
        assertTrue(ch.isActive(), "a refusal leaves the connection open");
    }

    @Test
    void allowRemoteAdminTakesShutdownFromAnyAddress() {
        EmbeddedChannel ch = channel(handler(ShardSecurity.none().withAccess(true, 0, 0)));
        hello(ch, -1).ok();
        call(ch, Opcode.SHUTDOWN, null).ok();
        assertEquals(1, shutdowns.get());
    }

    @Test
    void theLoopbackRuleLooksAtTheAddress() throws Exception {
        assertTrue(AdminAccess.isLoopback(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 1)));
        assertTrue(AdminAccess.isLoopback(new InetSocketAddress(InetAddress.getByName("127.3.4.5"), 1)));
        assertTrue(AdminAccess.isLoopback(new InetSocketAddress(InetAddress.getByName("::1"), 1)));
        assertFalse(AdminAccess.isLoopback(new InetSocketAddress(InetAddress.getByName("192.0.2.7"), 1)));
        assertFalse(AdminAccess.isLoopback(new InetSocketAddress(InetAddress.getByName("::ffff:10.0.0.1"), 1)));
        assertFalse(AdminAccess.isLoopback(InetSocketAddress.createUnresolved("localhost", 1)));
        assertFalse(AdminAccess.isLoopback(new io.netty.channel.embedded.EmbeddedChannel().remoteAddress()));
    }

    // ---- per-rank secrets -----------------------------------------------------------------------------

    private static HelloAuth perRank() {
        return HelloAuth.ofRankSecrets(Map.of(0, RANK0, 1, RANK1, HelloAuth.ADMIN, ADMIN));
    }

    @Test
    void aRanksSecretProvesOnlyThatRank() {
        ShardHandler handler = handler(new ShardSecurity(perRank(), null, 16, Long.MAX_VALUE));
        // A worker that holds rank 0's secret only.
        HelloAuth rankZero = HelloAuth.ofRankSecrets(Map.of(0, RANK0));
        EmbeddedChannel asOne = channel(handler);
        Answer challenged = hello(asOne, 1).ok();
        // Its proof for rank 0, sent as rank 1: the shard checks it with rank 1's secret.
        call(asOne, Opcode.HELLO, new Messages.Hello(1, 0, rankZero.proof(challenged.hello().challenge(), 0)))
                .refused(ErrorCode.AUTH_FAILED, "wrong secret for rank 1");
        assertFalse(asOne.isActive(), "a failed proof closes the connection");
        // Rank 0's secret computing a proof as rank 1 fails the same way.
        EmbeddedChannel again = channel(handler);
        Answer c2 = hello(again, 1).ok();
        call(again, Opcode.HELLO, new Messages.Hello(1, 0, HelloAuth.ofSecret(RANK0).proof(c2.hello().challenge(), 1)))
                .refused(ErrorCode.AUTH_FAILED, "wrong secret for rank 1");
        // As rank 0 it is let in.
        assertNull(helloProving(channel(handler), 0, rankZero).ok().hello().challenge());
    }

    @Test
    void withPerRankSecretsOnlyTheAdminSecretMayShutDown() {
        ShardHandler handler = handler(new ShardSecurity(perRank(), null, 16, Long.MAX_VALUE));
        EmbeddedChannel worker = channel(handler);
        helloProving(worker, 0, perRank()).ok();
        call(worker, Opcode.SHUTDOWN, null).refused(ErrorCode.FORBIDDEN, "SHUTDOWN is an admin request: say HELLO as rank -1");
        call(worker, Opcode.CHECKPOINT, new Messages.Checkpoint("x")).refused(ErrorCode.FORBIDDEN, "CHECKPOINT is an admin request");
        // A non-admin secret cannot prove rank -1.
        EmbeddedChannel pretender = channel(handler);
        Answer challenged = hello(pretender, -1).ok();
        call(pretender, Opcode.HELLO, new Messages.Hello(-1, 0, HelloAuth.ofSecret(RANK0).proof(challenged.hello().challenge(), -1)))
                .refused(ErrorCode.AUTH_FAILED, "wrong secret");
        assertEquals(0, shutdowns.get());
        // The admin, from a non-loopback address, may.
        EmbeddedChannel admin = channel(handler);
        helloProving(admin, -1, HelloAuth.ofRankSecrets(Map.of(HelloAuth.ADMIN, ADMIN))).ok();
        call(admin, Opcode.SHUTDOWN, null).ok();
        assertEquals(1, shutdowns.get());
    }

    @Test
    void aTokenFileWithoutAnAdminLineHasNoAdmin() {
        HelloAuth workersOnly = HelloAuth.ofRankSecrets(Map.of(0, RANK0, 1, RANK1));
        ShardHandler handler = handler(new ShardSecurity(workersOnly, null, 16, Long.MAX_VALUE));
        EmbeddedChannel ch = channel(handler);
        Answer challenged = hello(ch, -1).ok();
        call(ch, Opcode.HELLO, new Messages.Hello(-1, 0, HelloAuth.ofSecret(ADMIN).proof(challenged.hello().challenge(), -1)))
                .refused(ErrorCode.AUTH_FAILED, "no secret for the admin (rank -1)");
    }

    @Test
    void withOneSharedSecretEveryAuthenticatedConnectionIsAnAdmin() {
        HelloAuth shared = HelloAuth.ofSecret(ADMIN);
        ShardHandler handler = handler(new ShardSecurity(shared, null, 16, Long.MAX_VALUE));
        EmbeddedChannel worker = channel(handler);
        helloProving(worker, 1, shared).ok();
        call(worker, Opcode.SHUTDOWN, null).ok();
        assertEquals(1, shutdowns.get());
    }
}
