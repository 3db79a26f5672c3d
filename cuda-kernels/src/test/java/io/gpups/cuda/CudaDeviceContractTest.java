package io.gpups.cuda;

/** The device contract on GPU 0; every test is skipped, with the reason, where CUDA is unavailable. */
class CudaDeviceContractTest extends DeviceContractTest {
    @Override
    protected String kind() {
        return TestDevices.CUDA;
    }
}
