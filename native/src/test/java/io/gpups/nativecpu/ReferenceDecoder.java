package io.gpups.nativecpu;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.RandomKSelection;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The codecs' payload layouts (docs/PROTOCOL.md) decoded in plain Java, slowly and obviously, NaN and infinities
 * included: the reference the device's fused decodes are compared with. Reads a payload from its position.
 */
final class ReferenceDecoder {

    private ReferenceDecoder() {
    }

    static float halfToFloat(int h) {
        int sign = (h & 0x8000) << 16;
        int e = (h >>> 10) & 0x1f;
        int m = h & 0x3ff;
        if (e == 0) {
            float v = m * 5.9604644775390625e-8f;
            return sign != 0 ? -v : v;
        }
        if (e == 31) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (m << 13));
        }
        return Float.intBitsToFloat(sign | ((e + 112) << 23) | (m << 13));
    }

    /** Element i's decoded gradient (sparse codecs: 0 where nothing was sent). */
    static float[] decode(Codec.Kind kind, ByteBuffer payload, int n, long seed) {
        ByteBuffer p = payload.slice().order(ByteOrder.LITTLE_ENDIAN);
        float[] d = new float[n];
        int blocks = Codec.blocks(n);
        switch (kind) {
            case NONE -> {
                for (int i = 0; i < n; i++) {
                    d[i] = p.getFloat(4 * i);
                }
            }
            case FP16 -> {
                for (int i = 0; i < n; i++) {
                    d[i] = halfToFloat(p.getShort(2 * i) & 0xffff);
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    d[i] = Float.intBitsToFloat((p.getShort(2 * i) & 0xffff) << 16);
                }
            }
            case INT8 -> {
                for (int i = 0; i < n; i++) {
                    d[i] = p.get(4 * blocks + i) * p.getFloat(4 * (i / Codec.BLOCK));
                }
            }
            case SIGN -> {
                for (int i = 0; i < n; i++) {
                    float scale = p.getFloat(4 * (i / Codec.BLOCK));
                    int word = p.getInt(4 * blocks + 4 * (i / 32));
                    d[i] = ((word >>> (i % 32)) & 1) != 0 ? -scale : scale;
                }
            }
            case TOPK -> {
                int k = p.getInt(0);
                for (int j = 0; j < k; j++) {
                    d[p.getInt(8 + 4 * j)] = p.getFloat(8 + 4 * k + 4 * j);
                }
            }
            case RANDOMK -> {
                int k = p.getInt(0);
                RandomKSelection s = RandomKSelection.of(seed, n, k);
                for (int j = 0; j < k; j++) {
                    d[(int) ((s.start() + j * s.stride()) % n)] = p.getFloat(8 + 4 * j);
                }
            }
        }
        return d;
    }
}
