package io.gpups.server;

import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.FrameDecoder;
import io.gpups.core.protocol.FrameMemoryBudgetException;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.HelloAuth;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.protocol.ProtocolException;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.util.AttributeKey;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        Channel ch = ctx.channel();
        if (msg instanceof FrameDecoder.UnknownOpcodeFrame unknown) {
            reject(ch, unknown.requestId(), new ProtocolException(ErrorCode.UNKNOWN_OPCODE, String.format(
                    "opcode 0x%02x names no request, expected 0x01..0x0a", unknown.opcode())));
            return;
        }
        Frame frame = (Frame) msg;
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
                boolean thenPull = op == Opcode.PUSH_PULL;
                int rank = session.rank;
                agent.submitPush(ch, id, rank, h, payload, frame, thenPull);
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

    /** Worker requests need a worker rank; rank -1 is for admins and observers. */
    private void workerOnly(Opcode op, Session session) {
        if (session.rank < 0) {
            throw new ProtocolException(ErrorCode.FORBIDDEN, op + " needs a worker rank 0.." + (config.workers() - 1)
                    + "; this connection said HELLO with rank -1, which may only send HELLO, REGISTER, STATS, "
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
