package io.gpups.worker.compress;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.RandomKSelection;
import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.tensor.ChunkLayout;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Encodes one tensor's gradients chunk by chunk on the worker's device, with an error-feedback residual
 * that stays on the device: each step encodes gradient + residual and keeps what was not sent as the new
 * residual (so over many steps, everything sent plus the final residual equals every gradient summed).
 * The payload buffers are reused every step; a payload is valid until the next {@link #encode}.
 */
public final class GradientEncoder implements AutoCloseable {

    private final Device device;
    private final String tensor;
    private final ChunkLayout layout;
    private final Codec codec;
    private final int rank;
    private final DeviceBuffer residual;
    private final ByteBuffer[] buffers;
    private final ByteBuffer[] payloads;

    public GradientEncoder(Device device, String tensor, ChunkLayout layout, Codec codec, int rank) {
        this.device = device;
        this.tensor = tensor;
        this.layout = layout;
        this.codec = codec;
        this.rank = rank;
        this.residual = codec.errorFeedback() ? device.allocate(layout.elements()) : null;
        this.buffers = new ByteBuffer[layout.chunks()];
        this.payloads = new ByteBuffer[layout.chunks()];
        for (int c = 0; c < buffers.length; c++) {
            buffers[c] = ByteBuffer.allocateDirect(Math.max(1, codec.maxPayloadBytes(layout.length(c))))
                    .order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    public Codec codec() {
        return codec;
    }

    /** Encodes every chunk of {@code gradient} for {@code step}; returns one payload per chunk. */
    public ByteBuffer[] encode(DeviceBuffer gradient, long step) {
        for (int c = 0; c < buffers.length; c++) {
            long seed = RandomKSelection.seed(tensor, c, step, rank);
            buffers[c].clear();
            int bytes = device.encode(codec, gradient, residual, layout.offset(c), layout.length(c), seed, buffers[c]);
            payloads[c] = buffers[c].duplicate().limit(bytes).order(ByteOrder.LITTLE_ENDIAN);
        }
        return payloads;
    }

    /** The residual's L2 norm: what error feedback holds back, for monitoring. */
    public double residualNorm() {
        if (residual == null) {
            return 0;
        }
        float[] r = new float[(int) Math.min(Integer.MAX_VALUE - 8, layout.elements())];
        device.download(residual, 0, r, 0, r.length);
        double sum = 0;
        for (float v : r) {
            sum += (double) v * v;
        }
        return Math.sqrt(sum);
    }

    @Override
    public void close() {
        if (residual != null) {
            residual.close();
        }
    }
}
