package io.gpups.cli;

import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The device each child process of {@code gpups local} and {@code gpups bench} got, on the parent's console. A
 * shard or worker opens its device through {@link #open}, which prints one {@value #PREFIX} line on stdout: the
 * device ({@code cpu}, or {@code cuda:N (GPU name)}) and, where {@code --device auto} passed CUDA over, why.
 * {@link ChildProcesses} turns that line into {@code shard 0: device cpu (device auto: cuda unavailable (...))}.
 */
final class DeviceLine {

    /** The line a child prints on stdout once its device is open. */
    static final String PREFIX = "gpups-device ";

    private DeviceLine() {
    }

    /** Opens the device {@code spec} names, as {@link Devices#open}, and prints the {@value #PREFIX} line. */
    static Device open(String spec, Consumer<String> log) {
        List<String> passedOver = new ArrayList<>();
        Device device = Devices.installed().open(spec, line -> {
            passedOver.add(line);
            log.accept(line);
        });
        System.out.println(PREFIX + describe(device, passedOver));
        System.out.flush();
        return device;
    }

    /** {@code cuda:0 (NVIDIA H100 80GB HBM3)}, or {@code cpu (device auto: cuda unavailable (...), ...)}. */
    static String describe(Device device, List<String> passedOver) {
        return device.description() + (passedOver.isEmpty() ? "" : " (" + String.join("; ", passedOver) + ")");
    }

    /** The console line for a child's {@value #PREFIX} line: {@code server-0} is shard 0, {@code worker-1} worker 1. */
    static String console(String child, String line) {
        String who = child.startsWith("server-") ? "shard " + child.substring("server-".length())
                : child.startsWith("worker-") ? "worker " + child.substring("worker-".length()) : child;
        return who + ": device " + line.substring(PREFIX.length());
    }
}
