package io.gpups.loadgen;

import io.gpups.core.device.Device;
import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.device.DeviceUnavailableException;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;

import java.util.Locale;

/**
 * The memory-bandwidth ceiling of a device, measured with the device's own kernels, and the rate of the Adam
 * apply beside it.
 *
 * <p>Triad: STREAM's {@code a[i] = a[i] + s * b[i]} (the in-place triad, as in STREAM's "daxpy"), run as
 * the device's sgd kernel with weight decay 0 ({@code p -= lr * g}, lr = -s): it reads {@code a} and {@code b}
 * and writes {@code a}, {@value #TRIAD_BYTES_PER_ELEMENT} bytes per float32 element. In place, so there is no
 * write-allocate traffic to count or to leave out. Adam: the device's adam kernel with the gradient in device
 * memory reads p, g, m, v and writes p, m, v: {@value #ADAM_BYTES_PER_ELEMENT} bytes per element.
 *
 * <p>Both run over {@code elements} floats per array (64 MiB each by default, far beyond any last-level cache),
 * through the device as a shard's agent calls it (the CPU device splits them over its threads). Their batches
 * are interleaved, so that drift in the machine's speed touches both alike, and each rate is the median batch
 * ({@link MedianRate}).
 *
 * <p>{@link #main} runs it alone, for the GPU bundle's {@code run.sh}: {@code DeviceBandwidth [device] [elements]
 * [seconds]} (defaults {@code cuda:0}, {@value #DEFAULT_ELEMENTS}, 5) prints one {@code key=value} line.
 *
 * @param device                the device's name
 * @param elements              float32 elements per array
 * @param triadBytesPerSecond   the triad's bytes moved per second: the ceiling
 * @param adamBytesPerSecond    the Adam apply's bytes moved per second
 */
public record DeviceBandwidth(String device, int elements, double triadBytesPerSecond, double adamBytesPerSecond) {

    /** Read a, read b, write a. */
    public static final int TRIAD_BYTES_PER_ELEMENT = 12;
    /** Read p, g, m, v; write p, m, v. */
    public static final int ADAM_BYTES_PER_ELEMENT = 28;
    /** Elements per array: 2^24 floats, 64 MiB. */
    public static final int DEFAULT_ELEMENTS = 1 << 24;

    /** The Adam apply's bandwidth as a fraction of the triad's. */
    public double adamFractionOfTriad() {
        return adamBytesPerSecond / triadBytesPerSecond;
    }

    /** Adam parameters updated per second: the Adam apply's bytes per second over its bytes per element. */
    public double adamParametersPerSecond() {
        return adamBytesPerSecond / ADAM_BYTES_PER_ELEMENT;
    }

    /** {@code DeviceBandwidth [device] [elements] [seconds]}: one {@code key=value} line on stdout; exit 2 without the device. */
    public static void main(String[] args) {
        String spec = args.length > 0 ? args[0] : "cuda:0";
        int elements = args.length > 1 ? Integer.parseInt(args[1]) : DEFAULT_ELEMENTS;
        double seconds = args.length > 2 ? Double.parseDouble(args[2]) : 5;
        DeviceBandwidth b;
        try (Device device = Devices.installed().open(spec, System.err::println)) {
            b = measure(device, elements, seconds);
        } catch (DeviceUnavailableException | IllegalArgumentException e) {
            System.err.println("DeviceBandwidth: " + e.getMessage());
            System.exit(2);
            return;
        }
        System.out.printf(Locale.ROOT, "device=%s elements=%d triad_bytes_per_second=%.4g adam_bytes_per_second=%.4g "
                        + "adam_parameters_per_second=%.4g adam_fraction_of_triad=%.3f%n",
                b.device().replace(' ', '_'), b.elements(), b.triadBytesPerSecond(), b.adamBytesPerSecond(),
                b.adamParametersPerSecond(), b.adamFractionOfTriad());
    }

    /** Measures the triad and Adam, interleaved, for about {@code seconds} in all. */
    public static DeviceBandwidth measure(Device device, int elements, double seconds) {
        if (elements < 1) {
            throw new IllegalArgumentException("elements " + elements + ": must be >= 1");
        }
        DeviceBuffer[] none = new DeviceBuffer[0];
        // a[i] = a[i] + s*b[i] with s = -lr: the sgd kernel with no weight decay and grad_scale 1.
        OptimizerSpec sgd = new OptimizerSpec.Sgd(1e-3f, 0f);
        OptimizerSpec adamSpec = new OptimizerSpec.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, 0f);
        double triad;
        double adam;
        try (DeviceBuffer a = device.allocate(elements); DeviceBuffer b = device.allocate(elements);
             DeviceBuffer p = device.allocate(elements); DeviceBuffer g = device.allocate(elements);
             DeviceBuffer m = device.allocate(elements); DeviceBuffer v = device.allocate(elements)) {
            device.fill(a, 1f, elements);
            device.fill(b, 1e-3f, elements);
            device.fill(g, 1e-3f, elements);
            DeviceBuffer[] slots = {m, v};
            long[] step = {0};
            double[] rates = MedianRate.callsPerSecond(seconds, () -> {
                device.applyOptimizer(sgd, a, b, none, elements, 1, 1f);
                device.synchronize();
            }, () -> {
                device.applyOptimizer(adamSpec, p, g, slots, elements, ++step[0], 1f);
                device.synchronize();
            });
            triad = rates[0] * elements * (double) TRIAD_BYTES_PER_ELEMENT;
            adam = rates[1] * elements * (double) ADAM_BYTES_PER_ELEMENT;
        }
        return new DeviceBandwidth(device.name(), elements, triad, adam);
    }
}
