package io.gpups.cuda;

/** The device contract on the CPU device: runs on every build. */
class CpuDeviceContractTest extends DeviceContractTest {
    @Override
    protected String kind() {
        return TestDevices.CPU;
    }
}
