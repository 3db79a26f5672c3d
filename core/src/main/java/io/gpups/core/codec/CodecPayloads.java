package io.gpups.core.codec;

import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.ProtocolException;
import io.netty.buffer.ByteBuf;

/**
 * Checks that a received payload matches its PUSH header before any byte of it reaches a device: its length
 * for the codec and element count, the k of sparse codecs, and (top-k) that every index is in range and
 * strictly ascending. A payload that passes decodes without reading out of bounds.
 */
public final class CodecPayloads {

    private CodecPayloads() {
    }

    /** Offset of the values of a sparse payload's k-th entry table: after u32 k and u32 reserved. */
    public static final int SPARSE_HEADER = 8;

    /** Throws {@link ProtocolException} naming what disagrees; the payload's reader index is unchanged. */
    public static void check(Codec.Kind kind, int count, ByteBuf payload, String what) {
        int bytes = payload.readableBytes();
        switch (kind) {
            case NONE -> exact(what, kind, count, bytes, 4L * count);
            case FP16, BF16 -> exact(what, kind, count, bytes, 2L * count);
            case INT8 -> exact(what, kind, count, bytes, 4L * Codec.blocks(count) + count);
            case SIGN -> exact(what, kind, count, bytes, 4L * Codec.blocks(count) + 4L * Codec.words(count));
            case TOPK -> {
                long k = sparseK(what, kind, count, payload, 0);
                exact(what, kind, count, bytes, SPARSE_HEADER + 8 * k);
                int base = payload.readerIndex() + SPARSE_HEADER;
                long previous = -1;
                for (int j = 0; j < k; j++) {
                    long index = payload.getUnsignedIntLE(base + 4 * j);
                    if (index >= count || index <= previous) {
                        throw new ProtocolException(ErrorCode.BAD_ARGUMENT, what + " topk index " + index + " at position "
                                + j + " is " + (index >= count ? "out of range, the chunk holds " + count + " elements"
                                : "not above the previous index " + previous + " (indices must be strictly ascending)"));
                    }
                    previous = index;
                }
            }
            case RANDOMK -> {
                long k = sparseK(what, kind, count, payload, 1);
                exact(what, kind, count, bytes, SPARSE_HEADER + 4 * k);
            }
        }
    }

    /** The k of a sparse payload, checked against the chunk size. */
    public static int sparseK(ByteBuf payload) {
        return (int) payload.getUnsignedIntLE(payload.readerIndex());
    }

    /** top-k may send nothing (an all-zero gradient); randomk always sends at least one value. */
    private static long sparseK(String what, Codec.Kind kind, int count, ByteBuf payload, int minimum) {
        if (payload.readableBytes() < SPARSE_HEADER) {
            throw new ProtocolException(ErrorCode.SIZE_MISMATCH, what + " " + kind.cliName + " payload is "
                    + payload.readableBytes() + " bytes, shorter than its 8-byte header");
        }
        long k = payload.getUnsignedIntLE(payload.readerIndex());
        if (k < minimum || k > count) {
            throw new ProtocolException(ErrorCode.SIZE_MISMATCH, what + " " + kind.cliName + " k " + k
                    + " out of range " + minimum + ".." + count + " (the chunk's element count)");
        }
        return k;
    }

    private static void exact(String what, Codec.Kind kind, int count, int bytes, long expected) {
        if (bytes != expected) {
            throw new ProtocolException(ErrorCode.SIZE_MISMATCH, what + " " + kind.cliName + " payload for " + count
                    + " elements must be " + expected + " bytes, got " + bytes);
        }
    }
}
