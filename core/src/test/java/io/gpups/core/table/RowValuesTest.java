package io.gpups.core.table;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RowValuesTest {

    @Test
    void halfPrecisionRoundsToNearestEvenAndIsExactBack() {
        assertEquals(0x3C00, RowValues.toHalf(1f) & 0xFFFF);
        assertEquals(0xC000, RowValues.toHalf(-2f) & 0xFFFF);
        assertEquals(0x7BFF, RowValues.toHalf(65504f) & 0xFFFF);          // largest finite half
        assertEquals(0x7C00, RowValues.toHalf(65520f) & 0xFFFF);          // rounds up to infinity
        assertEquals(0x7BFF, RowValues.toHalf(65519.99f) & 0xFFFF);
        assertEquals(0x0001, RowValues.toHalf(0x1.0p-24f) & 0xFFFF);      // smallest subnormal
        assertEquals(0x0000, RowValues.toHalf(0x1.0p-25f) & 0xFFFF);      // a tie with 0: to even
        assertEquals(0x0001, RowValues.toHalf(0x1.8p-25f) & 0xFFFF);
        assertEquals(0x3C00, RowValues.toHalf(1f + 0x1.0p-11f) & 0xFFFF); // tie: stays even
        assertEquals(0x3C02, RowValues.toHalf(1f + 0x3.0p-11f) & 0xFFFF); // tie: up to even
        assertEquals(0x8000, RowValues.toHalf(-0f) & 0xFFFF);
        assertEquals(0xFC00, RowValues.toHalf(Float.NEGATIVE_INFINITY) & 0xFFFF);
        assertTrue(Float.isNaN(RowValues.fromHalf(RowValues.toHalf(Float.NaN))));
        // Every half value converts to float exactly and back to the same bits.
        for (int h = 0; h < 0x10000; h++) {
            float f = RowValues.fromHalf((short) h);
            if (!Float.isNaN(f)) {
                assertEquals(h, RowValues.toHalf(f) & 0xFFFF, "half 0x" + Integer.toHexString(h));
            }
        }
        assertEquals(0x1.0p-24f, RowValues.fromHalf((short) 1));
        assertEquals(65504f, RowValues.fromHalf((short) 0x7BFF));
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals(0x3F80, RowValues.toBf16(1f) & 0xFFFF);
        assertEquals(0x3F80, RowValues.toBf16(Float.intBitsToFloat(0x3F808000)) & 0xFFFF); // tie: stays even
        assertEquals(0x3F82, RowValues.toBf16(Float.intBitsToFloat(0x3F818000)) & 0xFFFF); // tie: up to even
        assertEquals(0x3F81, RowValues.toBf16(Float.intBitsToFloat(0x3F808001)) & 0xFFFF);
        assertTrue(Float.isNaN(Float.intBitsToFloat((RowValues.toBf16(Float.NaN) & 0xFFFF) << 16)));
    }

    @Test
    void everyDtypeRoundTripsWithinItsPrecision() {
        int rows = 3;
        int dim = 5;
        float[] values = new float[rows * dim];
        for (int i = 0; i < values.length; i++) {
            values[i] = (i % 2 == 0 ? 1 : -1) * (0.25f + i * 0.37f);
        }
        values[5] = 0f;
        for (RowDtype dtype : RowDtype.values()) {
            ByteBuffer buf = ByteBuffer.allocate((int) (rows * dtype.rowBytes(dim))).order(ByteOrder.LITTLE_ENDIAN);
            RowValues.encode(values, 0, rows, dim, dtype, buf);
            assertEquals(buf.capacity(), buf.position(), dtype + " bytes written");
            buf.flip();
            float[] back = new float[rows * dim];
            RowValues.decode(buf, rows, dim, dtype, back, 0);
            for (int r = 0; r < rows; r++) {
                float max = 0;
                for (int j = 0; j < dim; j++) {
                    max = Math.max(max, Math.abs(values[r * dim + j]));
                }
                for (int j = 0; j < dim; j++) {
                    float v = values[r * dim + j];
                    float tolerance = switch (dtype) {
                        case FP32 -> 0f;
                        case BF16 -> Math.abs(v) * 0x1.0p-8f;
                        case FP16 -> Math.abs(v) * 0x1.0p-11f;
                        case INT8 -> max / 127f / 2f * 1.0001f;
                    };
                    assertEquals(v, back[r * dim + j], tolerance, dtype + " row " + r + " element " + j);
                }
            }
        }
    }
}
