package io.gpups.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

class AnswerBuffersTest {

    private static final int CHUNK = 4 << 20;
    private final UnpooledByteBufAllocator alloc = new UnpooledByteBufAllocator(true);
    private final AnswerBuffers buffers = new AnswerBuffers(2L * CHUNK);

    @AfterEach
    void close() {
        buffers.close();
    }

    /** Fills the answer as the agent does, then releases it as the socket does once sent. */
    private static long sendAndRelease(ByteBuf answer) {
        long address = answer.memoryAddress();
        answer.writeZero(answer.writableBytes());
        answer.release();
        return address;
    }

    @Test
    void aSentAnswersBufferIsReusedForTheNextAnswer() {
        ByteBuf first = buffers.take(alloc, CHUNK);
        assertEquals(CHUNK, first.writableBytes());
        long address = sendAndRelease(first);
        ByteBuf second = buffers.take(alloc, CHUNK);
        assertEquals(0, second.readableBytes(), "handed out empty");
        assertEquals(CHUNK, second.writableBytes());
        assertEquals(address, second.memoryAddress());
        second.release();
        assertEquals(CHUNK, buffers.keptBytes());
    }

    @Test
    void aBufferAnAnswerStillHoldsIsNotHandedOutAgain() {
        ByteBuf held = buffers.take(alloc, CHUNK);
        ByteBuf other = buffers.take(alloc, CHUNK);
        assertNotEquals(held.memoryAddress(), other.memoryAddress());
        held.release();
        other.release();
    }

    @Test
    void pastTheBudgetAnswersGetBuffersOfTheirOwnAndIdleOnesMakeRoom() {
        ByteBuf a = buffers.take(alloc, CHUNK);
        ByteBuf b = buffers.take(alloc, CHUNK);
        ByteBuf c = buffers.take(alloc, CHUNK);
        assertEquals(2L * CHUNK, buffers.keptBytes(), "the third is not kept");
        c.release();
        a.release();
        b.release();
        ByteBuf larger = buffers.take(alloc, 2 * CHUNK);
        assertEquals(2L * CHUNK, buffers.keptBytes(), "idle 4 MiB buffers were dropped for the 8 MiB one");
        larger.release();
    }

    @Test
    void smallAnswersComeFromTheAllocator() {
        ByteBuf small = buffers.take(alloc, AnswerBuffers.MIN_BYTES - 1);
        small.release();
        assertEquals(0, buffers.keptBytes());
    }
}
