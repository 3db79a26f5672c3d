package io.gpups.worker.model;

import io.gpups.core.device.DeviceBuffer;

/**
 * A {@link CtrModel}'s MLP on a device: the caller uploads each sample's input (its fields' rows, then its dense
 * features) and label; {@link #forwardBackward} leaves the MLP's gradients and the gradient of the input, whose first
 * {@code fields * dim} columns are the rows' gradients.
 */
public final class CtrDeviceModel implements AutoCloseable {

    private final DenseDeviceModel network;

    CtrDeviceModel(DenseDeviceModel network) {
        this.network = network;
    }

    public int maxBatch() {
        return network.maxBatch();
    }

    /** [maxBatch, inputs] row-major. */
    public DeviceBuffer input() {
        return network.input();
    }

    /** One float label (0 or 1) per sample. */
    public DeviceBuffer labels() {
        return network.labels();
    }

    public int tensorCount() {
        return network.tensorCount();
    }

    public int elements(int tensor) {
        return network.elements(tensor);
    }

    public DeviceBuffer parameter(int tensor) {
        return network.parameter(tensor);
    }

    public DeviceBuffer gradient(int tensor) {
        return network.gradient(tensor);
    }

    /** Mean loss of the first {@code rows} samples; leaves the gradients. */
    public float forwardBackward(int rows) {
        return network.forwardBackward(rows);
    }

    /** d(mean loss)/d(input), [maxBatch, inputs], after {@link #forwardBackward}. */
    public DeviceBuffer inputGradient() {
        return network.inputGradient();
    }

    /** The forward pass alone; the two logits per sample are then in {@link #logits()}. */
    public void forward(int rows) {
        network.forwardOnly(rows);
    }

    /** [maxBatch, 2]: the logits of no click and click. */
    public DeviceBuffer logits() {
        return network.output();
    }

    @Override
    public void close() {
        network.close();
    }
}
