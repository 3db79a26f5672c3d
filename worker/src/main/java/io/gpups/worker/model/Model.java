package io.gpups.worker.model;

import io.gpups.core.device.Device;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.tensor.TensorSpec;

import java.util.List;

/** A classifier's architecture: the tensors it registers with the shards and how it runs on a device. */
public interface Model {

    /** As written on the command line, e.g. {@code mlp:256,128}. */
    String name();

    int inputs();

    int classes();

    /**
     * The parameter tensors in a fixed order, each updated by {@code optimizer}. Every worker of a job
     * computes the same list; {@link DeviceModel} buffers follow the same order.
     */
    List<TensorSpec> tensors(OptimizerSpec optimizer);

    /** Allocates parameters, activations and gradients on {@code device} for batches of up to {@code maxBatch} rows. */
    DeviceModel onDevice(Device device, int maxBatch);
}
