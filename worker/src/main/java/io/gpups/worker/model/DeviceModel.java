package io.gpups.worker.model;

import io.gpups.core.device.DeviceBuffer;

/**
 * A model's buffers on one device, sized for batches of up to {@link #maxBatch()} rows, and its forward
 * and backward passes. The caller uploads a batch into {@link #input()} and {@link #labels()} and
 * parameters into {@link #parameter(int)}; {@link #forwardBackward(int)} leaves the gradients in
 * {@link #gradient(int)}. Tensor {@code i} is {@code tensors(...).get(i)} of the model. Closing frees every
 * buffer.
 */
public interface DeviceModel extends AutoCloseable {

    int maxBatch();

    /** Rows of input features, [maxBatch, inputs] row-major. */
    DeviceBuffer input();

    /** One float class index per row, [maxBatch]. */
    DeviceBuffer labels();

    int tensorCount();

    /** Number of float32 elements of tensor {@code i}. */
    int elements(int tensor);

    DeviceBuffer parameter(int tensor);

    DeviceBuffer gradient(int tensor);

    /**
     * Forward and backward over the first {@code rows} rows; returns the mean softmax cross-entropy loss and
     * leaves d(mean loss)/d(parameter) in the gradient buffers.
     */
    float forwardBackward(int rows);

    /** Forward over the first {@code rows} rows; returns how many rows are classified as labelled. */
    int countCorrect(int rows);

    @Override
    void close();
}
