package io.gpups.worker.train;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.RandomKSelection;
import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.tensor.ChunkLayout;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.worker.client.ParameterClient;
import io.gpups.worker.client.PsClient;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * Parameters kept on a local device for a single worker, with no server: each push applies the tensor's
 * optimizer right away ({@link Device#decodeApplyOptimizer}), which for one worker is exactly what a bsp shard
 * does. Every call completes before it returns. Not thread-safe; the trainer that uses it owns the device.
 */
public final class InProcessParameters implements ParameterClient, AutoCloseable {

    private static final PsClient.ClusterInfo CLUSTER = new PsClient.ClusterInfo(0, 1, Consistency.bsp());

    private final Device device;
    private final Map<String, Entry> tensors = new HashMap<>();
    private long bytesPushed;
    private long rawBytesPushed;
    private long pushes;

    private static final class Entry implements AutoCloseable {
        final TensorSpec spec;
        final int count;
        final DeviceBuffer parameters;
        final DeviceBuffer[] slots;
        long updates;

        Entry(TensorSpec spec, Device device) {
            this.spec = spec;
            this.count = Math.toIntExact(spec.elements());
            List<DeviceBuffer> made = new ArrayList<>();
            try {
                parameters = device.allocate(count);
                made.add(parameters);
                slots = new DeviceBuffer[spec.optimizer().slots()];
                for (int i = 0; i < slots.length; i++) {
                    slots[i] = device.allocate(count);
                    made.add(slots[i]);
                }
                float[] initial = new float[count];
                spec.initializer().fill(0, initial, count);
                device.upload(initial, 0, parameters, 0, count);
            } catch (RuntimeException e) {
                made.forEach(DeviceBuffer::close);
                throw e;
            }
        }

        @Override
        public void close() {
            parameters.close();
            for (DeviceBuffer slot : slots) {
                slot.close();
            }
        }
    }

    public InProcessParameters(Device device) {
        this.device = device;
    }

    @Override
    public PsClient.ClusterInfo cluster() {
        return CLUSTER;
    }

    @Override
    public CompletableFuture<Void> register(List<TensorSpec> specs) {
        try {
            for (TensorSpec spec : specs) {
                Entry existing = tensors.get(spec.name());
                if (existing == null) {
                    tensors.put(spec.name(), new Entry(spec, device));
                } else if (!existing.spec.equals(spec)) {
                    throw new IllegalArgumentException("tensor '" + spec.name() + "' is registered as " + existing.spec
                            + ", cannot re-register it as " + spec);
                }
            }
            return CompletableFuture.completedFuture(null);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Applies the optimizer to {@code tensor}. The adagrad accumulator starts at the spec's
     * {@code initialAccumulator}, as on the shards.
     */
    @Override
    public CompletableFuture<Void> push(String tensor, long step, ByteBuffer gradient) {
        try {
            Entry entry = entry(tensor);
            checkSize(tensor, gradient, entry.count);
            if (entry.updates == 0 && entry.spec.optimizer() instanceof OptimizerSpec.Adagrad a) {
                device.fill(entry.slots[0], a.initialAccumulator(), entry.count);
            }
            entry.updates++;
            device.decodeApplyOptimizer(Codec.Kind.NONE, gradient, entry.count, 0, entry.spec.optimizer(),
                    entry.parameters, entry.slots, entry.updates, 1f);
            device.synchronize();
            bytesPushed += 4L * entry.count;
            rawBytesPushed += 4L * entry.count;
            pushes++;
            return CompletableFuture.completedFuture(null);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** One chunk per tensor: the payload is decoded and applied in one fused step, as on a shard. */
    @Override
    public CompletableFuture<Void> push(String tensor, long step, Codec codec, ByteBuffer[] chunkPayloads) {
        try {
            Entry entry = entry(tensor);
            if (chunkPayloads.length != 1) {
                throw new IllegalArgumentException("tensor '" + tensor + "' is one chunk here, got " + chunkPayloads.length);
            }
            if (entry.updates == 0 && entry.spec.optimizer() instanceof OptimizerSpec.Adagrad a) {
                device.fill(entry.slots[0], a.initialAccumulator(), entry.count);
            }
            entry.updates++;
            bytesPushed += chunkPayloads[0].remaining();
            rawBytesPushed += 4L * entry.count;
            pushes++;
            device.decodeApplyOptimizer(codec.kind(), chunkPayloads[0].duplicate(), entry.count,
                    RandomKSelection.seed(tensor, 0, step, 0), entry.spec.optimizer(), entry.parameters, entry.slots,
                    entry.updates, 1f);
            device.synchronize();
            return CompletableFuture.completedFuture(null);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public ChunkLayout layout(String tensor) {
        Entry entry = entry(tensor);
        return new ChunkLayout(entry.count, entry.count);
    }

    /** Returns the tensor's update count as its version; with one worker it is always at least {@code clock}. */
    @Override
    public CompletableFuture<Long> pull(String tensor, long clock, ByteBuffer destination) {
        try {
            Entry entry = entry(tensor);
            checkSize(tensor, destination, entry.count);
            device.download(entry.parameters, 0, entry.count, destination);
            return CompletableFuture.completedFuture(entry.updates);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletableFuture<Void> clock(long clock) {
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public long bytesPushed() {
        return bytesPushed;
    }

    /** Nothing to reconnect: there is no network. */
    @Override
    public void reconnect(long timeoutMillis) {
    }

    @Override
    public long rawBytesPushed() {
        return rawBytesPushed;
    }

    @Override
    public long pushes() {
        return pushes;
    }

    private Entry entry(String tensor) {
        Entry entry = tensors.get(tensor);
        if (entry == null) {
            throw new IllegalArgumentException("tensor '" + tensor + "' is not registered");
        }
        return entry;
    }

    private static void checkSize(String tensor, ByteBuffer buffer, int count) {
        if (buffer.remaining() < 4L * count) {
            throw new IllegalArgumentException("tensor '" + tensor + "' has " + count + " floats (" + 4L * count
                    + " bytes) but the buffer has " + buffer.remaining() + " bytes remaining");
        }
    }

    @Override
    public void close() {
        tensors.values().forEach(Entry::close);
        tensors.clear();
    }
}
