package io.gpups.worker.model;

import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;

import java.util.ArrayList;
import java.util.List;

/**
 * {@link DenseNetwork} on a device. With {@code a[0]} the input and {@code W[l]} shaped [in, out]:
 *
 * <pre>
 * forward   z[l] = a[l-1] W[l] + b[l];  a[l] = relu(z[l]) except at the top, where a[L] = z[L] are the logits
 * loss      d[L] = (softmax(a[L]) - onehot) / rows               (softmaxCrossEntropy)
 * backward  dW[l] = a[l-1]^T d[l];  db[l] = column sums of d[l];
 *           d[l-1] = (d[l] W[l]^T) where a[l-1] > 0, else 0
 * </pre>
 *
 * Hidden activations are kept after ReLU; {@code a > 0} exactly where {@code z > 0}, so they serve the
 * ReLU backward as well. Made {@linkplain #withInputGradient with the input gradient}, the backward pass also leaves
 * {@code d[0] = d[1] W[1]^T}, d(mean loss)/d(input), in {@link #inputGradient()}: what a model with learned inputs
 * (embedding rows) pushes back.
 */
final class DenseDeviceModel implements DeviceModel {

    private final Device device;
    private final int[] widths;
    private final int maxBatch;
    private final List<DeviceBuffer> owned = new ArrayList<>();
    private final DeviceBuffer[] activations;
    private final DeviceBuffer[] deltas;
    private final DeviceBuffer[] parameters;
    private final DeviceBuffer[] gradients;
    private final DeviceBuffer labels;

    private final boolean inputGradient;

    DenseDeviceModel(Device device, int[] widths, int maxBatch) {
        this(device, widths, maxBatch, false);
    }

    /** A network whose backward pass also computes the gradient of the loss with respect to its input. */
    static DenseDeviceModel withInputGradient(Device device, int[] widths, int maxBatch) {
        return new DenseDeviceModel(device, widths, maxBatch, true);
    }

    private DenseDeviceModel(Device device, int[] widths, int maxBatch, boolean inputGradient) {
        this.inputGradient = inputGradient;
        if (maxBatch <= 0) {
            throw new IllegalArgumentException("max batch must be > 0, got " + maxBatch);
        }
        this.device = device;
        this.widths = widths.clone();
        this.maxBatch = maxBatch;
        int layers = widths.length - 1;
        activations = new DeviceBuffer[layers + 1];
        deltas = new DeviceBuffer[layers + 1];
        parameters = new DeviceBuffer[2 * layers];
        gradients = new DeviceBuffer[2 * layers];
        try {
            for (int l = 0; l <= layers; l++) {
                activations[l] = allocate((long) maxBatch * widths[l]);
                if (l > 0 || inputGradient) {
                    deltas[l] = allocate((long) maxBatch * widths[l]);
                }
            }
            for (int l = 0; l < layers; l++) {
                parameters[2 * l] = allocate((long) widths[l] * widths[l + 1]);
                parameters[2 * l + 1] = allocate(widths[l + 1]);
                gradients[2 * l] = allocate((long) widths[l] * widths[l + 1]);
                gradients[2 * l + 1] = allocate(widths[l + 1]);
            }
            labels = allocate(maxBatch);
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    private DeviceBuffer allocate(long elements) {
        DeviceBuffer buffer = device.allocate(elements);
        owned.add(buffer);
        return buffer;
    }

    @Override
    public int maxBatch() {
        return maxBatch;
    }

    @Override
    public DeviceBuffer input() {
        return activations[0];
    }

    @Override
    public DeviceBuffer labels() {
        return labels;
    }

    @Override
    public int tensorCount() {
        return parameters.length;
    }

    @Override
    public int elements(int tensor) {
        int l = tensor / 2;
        return tensor % 2 == 0 ? widths[l] * widths[l + 1] : widths[l + 1];
    }

    @Override
    public DeviceBuffer parameter(int tensor) {
        return parameters[tensor];
    }

    @Override
    public DeviceBuffer gradient(int tensor) {
        return gradients[tensor];
    }

    @Override
    public float forwardBackward(int rows) {
        checkRows(rows);
        forward(rows);
        int top = widths.length - 1;
        float loss = device.softmaxCrossEntropy(activations[top], labels, rows, widths[top], deltas[top]);
        for (int l = top; l >= 1; l--) {
            int in = widths[l - 1];
            int out = widths[l];
            device.gemm(true, false, in, out, rows, 1f, activations[l - 1], deltas[l], 0f, gradients[2 * (l - 1)]);
            device.columnSums(deltas[l], rows, out, gradients[2 * (l - 1) + 1]);
            if (l > 1) {
                device.gemm(false, true, rows, in, out, 1f, deltas[l], parameters[2 * (l - 1)], 0f, deltas[l - 1]);
                device.reluBackward(deltas[l - 1], activations[l - 1], rows * in);
            } else if (inputGradient) {
                device.gemm(false, true, rows, in, out, 1f, deltas[1], parameters[0], 0f, deltas[0]);
            }
        }
        return loss;
    }

    /** d(mean loss)/d(input), [maxBatch, inputs], after {@link #forwardBackward}; only with the input gradient. */
    DeviceBuffer inputGradient() {
        if (!inputGradient) {
            throw new IllegalStateException("this network was made without the input gradient");
        }
        return deltas[0];
    }

    /** Runs the forward pass over the first {@code rows} rows; the logits are then in {@link #output()}. */
    void forwardOnly(int rows) {
        checkRows(rows);
        forward(rows);
    }

    /** The top layer's output (logits), [maxBatch, classes]. */
    DeviceBuffer output() {
        return activations[widths.length - 1];
    }

    @Override
    public int countCorrect(int rows) {
        checkRows(rows);
        forward(rows);
        int top = widths.length - 1;
        return device.countCorrect(activations[top], labels, rows, widths[top]);
    }

    private void forward(int rows) {
        int top = widths.length - 1;
        for (int l = 1; l <= top; l++) {
            device.gemm(false, false, rows, widths[l], widths[l - 1], 1f, activations[l - 1], parameters[2 * (l - 1)],
                    0f, activations[l]);
            device.addBias(activations[l], parameters[2 * (l - 1) + 1], rows, widths[l]);
            if (l < top) {
                device.relu(activations[l], rows * widths[l]);
            }
        }
    }

    private void checkRows(int rows) {
        if (rows <= 0 || rows > maxBatch) {
            throw new IllegalArgumentException("batch of " + rows + " rows, expected 1.." + maxBatch);
        }
    }

    @Override
    public void close() {
        for (int i = owned.size() - 1; i >= 0; i--) {
            owned.get(i).close();
        }
        owned.clear();
    }
}
