package io.gpups.cuda;

/**
 * Says in one line whether this process can use CUDA, for scripts (the GPU bundle's {@code run.sh} decides from it
 * whether to run its CUDA half). Usage: {@code CudaProbe}. Prints
 * {@code cuda=ok devices=N driver=X.Y gpu0=NAME} and exits 0, or {@code cuda=unavailable reason=WHY} and exits 3.
 */
public final class CudaProbe {

    /** The exit code when CUDA cannot be used here. */
    static final int UNAVAILABLE = 3;

    private CudaProbe() {
    }

    public static void main(String[] args) {
        CudaDeviceProvider provider = new CudaDeviceProvider();
        String cause = provider.unavailabilityCause();
        if (cause != null) {
            System.out.println("cuda=unavailable reason=" + cause);
            System.exit(UNAVAILABLE);
        }
        String name;
        try (CudaDevice device = (CudaDevice) provider.open(0)) {
            name = device.gpuName();
        } catch (RuntimeException e) {
            System.out.println("cuda=unavailable reason=opening cuda:0 failed: " + CudaAvailability.firstLine(e));
            System.exit(UNAVAILABLE);
            return;
        }
        System.out.println("cuda=ok devices=" + provider.deviceCount() + " driver="
                + KernelImage.versionString(CudaAvailability.get().driverVersion()) + " gpu0=" + name);
    }
}
