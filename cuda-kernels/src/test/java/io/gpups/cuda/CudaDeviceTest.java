package io.gpups.cuda;

import io.gpups.core.codec.Codec;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.device.DeviceOutOfMemoryException;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What is particular to the CUDA device; every test is skipped with the reason where CUDA is unavailable. */
class CudaDeviceTest {

    private CudaDevice device;

    @BeforeEach
    void open() {
        device = (CudaDevice) TestDevices.open(TestDevices.CUDA);
    }

    @AfterEach
    void close() {
        if (device != null) {
            device.close();
        }
    }

    @Test
    void namesTheOrdinalAndTheGpu() {
        assertEquals("cuda:0", device.name());
        assertTrue(!device.gpuName().isEmpty());
        assertTrue(new CudaDeviceProvider().deviceCount() >= 1);
    }

    @Test
    void outOfDeviceMemoryIsADeviceOutOfMemoryExceptionAndTheDeviceKeepsWorking() {
        try (DeviceBuffer kept = device.allocate(1000)) {
            device.fill(kept, 3f, 1000);
            // 2^42 floats = 16 TiB: more than any GPU has.
            DeviceOutOfMemoryException e = assertThrows(DeviceOutOfMemoryException.class,
                    () -> device.allocate(1L << 42));
            assertTrue(e.getMessage().contains("CUDA_ERROR_OUT_OF_MEMORY"), e.getMessage());
            assertTrue(e.getMessage().contains(String.valueOf(1L << 44)), e.getMessage());
            float[] back = new float[1000];
            device.download(kept, 0, back, 0, 1000);
            assertEquals(3f, back[999]);
        }
    }

    @Test
    void twoDevicesOnOneGpuHaveTheirOwnStreamsAndBuffers() {
        try (CudaDevice second = (CudaDevice) new CudaDeviceProvider().open(0);
             DeviceBuffer a = device.allocate(4096); DeviceBuffer b = second.allocate(4096)) {
            device.fill(a, 1f, 4096);
            second.fill(b, 2f, 4096);
            float[] fromA = new float[4096];
            float[] fromB = new float[4096];
            device.download(a, 0, fromA, 0, 4096);
            second.download(b, 0, fromB, 0, 4096);
            assertEquals(1f, fromA[4095]);
            assertEquals(2f, fromB[4095]);
            assertThrows(IllegalArgumentException.class, () -> device.scale(b, 2f, 4096));
        }
    }

    @Test
    void anUploadReturnsWithTheCallersBufferFreeToReuse() {
        // The upload copies into pinned staging before returning: overwriting the source afterwards changes nothing.
        int n = 3_000_000;
        ByteBuffer host = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            host.putFloat(4 * i, i);
        }
        try (DeviceBuffer buffer = device.allocate(n)) {
            device.upload(host, buffer, 0, n);
            for (int i = 0; i < n; i++) {
                host.putFloat(4 * i, -1f);
            }
            float[] back = new float[n];
            device.download(buffer, 0, back, 0, n);
            for (int i = 0; i < n; i += 4999) {
                assertEquals(i, back[i]);
            }
        }
    }

    @Test
    void buffersClosedFromAnotherThreadAreFreed() throws Exception {
        DeviceBuffer buffer = device.allocate(1 << 20);
        Thread t = new Thread(buffer::close);
        t.start();
        t.join();
        buffer.close();
        assertThrows(IllegalStateException.class, () -> device.fill(buffer, 1f, 1));
        try (DeviceBuffer again = device.allocate(4)) {
            device.fill(again, 5f, 4);
            float[] back = new float[4];
            device.download(again, 0, back, 0, 4);
            assertArrayEquals(new float[] {5f, 5f, 5f, 5f}, back);
        }
    }

    @Test
    void aPayloadShorterThanItsCodecReadsIsRefusedBeforeAnyKernelRuns() {
        try (DeviceBuffer acc = device.allocate(300)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> device.decodeAccumulate(Codec.Kind.INT8, ByteBuffer.allocate(100), 300, 0, acc));
            assertTrue(e.getMessage().contains(String.valueOf(4 * 2 + 300)), e.getMessage());
            ByteBuffer topk = ByteBuffer.allocate(8 + 8 * 5).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 301);
            e = assertThrows(IllegalArgumentException.class,
                    () -> device.decodeAccumulate(Codec.Kind.TOPK, topk, 300, 0, acc));
            assertTrue(e.getMessage().contains("301"), e.getMessage());
            // The device keeps working.
            device.fill(acc, 2f, 300);
            float[] back = new float[300];
            device.download(acc, 0, back, 0, 300);
            assertEquals(2f, back[299]);
        }
    }
}
