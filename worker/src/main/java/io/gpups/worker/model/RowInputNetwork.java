package io.gpups.worker.model;

import io.gpups.core.device.DeviceBuffer;

/**
 * The dense part of a model whose input is made of embedding rows ({@link CtrModel}'s MLP, {@link EmbBagModel}'s
 * softmax layer) on a device: the caller uploads each sample's input and label; {@link #forwardBackward} leaves the
 * network's gradients and d(mean loss)/d(input), from which the caller makes the rows' gradients.
 */
public final class RowInputNetwork implements AutoCloseable {

    private final DenseDeviceModel network;
    private final int classes;

    RowInputNetwork(DenseDeviceModel network, int classes) {
        this.network = network;
        this.classes = classes;
    }

    public int maxBatch() {
        return network.maxBatch();
    }

    public int classes() {
        return classes;
    }

    /** [maxBatch, inputs] row-major. */
    public DeviceBuffer input() {
        return network.input();
    }

    /** One float label (the class index) per sample. */
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

    /** The forward pass alone; the logits are then in {@link #logits()}. */
    public void forward(int rows) {
        network.forwardOnly(rows);
    }

    /** [maxBatch, classes]: the logits. */
    public DeviceBuffer logits() {
        return network.output();
    }

    @Override
    public void close() {
        network.close();
    }
}
