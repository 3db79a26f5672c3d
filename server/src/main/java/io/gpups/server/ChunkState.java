package io.gpups.server;

import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.optim.OptimizerSpec;

/**
 * One chunk held by this shard: parameters, optimizer state and, under bsp, the gradient sum of the step in
 * progress. Owned by the shard agent thread; no locks.
 */
final class ChunkState implements AutoCloseable {

    final TensorState tensor;
    final int index;
    final long offset;
    final int length;
    final DeviceBuffer param;
    final DeviceBuffer[] slots;
    /** Sum of the gradients received for step {@link #version} (bsp only, else null). */
    final DeviceBuffer accumulator;

    /** Updates applied so far; under bsp also the step whose gradients are being collected. */
    long version;
    /** bsp: which worker ranks have pushed for the current step. */
    final boolean[] arrived;
    int arrivedCount;
    /** bsp: how many of the arrived workers pushed with no contribution (--nonfinite skip-step); the step's mean leaves them out. */
    int emptyArrivals;

    ChunkState(TensorState tensor, int index, Device device, boolean bsp, int workers) {
        this.tensor = tensor;
        this.index = index;
        this.offset = tensor.layout.offset(index);
        this.length = tensor.layout.length(index);
        DeviceBuffer p = null;
        DeviceBuffer acc = null;
        DeviceBuffer[] s = new DeviceBuffer[tensor.spec.optimizer().slots()];
        try {
            p = device.allocate(length);
            InitialValues.write(tensor.spec.initializer(), offset, device, p, length);
            for (int i = 0; i < s.length; i++) {
                s[i] = device.allocate(length);
            }
            if (tensor.spec.optimizer() instanceof OptimizerSpec.Adagrad adagrad && adagrad.initialAccumulator() != 0f) {
                device.fill(s[0], adagrad.initialAccumulator(), length);
            }
            if (bsp) {
                acc = device.allocate(length);
            }
        } catch (RuntimeException | Error e) {
            closeAll(p, acc, s);
            throw e;
        }
        this.param = p;
        this.accumulator = acc;
        this.slots = s;
        this.arrived = bsp ? new boolean[workers] : null;
    }

    /** Device bytes this chunk holds. */
    long deviceBytes() {
        return deviceBytes(length, slots.length, accumulator != null);
    }

    /** Device bytes of a chunk of {@code length} elements: parameters, optimizer slots and the bsp sum. */
    static long deviceBytes(int length, int slots, boolean bsp) {
        return 4L * length * (1 + slots + (bsp ? 1 : 0));
    }

    @Override
    public void close() {
        closeAll(param, accumulator, slots);
    }

    private static void closeAll(DeviceBuffer p, DeviceBuffer acc, DeviceBuffer[] s) {
        if (p != null) {
            p.close();
        }
        if (acc != null) {
            acc.close();
        }
        for (DeviceBuffer b : s) {
            if (b != null) {
                b.close();
            }
        }
    }
}
