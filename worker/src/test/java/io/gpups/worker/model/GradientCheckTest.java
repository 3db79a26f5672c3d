package io.gpups.worker.model;

import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Compares the backward pass on the CPU device with central differences of the loss,
 * {@code (L(p + h) - L(p - h)) / 2h} with {@code h = 1e-3}, for every parameter of small models.
 * Everything is float32, so the tolerance is {@code 1e-3 + 1e-2 * |analytic|}: a float loss near 1 carries
 * a rounding error of a few 1e-7, which divided by 2h is a few 1e-4; the truncation error of the central
 * difference (h^2 times a third derivative of order 1) is about 1e-6. The draws are seeded, so the test is
 * repeatable; a hidden unit within h of its ReLU kink would show as a mismatch, and with these seeds none is.
 */
class GradientCheckTest {

    private static final float H = 1e-3f;
    private static Device device;

    @BeforeAll
    static void openDevice() {
        device = Devices.installed().open("cpu", line -> { });
    }

    @AfterAll
    static void closeDevice() {
        device.close();
    }

    @Test
    void mlpBackwardMatchesCentralDifferences() {
        check(new Mlp(5, new int[] {4, 3}, 3, 11L), 4);
    }

    @Test
    void logisticRegressionBackwardMatchesCentralDifferences() {
        check(new LogisticRegression(6, 4, 12L), 5);
    }

    @Test
    void aShortBatchUsesOnlyItsRows() {
        check(new Mlp(5, new int[] {4}, 3, 13L), 2);
    }

    private static void check(Model model, int rows) {
        int maxBatch = 6;
        SplittableRandom random = new SplittableRandom(99L);
        int tensors = model.tensors(OptimizerSpec.defaults("sgd", 0.1f)).size();
        try (DeviceModel net = model.onDevice(device, maxBatch)) {
            float[] input = new float[maxBatch * model.inputs()];
            for (int i = 0; i < input.length; i++) {
                input[i] = (float) random.nextDouble(-1, 1);
            }
            float[] labels = new float[maxBatch];
            for (int r = 0; r < maxBatch; r++) {
                labels[r] = random.nextInt(model.classes());
            }
            device.upload(input, 0, net.input(), 0, input.length);
            device.upload(labels, 0, net.labels(), 0, maxBatch);
            float[][] params = new float[tensors][];
            for (int t = 0; t < tensors; t++) {
                params[t] = new float[net.elements(t)];
                for (int i = 0; i < params[t].length; i++) {
                    params[t][i] = (float) random.nextDouble(-0.8, 0.8);
                }
                device.upload(params[t], 0, net.parameter(t), 0, params[t].length);
            }

            float loss = net.forwardBackward(rows);
            assertTrue(loss > 0 && Float.isFinite(loss), "loss " + loss);
            float[][] analytic = new float[tensors][];
            for (int t = 0; t < tensors; t++) {
                analytic[t] = new float[net.elements(t)];
                device.download(net.gradient(t), 0, analytic[t], 0, analytic[t].length);
            }

            int checked = 0;
            for (int t = 0; t < tensors; t++) {
                for (int i = 0; i < params[t].length; i++) {
                    float saved = params[t][i];
                    float up = lossWith(net, t, i, saved + H, rows);
                    float down = lossWith(net, t, i, saved - H, rows);
                    setParameter(net, t, i, saved);
                    float numeric = (up - down) / (2 * H);
                    float expected = analytic[t][i];
                    float tolerance = 1e-3f + 1e-2f * Math.abs(expected);
                    assertEquals(expected, numeric, tolerance,
                            model.name() + " tensor " + t + " element " + i + ": analytic " + expected + ", numeric " + numeric);
                    checked++;
                }
            }
            assertTrue(checked > 20, "checked only " + checked + " elements");
            assertEquals(loss, net.forwardBackward(rows), 0f, "restoring the parameters must restore the loss");
        }
    }

    private static float lossWith(DeviceModel net, int tensor, int index, float value, int rows) {
        setParameter(net, tensor, index, value);
        return net.forwardBackward(rows);
    }

    private static void setParameter(DeviceModel net, int tensor, int index, float value) {
        device.upload(new float[] {value}, 0, net.parameter(tensor), index, 1);
    }
}
