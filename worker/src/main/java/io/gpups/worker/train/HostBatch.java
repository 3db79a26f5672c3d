package io.gpups.worker.train;

import io.gpups.core.device.Device;
import io.gpups.worker.data.Dataset;
import io.gpups.worker.model.DeviceModel;

/** Host staging for one batch: gathers samples by index and uploads them to a model's input and labels. */
final class HostBatch {

    private final Dataset data;
    private final float[] features;
    private final float[] labels;

    HostBatch(Dataset data, int maxRows) {
        this.data = data;
        this.features = new float[maxRows * data.featureCount()];
        this.labels = new float[maxRows];
    }

    /** Uploads samples {@code indices[from .. from+rows)}. */
    void upload(int[] indices, int from, int rows, Device device, DeviceModel model) {
        int d = data.featureCount();
        for (int r = 0; r < rows; r++) {
            int sample = indices[from + r];
            System.arraycopy(data.features(), sample * d, features, r * d, d);
            labels[r] = data.labels()[sample];
        }
        send(rows, device, model);
    }

    /** Uploads the consecutive samples {@code first .. first+rows)}. */
    void uploadRange(int first, int rows, Device device, DeviceModel model) {
        int d = data.featureCount();
        for (int r = 0; r < rows; r++) {
            labels[r] = data.labels()[first + r];
        }
        device.upload(data.features(), first * d, model.input(), 0, rows * d);
        device.upload(labels, 0, model.labels(), 0, rows);
    }

    private void send(int rows, Device device, DeviceModel model) {
        device.upload(features, 0, model.input(), 0, rows * data.featureCount());
        device.upload(labels, 0, model.labels(), 0, rows);
    }
}
