package io.gpups.server;

import io.gpups.core.codec.Codec;
import io.gpups.core.device.Device;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.FrameDecoder;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.HelloAuth;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Every ERROR answer a shard gives, one test per {@link ErrorCode} it produces, below the socket
 * ({@link EmbeddedShard}): each names the request that earns it and a fragment of its message. (SHUTTING_DOWN is
 * defined by the protocol but not sent by a shard.)
 */
class ShardErrorAnswersTest {

    private static final TensorSpec W = new TensorSpec("w", new long[] {8},
            new Initializer(Initializer.Kind.CONSTANT, 1f, 0), new OptimizerSpec.Sgd(0.5f, 0f));

    /** Each test's shard, closed after it. */
    @AutoClose
    private EmbeddedShard shard;

    /** An asp shard for 2 workers; rank 0's connection holds "w" (two chunks of 4) as tensor 0. */
    private EmbeddedChannel aspWithW() {
        shard = new EmbeddedShard("asp", 2, 0);
        EmbeddedChannel w0 = shard.worker(0);
        assertEquals(0, shard.register(w0, W, 4, 0, 1));
        return w0;
    }

    private EmbeddedShard.Answer push(EmbeddedChannel ch, Messages.PushHeader h, float... values) {
        long id = shard.push(ch, Opcode.PUSH, h, values);
        shard.run();
        EmbeddedShard.Answer a = shard.answer(ch);
        assertEquals(id, a.requestId());
        return a;
    }

    @Test
    void aHeartbeatWithAPayloadIsABadFrame() {
        EmbeddedChannel w0 = aspWithW();
        shard.sendRaw(w0, Opcode.HEARTBEAT, Unpooled.wrappedBuffer(new byte[3]));
        shard.answer(w0).refused(ErrorCode.BAD_FRAME, "HEARTBEAT takes no payload, got 3 bytes");
    }

    @Test
    void anAnswerOpcodeSentAsARequestIsAnUnknownOpcode() {
        EmbeddedChannel w0 = aspWithW();
        shard.send(w0, Opcode.OK, null);
        shard.answer(w0).refused(ErrorCode.UNKNOWN_OPCODE, "OK is an answer, a shard takes only requests");
    }

    @Test
    void aPullOfATensorIdNeverRegisteredIsAnUnknownTensor() {
        EmbeddedChannel w0 = aspWithW();
        shard.call(w0, Opcode.PULL, new Messages.Pull(7, 0, 0))
                .refused(ErrorCode.UNKNOWN_TENSOR, "PULL: no tensor with id 7 on shard 0 (1 registered)");
    }

    @Test
    void aPullOfAChunkThisShardDoesNotHoldIsABadChunk() {
        EmbeddedChannel w0 = aspWithW();
        shard.call(w0, Opcode.PULL, new Messages.Pull(0, 2, 0))
                .refused(ErrorCode.BAD_CHUNK, "chunk 2 is not held by shard 0");
    }

    @Test
    void aPushWithMoreValuesThanItsChunkIsASizeMismatch() {
        EmbeddedChannel w0 = aspWithW();
        push(w0, new Messages.PushHeader(0, 1, 0, 5), 1, 2, 3, 4, 5)
                .refused(ErrorCode.SIZE_MISMATCH, "5 values, the chunk holds 4");
    }

    @Test
    void aHelloForARankPastTheJobsWorkersIsABadArgument() {
        aspWithW();
        EmbeddedChannel ch = shard.connect();
        shard.call(ch, Opcode.HELLO, new Messages.Hello(2, 0))
                .refused(ErrorCode.BAD_ARGUMENT, "HELLO rank 2 out of range, this job has 2 worker(s)");
    }

    @Test
    void aBspPullTwoStepsAheadOfItsChunkIsABadArgument() {
        shard = new EmbeddedShard("bsp", 2, 0);
        EmbeddedChannel w0 = shard.worker(0);
        shard.register(w0, W, 4, 0, 1);
        shard.call(w0, Opcode.PULL, new Messages.Pull(0, 0, 2))
                .refused(ErrorCode.BAD_ARGUMENT, "at clock 2, but the chunk's version is 0");
    }

    @Test
    void aSecondDefinitionUnderARegisteredNameIsAConflict() {
        EmbeddedChannel w0 = aspWithW();
        shard.call(w0, Opcode.REGISTER, new Messages.Register(W, 2, new int[] {0}))
                .refused(ErrorCode.CONFLICT, "tensor 'w' is already registered as");
    }

