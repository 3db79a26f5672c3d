package io.gpups.core.codec;

import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.ProtocolException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CodecTest {

    @Test
    void parsesEveryCodecAndNamesBadOnes() {
        assertEquals(Codec.topk(0.01f), Codec.parse("topk:0.01"));
        assertEquals(Codec.randomk(0.5f), Codec.parse(" RandomK:0.5 "));
        assertEquals(Codec.SIGN, Codec.parse("sign"));
        assertEquals("topk:0.01", Codec.parse("topk:0.01").toString());
        assertEquals("codec 'topk': topk needs a ratio, e.g. topk:0.01",
                assertThrows(IllegalArgumentException.class, () -> Codec.parse("topk")).getMessage());
        assertEquals("topk ratio must be in (0, 1], got 1.5",
                assertThrows(IllegalArgumentException.class, () -> Codec.parse("topk:1.5")).getMessage());
        assertEquals("codec 'int8:3': int8 takes no ratio",
                assertThrows(IllegalArgumentException.class, () -> Codec.parse("int8:3")).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Codec.parse("zip")).getMessage()
                .contains("expected none, fp16, bf16, int8, topk:R, randomk:R or sign"));
    }

    @Test
    void payloadSizesFollowTheLayouts() {
        assertEquals(4 * 1000, Codec.NONE.maxPayloadBytes(1000));
        assertEquals(2 * 1000, Codec.BF16.maxPayloadBytes(1000));
        assertEquals(4 * 4 + 1000, Codec.INT8.maxPayloadBytes(1000));
        assertEquals(4 * 4 + 4 * 32, Codec.SIGN.maxPayloadBytes(1000));
        assertEquals(8 + 4 * 10, Codec.randomk(0.01f).maxPayloadBytes(1000));
        assertEquals(8 + 8 * 36, Codec.topk(0.01f).maxPayloadBytes(1000));
    }

    @Test
    void everyMalformedPayloadIsNamed() {
        assertBad(Codec.Kind.NONE, 3, Unpooled.buffer().writeZero(8), ErrorCode.SIZE_MISMATCH, "must be 12 bytes, got 8");
        assertBad(Codec.Kind.FP16, 3, Unpooled.buffer().writeZero(5), ErrorCode.SIZE_MISMATCH, "must be 6 bytes, got 5");
        assertBad(Codec.Kind.BF16, 3, Unpooled.buffer().writeZero(7), ErrorCode.SIZE_MISMATCH, "must be 6 bytes, got 7");
        assertBad(Codec.Kind.INT8, 257, Unpooled.buffer().writeZero(4 + 257), ErrorCode.SIZE_MISMATCH, "must be 265 bytes");
        assertBad(Codec.Kind.SIGN, 33, Unpooled.buffer().writeZero(8), ErrorCode.SIZE_MISMATCH, "must be 12 bytes, got 8");
        assertBad(Codec.Kind.TOPK, 10, Unpooled.buffer().writeZero(4), ErrorCode.SIZE_MISMATCH, "shorter than its 8-byte header");
        assertBad(Codec.Kind.TOPK, 10, Unpooled.buffer().writeIntLE(11).writeIntLE(0), ErrorCode.SIZE_MISMATCH, "k 11 out of range 0..10");
        assertBad(Codec.Kind.TOPK, 10, Unpooled.buffer().writeIntLE(1).writeIntLE(0).writeIntLE(3), ErrorCode.SIZE_MISMATCH,
                "must be 16 bytes, got 12");
        assertBad(Codec.Kind.TOPK, 10, Unpooled.buffer().writeIntLE(2).writeIntLE(0).writeIntLE(5).writeIntLE(4).writeZero(8),
                ErrorCode.BAD_ARGUMENT, "topk index 4 at position 1 is not above the previous index 5");
        assertBad(Codec.Kind.TOPK, 10, Unpooled.buffer().writeIntLE(1).writeIntLE(0).writeIntLE(-1).writeZero(4),
                ErrorCode.BAD_ARGUMENT, "topk index 4294967295 at position 0 is out of range");
        assertBad(Codec.Kind.RANDOMK, 10, Unpooled.buffer().writeIntLE(0).writeIntLE(0), ErrorCode.SIZE_MISMATCH, "k 0 out of range 1..10");
        assertBad(Codec.Kind.RANDOMK, 10, Unpooled.buffer().writeIntLE(2).writeIntLE(0).writeZero(4), ErrorCode.SIZE_MISMATCH,
                "must be 16 bytes, got 12");
    }

    private static void assertBad(Codec.Kind kind, int count, ByteBuf payload, ErrorCode code, String fragment) {
        ProtocolException e = assertThrows(ProtocolException.class, () -> CodecPayloads.check(kind, count, payload, "PUSH"));
        assertEquals(code, e.code(), e.getMessage());
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
        assertEquals(0, payload.readerIndex(), "the check does not consume the payload");
        payload.release();
    }

    @Property(tries = 200)
    void randomkIndicesAreDistinctAndInRange(@ForAll @IntRange(min = 1, max = 5000) int n,
                                             @ForAll @IntRange(min = 1, max = 5000) int kWanted, @ForAll @LongRange long seed) {
        int k = Math.min(n, kWanted);
        RandomKSelection sel = RandomKSelection.of(seed, n, k);
        Set<Long> seen = new HashSet<>();
        for (int j = 0; j < k; j++) {
            long i = sel.index(j);
            assertTrue(i >= 0 && i < n, "index " + i + " of " + n);
            assertTrue(seen.add(i), "index " + i + " twice");
        }
        assertEquals(sel, RandomKSelection.of(seed, n, k), "both ends derive the same selection");
    }
}
