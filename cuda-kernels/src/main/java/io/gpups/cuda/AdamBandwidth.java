package io.gpups.cuda;

import io.gpups.core.device.DeviceBuffer;
import io.gpups.core.optim.OptimizerSpec;

/**
 * Measures the Adam kernel alone on one GPU, for the GPU bundle's {@code run.sh}: parameters updated per second and the
 * memory traffic that implies (28 bytes per parameter: p, m, v and the gradient read, p, m and v written) as a
 * fraction of the GPU's theoretical bandwidth. Usage: {@code AdamBandwidth [ordinal] [parameters] [iterations]}.
 * Prints one {@code key=value} line.
 */
public final class AdamBandwidth {

    static final int BYTES_PER_PARAMETER = 7 * Float.BYTES;

    private AdamBandwidth() {
    }

    public static void main(String[] args) {
        int ordinal = args.length > 0 ? Integer.parseInt(args[0]) : 0;
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 1 << 26;
        int iterations = args.length > 2 ? Integer.parseInt(args[2]) : 50;
        CudaDeviceProvider provider = new CudaDeviceProvider();
        if (provider.unavailabilityCause() != null) {
            System.err.println("AdamBandwidth: CUDA unavailable: " + provider.unavailabilityCause());
            System.exit(2);
        }
        OptimizerSpec adam = new OptimizerSpec.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, 0f);
        try (CudaDevice device = (CudaDevice) provider.open(ordinal);
             DeviceBuffer p = device.allocate(n); DeviceBuffer m = device.allocate(n);
             DeviceBuffer v = device.allocate(n); DeviceBuffer g = device.allocate(n)) {
            device.fill(g, 0.01f, n);
            DeviceBuffer[] slots = {m, v};
            for (int t = 1; t <= 5; t++) {
                device.applyOptimizer(adam, p, g, slots, n, t, 1f);
            }
            device.synchronize();
            long start = System.nanoTime();
            for (int t = 0; t < iterations; t++) {
                device.applyOptimizer(adam, p, g, slots, n, 6 + t, 1f);
            }
            device.synchronize();
            double seconds = (System.nanoTime() - start) / 1e9;
            double perSecond = (double) n * iterations / seconds;
            double peak = device.peakMemoryBandwidth();
            System.out.printf("gpu=%s parameters=%d iterations=%d adam_parameters_per_second=%.4g "
                            + "achieved_bytes_per_second=%.4g peak_bytes_per_second=%.4g fraction_of_peak=%.3f%n",
                    device.gpuName().replace(' ', '_'), n, iterations, perSecond, perSecond * BYTES_PER_PARAMETER, peak,
                    perSecond * BYTES_PER_PARAMETER / peak);
        }
    }
}
