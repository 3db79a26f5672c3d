package io.gpups.worker.model;

import io.gpups.core.device.Device;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;

import java.util.ArrayList;
import java.util.List;

/**
 * A stack of fully connected layers with ReLU between them and softmax cross-entropy on top. Layer l has
 * a weight {@code layer<l>.weight} shaped [in, out] (row-major, Glorot-uniform with seed {@code seed + l})
 * and a bias {@code layer<l>.bias} shaped [out] (zeros).
 */
abstract class DenseNetwork implements Model {

    private final int[] widths;
    private final long seed;

    /** {@code widths[0]} is the input size, the last the class count, the ones between the hidden layers. */
    DenseNetwork(int[] widths, long seed) {
        for (int i = 0; i < widths.length; i++) {
            if (widths[i] <= 0) {
                throw new IllegalArgumentException("layer widths must be > 0, got " + widths[i] + " at position " + i);
            }
        }
        if (widths[widths.length - 1] < 2) {
            throw new IllegalArgumentException("a classifier needs at least 2 classes, got " + widths[widths.length - 1]);
        }
        this.widths = widths.clone();
        this.seed = seed;
    }

    @Override
    public int inputs() {
        return widths[0];
    }

    @Override
    public int classes() {
        return widths[widths.length - 1];
    }

    int layers() {
        return widths.length - 1;
    }

    int[] widths() {
        return widths.clone();
    }

    @Override
    public List<TensorSpec> tensors(OptimizerSpec optimizer) {
        List<TensorSpec> tensors = new ArrayList<>(2 * layers());
        for (int l = 0; l < layers(); l++) {
            int in = widths[l];
            int out = widths[l + 1];
            tensors.add(new TensorSpec("layer" + l + ".weight", new long[] {in, out},
                    Initializer.glorotUniform(in, out, seed + l), optimizer));
            tensors.add(new TensorSpec("layer" + l + ".bias", new long[] {out}, Initializer.zeros(), optimizer));
        }
        return tensors;
    }

    @Override
    public DeviceModel onDevice(Device device, int maxBatch) {
        return new DenseDeviceModel(device, widths, maxBatch);
    }
}