    @Test
    void aBspPushForAStepAheadOfItsChunkIsAStaleStep() {
        shard = new EmbeddedShard("bsp", 2, 0);
        EmbeddedChannel w0 = shard.worker(0);
        shard.register(w0, W, 4, 0, 1);
        push(w0, new Messages.PushHeader(0, 0, 5, 4), 1, 1, 1, 1)
                .refused(ErrorCode.STALE_STEP, "bsp PUSH for step 5 of 'w' chunk 0, but the chunk is collecting step 0");
    }

    @Test
    void aRequestBeforeHelloIsNotHello() {
        aspWithW();
        EmbeddedChannel ch = shard.connect();
        shard.send(ch, Opcode.PULL, new Messages.Pull(0, 0, 0));
        shard.answer(ch).refused(ErrorCode.NOT_HELLO, "PULL before HELLO");
    }

    @Test
    void aPushWithACodecIdNoCodecHasIsAnUnsupportedCodec() {
        EmbeddedChannel w0 = aspWithW();
        ByteBuf header = ByteBufAllocator.DEFAULT.buffer(Messages.PushHeader.LENGTH + 16);
        new Messages.PushHeader(0, 0, 0, Codec.Kind.NONE, Messages.DTYPE_FP32, 4).writeTo(header);
        header.setByte(16, 99); // the codec byte (PushHeader's layout: offset 16)
        header.writeZero(16);
        shard.sendRaw(w0, Opcode.PUSH, header);
        shard.answer(w0).refused(ErrorCode.UNSUPPORTED_CODEC, "codec 99 not supported");
    }

    @Test
    void aDeviceFaultDuringAPushIsInternal() {
        shard = new EmbeddedShard("asp", 1, 0, Long.MAX_VALUE, device -> (Device) Proxy.newProxyInstance(
                Device.class.getClassLoader(), new Class<?>[] {Device.class}, (proxy, method, args) -> {
                    if (method.getName().equals("decodeApplyOptimizer")) {
                        throw new IllegalStateException("injected device fault");
                    }
                    try {
                        return method.invoke(device, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                }));
        EmbeddedChannel w0 = shard.worker(0);
        shard.register(w0, W, 4, 0, 1);
        push(w0, new Messages.PushHeader(0, 0, 0, 4), 1, 1, 1, 1)
                .refused(ErrorCode.INTERNAL, "IllegalStateException: injected device fault");
        assertEquals(1, shard.agent.counters.errors);
    }

    @Test
    void aRegistrationPastTheShardsByteLimitIsOutOfMemory() {
        shard = new EmbeddedShard("asp", 1, 0, 64, UnaryOperator.identity());
        EmbeddedChannel w0 = shard.worker(0);
        shard.call(w0, Opcode.REGISTER, new Messages.Register(W, 4, new int[] {0, 1}))
                .refused(ErrorCode.OUT_OF_MEMORY, "this shard holds 0 of its limit 64");
    }

    @Test
    void aHelloWithAProofButNoChallengeIsAnAuthFailure() {
        aspWithW();
        byte[] secret = "the job's one shared secret".getBytes(StandardCharsets.UTF_8);
        HelloAuth auth = HelloAuth.ofSecret(secret);
        ShardHandler checking = new ShardHandler(shard.config, shard.agent, shard.liveness,
                new ShardSecurity(auth, null, 16, Long.MAX_VALUE), () -> { });
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(1 << 16), checking);
        try {
            ch.writeInbound(Frames.encode(ByteBufAllocator.DEFAULT, Opcode.HELLO, 1,
                    new Messages.Hello(0, 0, auth.proof(HelloAuth.newChallenge(), 0))));
            shard.answer(ch).refused(ErrorCode.AUTH_FAILED, "HELLO proof without a challenge");
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    @Test
    void aPushWithANonFiniteGradientUnderRejectIsNonFinite() {
        EmbeddedChannel w0 = aspWithW();
        push(w0, new Messages.PushHeader(0, 0, 3, 4), 1, Float.NaN, 1, Float.POSITIVE_INFINITY)
                .refused(ErrorCode.NON_FINITE, "2 of 4 gradient values are NaN or infinite");
    }

    @Test
    void aPushFromRankMinusOneIsForbidden() {
        aspWithW();
        EmbeddedChannel observer = shard.worker(-1);
        push(observer, new Messages.PushHeader(0, 0, 0, 4), 1, 1, 1, 1)
                .refused(ErrorCode.FORBIDDEN, "PUSH needs a worker rank 0..1");
    }
}
