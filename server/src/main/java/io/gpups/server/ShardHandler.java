package io.gpups.server;

import io.gpups.core.codec.Codec;
import io.gpups.core.net.SharedRing;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.FrameDecoder;
import io.gpups.core.protocol.FrameMemoryBudgetException;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.HelloAuth;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.protocol.ProtocolException;
import io.gpups.core.protocol.TableMessages;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.util.AttributeKey;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;

/**
 * The event-loop side of a shard: validates each frame, answers what needs no device (HELLO, errors) and
 * hands the rest to the {@link ShardAgent}. Never blocks, never touches the device. A broken frame stream
 * (bad magic, oversized length) closes the connection; every other bad request gets an ERROR answer.
 */
@ChannelHandler.Sharable
final class ShardHandler extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(ShardHandler.class);

    private final ShardConfig config;
    private final ShardAgent agent;
    /** Which ranks were heard from, and when: every request from a worker is noted here, on the event loop. */
    private final WorkerLiveness liveness;
    /** HELLO authentication, or null when the shard accepts any HELLO. */
    private final HelloAuth auth;
    private final Runnable onShutdown;
    /** One live connection per worker rank. */
    private final RankClaims ranks;
    private final AdminAccess admin;
    /** Where workers' shared-memory rings may be, or null: this shard takes none. */
    private final Path ringDirectory;

    /** The challenge this connection was given and has not answered yet. */
    private static final AttributeKey<byte[]> CHALLENGE = AttributeKey.valueOf("gpups.challenge");

    ShardHandler(ShardConfig config, ShardAgent agent, WorkerLiveness liveness, ShardSecurity security,
                 Runnable onShutdown) {
        this.config = config;
        this.agent = agent;
        this.liveness = liveness;
        this.auth = security.auth();
        this.onShutdown = onShutdown;
        this.ranks = new RankClaims(config.workers(), liveness::timedOut);
        this.admin = new AdminAccess(auth != null, security.allowRemoteAdmin());
        this.ringDirectory = security.ringDirectory();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        Channel ch = ctx.channel();
        if (msg instanceof FrameDecoder.UnknownOpcodeFrame unknown) {
            reject(ch, unknown.requestId(), new ProtocolException(ErrorCode.UNKNOWN_OPCODE, String.format(
                    "opcode 0x%02x names no request, expected 0x01..0x0c", unknown.opcode())));
            return;
        }
        Frame frame = (Frame) msg;
        if (frame.sharedPayload()) {
            frame = ownedUnlessRawPush(ctx, frame);
        }
        boolean handedOff = false;
        try {
            handedOff = dispatch(ch, frame);
            agent.backpressure.requestQueued(ch);
        } catch (ProtocolException e) {
            reject(ch, frame.requestId(), e);
            if (auth != null && Session.of(ch) == null) {
                // With authentication, nothing but a good HELLO is served: the connection goes.
                ch.close();
            }
        } finally {
            if (!handedOff) {
                frame.release();
            }
        }
    }

    /**
     * A frame from a worker's shared-memory ring, kept in place only when it is a push of raw fp32 values: those
     * are read once, by the device's guarded loops, whatever the worker does to them meanwhile. Anything else
     * (a codec's payload is checked before it is decoded) is copied out of the ring first.
     */
    private static Frame ownedUnlessRawPush(ChannelHandlerContext ctx, Frame frame) {
        ByteBuf payload = frame.payload();
        boolean rawPush = (frame.opcode() == Opcode.PUSH || frame.opcode() == Opcode.PUSH_PULL)
                && payload.readableBytes() >= Messages.PushHeader.LENGTH
                && payload.getUnsignedByte(payload.readerIndex() + Messages.PushHeader.CODEC_OFFSET) == Codec.Kind.NONE.id;
        return rawPush ? frame : frame.copied(ctx.alloc());
    }

    /** Returns true when the frame's ownership moved to the agent. */
    private boolean dispatch(Channel ch, Frame frame) {
        Opcode op = frame.opcode();
        long id = frame.requestId();
        ByteBuf payload = frame.payload();
        Session session = Session.of(ch);
        if (!op.isRequest()) {
            throw new ProtocolException(ErrorCode.UNKNOWN_OPCODE, op + " is an answer, a shard takes only requests");
        }
        if (session == null && op != Opcode.HELLO) {
            throw new ProtocolException(ErrorCode.NOT_HELLO, op + " before HELLO: say HELLO first");
        }
        if (session != null && session.rank >= 0) {
            liveness.heard(session.rank);
        }
        switch (op) {
            case HELLO -> {
                Messages.Hello hello = Messages.Hello.read(payload);
                if (hello.rank() >= config.workers()) {
                    throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "HELLO rank " + hello.rank()
                            + " out of range, this job has " + config.workers() + " worker(s): ranks 0.." + (config.workers() - 1));
                }
                if (session != null && session.rank != hello.rank()) {
                    throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "HELLO rank " + hello.rank()
                            + " on a connection that already said HELLO with rank " + session.rank);
                }
                if (auth != null && session == null) {
                    byte[] challenge = ch.attr(CHALLENGE).getAndSet(null);
                    if (hello.proof() == null) {
                        byte[] fresh = HelloAuth.newChallenge();
                        ch.attr(CHALLENGE).set(fresh);
                        ch.writeAndFlush(Frames.encode(ch.alloc(), Opcode.OK, id, new Messages.HelloReply(
                                config.shard(), config.shards(), config.workers(), config.consistency(), fresh)));
                        return false;
                    }
                    if (!auth.verify(challenge, hello.rank(), hello.proof())) {
                        log.warn("refusing {}: HELLO proof does not match {}", ch.remoteAddress(),
                                challenge == null ? "(no challenge was issued on this connection)" : "its challenge");
                        throw new ProtocolException(ErrorCode.AUTH_FAILED, challenge == null
                                ? "HELLO proof without a challenge: say HELLO without a proof first"
                                : !auth.hasSecretFor(hello.rank())
                                ? "this shard's token file has no secret for " + (hello.rank() < 0 ? "the admin (rank -1)" : "rank " + hello.rank())
                                : "HELLO proof does not match the challenge: wrong secret" + (auth.shared() ? "" : " for rank " + hello.rank()));
                    }
                }
                if (hello.rank() >= 0) {
                    Channel holder = ranks.claim(hello.rank(), ch);
                    if (holder != null) {
                        throw new ProtocolException(ErrorCode.CONFLICT, "rank " + hello.rank() + " is held by another live "
                                + "connection (from " + holder.remoteAddress() + "); a rank is served on one connection at a "
                                + "time, and is free once that connection closes or times out");
                    }
                }
                if (session == null) {
                    ch.attr(Session.KEY).set(new Session(hello.rank(), auth != null && (auth.shared() || hello.rank() < 0)));
                    ch.pipeline().fireUserEventTriggered(Session.PROVEN);
                }
                if (hello.rank() >= 0) {
                    liveness.heard(hello.rank());
                    agent.submit(() -> agent.workerSpoke(hello.rank()));
                }
                ch.writeAndFlush(Frames.encode(ch.alloc(), Opcode.OK, id, new Messages.HelloReply(
                        config.shard(), config.shards(), config.workers(), config.consistency())));
                return false;
            }
            case REGISTER -> {
                Messages.Register reg = Messages.Register.read(payload);
                agent.submit(() -> agent.register(ch, id, reg));
                return false;
            }
            case PUSH, PUSH_PULL -> {
                workerOnly(op, session);
                Messages.PushHeader h = Messages.PushHeader.read(payload, op.name());
                if (frame.sharedPayload() && h.codec() != Codec.Kind.NONE) {
                    // Raw fp32 when ownedUnlessRawPush looked, something else now: the worker rewrote it meanwhile.
                    throw new ProtocolException(ErrorCode.BAD_FRAME, op + " in the shared-memory ring changed its codec"
                            + " to " + h.codec() + " while the shard read it; a frame must not change once sent");
                }
                boolean thenPull = op == Opcode.PUSH_PULL;
                int rank = session.rank;
                agent.submitPush(ch, id, rank, h, payload, frame, thenPull);
                return true;
            }
            case REGISTER_TABLE -> {
                TableMessages.RegisterTable reg = TableMessages.RegisterTable.read(payload);
                agent.submit(() -> agent.registerTable(ch, id, reg));
                return false;
            }
            case PULL_ROWS, PUSH_ROWS -> {
                workerOnly(op, session);
                TableMessages.RowsHeader h = TableMessages.RowsHeader.read(payload, op);
                int rank = session.rank;
                if (op == Opcode.PULL_ROWS) {
                    agent.submit(() -> agent.pullRows(ch, id, rank, h, payload, frame));
                } else {
                    agent.submit(() -> agent.pushRows(ch, id, rank, h, payload, frame));
                }
                return true;
            }
            case PULL -> {
                workerOnly(op, session);
                Messages.Pull pull = Messages.Pull.read(payload);
                int rank = session.rank;
                agent.submit(() -> agent.pull(ch, id, rank, pull));
                return false;
            }
            case CLOCK -> {
                workerOnly(op, session);
                Messages.Clock clock = Messages.Clock.read(payload);
                int rank = session.rank;
                agent.submit(() -> agent.clock(ch, id, rank, clock));
                return false;
            }
            case RING_ATTACH -> {
                workerOnly(op, session);
                attachRing(ch, Messages.RingAttach.read(payload));
                ch.writeAndFlush(Frames.empty(ch.alloc(), Opcode.OK, id));
                return false;
            }
            case RING_FRAME -> throw new ProtocolException(ErrorCode.BAD_FRAME,
                    "RING_FRAME on a connection that reads no shared-memory ring");
            case HEARTBEAT -> {
                // Being heard is the point (noted above); the answer tells the worker the shard is there.
                expectEmpty(payload, op);
                ch.writeAndFlush(Frames.empty(ch.alloc(), Opcode.OK, id));
                return false;
            }
            case STATS -> {
                expectEmpty(payload, op);
                agent.submit(() -> agent.stats(ch, id));
                return false;
            }
            case SHUTDOWN -> {
                expectEmpty(payload, op);
                admin.check(op, session, ch.remoteAddress());
                log.info("SHUTDOWN requested by {}", ch.remoteAddress());
                ch.writeAndFlush(Frames.empty(ch.alloc(), Opcode.OK, id)).addListener(f -> onShutdown.run());
                return false;
            }
            case CHECKPOINT -> {
                admin.check(op, session, ch.remoteAddress());
                Messages.Checkpoint request = Messages.Checkpoint.read(payload);
                agent.submit(() -> agent.checkpoint(ch, id, request));
                return false;
            }
            default -> throw new ProtocolException(ErrorCode.UNKNOWN_OPCODE, op + " is not a request");
        }
    }

    /**
     * Maps the ring a worker on this host offers (RING_ATTACH): only where the shard takes rings, only from a
     * loopback address, once per connection, and only the file the worker made ({@link SharedRing#open} checks).
     */
    private void attachRing(Channel ch, Messages.RingAttach attach) {
        if (ringDirectory == null) {
            throw new ProtocolException(ErrorCode.FORBIDDEN, "this shard takes no shared-memory rings"
                    + " (--shared-memory-dir off); frames go over TCP");
        }
        if (!(ch.remoteAddress() instanceof InetSocketAddress peer) || peer.getAddress() == null
                || !peer.getAddress().isLoopbackAddress()) {
            throw new ProtocolException(ErrorCode.FORBIDDEN, "a shared-memory ring is for a worker on the shard's host;"
                    + " this connection is from " + ch.remoteAddress());
        }
        SharedRingInbound inbound = SharedRingInbound.of(ch);
        if (inbound == null) {
            throw new ProtocolException(ErrorCode.FORBIDDEN, "this connection reads no shared-memory ring");
        }
        if (inbound.attached()) {
            throw new ProtocolException(ErrorCode.CONFLICT, "a ring is attached to this connection already");
        }
        SharedRing ring;
        try {
            ring = SharedRing.open(ringDirectory, attach.name(), attach.capacity(), attach.token());
        } catch (IllegalArgumentException e) {
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "RING_ATTACH: " + e.getMessage());
        } catch (IOException e) {
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "RING_ATTACH: cannot map " + attach.name() + " in "
                    + ringDirectory + ": " + e);
        }
        inbound.attach(ring);
        log.info("{}: worker {} sends its frames through the shared-memory ring {} ({} bytes)", ch.remoteAddress(),
                Session.of(ch).rank, ring.file(), ring.capacity());
    }

    /** Worker requests need a worker rank; rank -1 is for admins and observers. */
    private void workerOnly(Opcode op, Session session) {
        if (session.rank < 0) {
            throw new ProtocolException(ErrorCode.FORBIDDEN, op + " needs a worker rank 0.." + (config.workers() - 1)
                    + "; this connection said HELLO with rank -1, which may only send HELLO, REGISTER, REGISTER_TABLE, STATS, "
                    + "HEARTBEAT, CHECKPOINT and SHUTDOWN");
        }
    }

    private static void expectEmpty(ByteBuf payload, Opcode op) {
        if (payload.isReadable()) {
            throw new ProtocolException(ErrorCode.BAD_FRAME, op + " takes no payload, got " + payload.readableBytes() + " bytes");
        }
    }

    private void reject(Channel ch, long requestId, ProtocolException e) {
        log.debug("rejecting request {} from {}: {}", requestId, ch.remoteAddress(), e.toString());
        ch.writeAndFlush(Frames.error(ch.alloc(), requestId, e.code(), e.getMessage()));
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        Channel ch = ctx.channel();
        Session session = Session.of(ch);
        if (session != null) {
            ranks.release(session.rank, ch);
        }
        agent.submit(() -> agent.connectionClosed(ch));
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof FrameMemoryBudgetException) {
            log.warn("closing {}: {}", ctx.channel().remoteAddress(), cause.getMessage());
        } else if (cause instanceof DecoderException) {
            log.info("closing {}: broken frame stream: {}", ctx.channel().remoteAddress(),
                    cause.getCause() != null ? cause.getCause().getMessage() : cause.getMessage());
            log.debug("broken frame stream from {}", ctx.channel().remoteAddress(), cause);
        } else {
            log.info("closing {}: {}", ctx.channel().remoteAddress(), cause.toString());
        }
        ctx.close();
    }
}
