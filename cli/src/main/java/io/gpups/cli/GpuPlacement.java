package io.gpups.cli;

import io.gpups.core.device.DeviceProvider;
import io.gpups.core.device.DeviceUnavailableException;
import io.gpups.core.device.Devices;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.ServiceLoader;
import java.util.Set;

/**
 * The {@code --device} each child process of {@code gpups local} gets. With {@code --device cuda} (or {@code auto}
 * where CUDA is usable) the shards and then the workers are dealt round-robin over the chosen GPUs: shard s gets
 * {@code gpus[s % g]}, worker r gets {@code gpus[(shards + r) % g]}, each as {@code cuda:N}. {@code --gpus 0,2}
 * chooses the GPUs; the default is every visible one. {@code cpu} and {@code cuda:N} go to every child unchanged.
 */
final class GpuPlacement {

    private final List<String> shardDevices;
    private final List<String> workerDevices;
    private final boolean spread;

    private GpuPlacement(List<String> shardDevices, List<String> workerDevices, boolean spread) {
        this.shardDevices = shardDevices;
        this.workerDevices = workerDevices;
        this.spread = spread;
    }

    /** The {@code cuda} provider on the class path, or null. */
    static DeviceProvider installedCuda() {
        for (DeviceProvider p : ServiceLoader.load(DeviceProvider.class)) {
            if (p.kind().equals("cuda")) {
                return p;
            }
        }
        return null;
    }

    /**
     * Resolves {@code --device} and {@code --gpus} (null when not given). Fails at once, in one line, on a bad
     * {@code --gpus} value or when {@code --device cuda} cannot be served here (with the provider's reason).
     */
    static GpuPlacement resolve(String device, String gpus, int shards, int workers, DeviceProvider cuda) {
        Devices.DeviceSpec spec = Devices.DeviceSpec.parse(device);
        boolean explicitOrdinal = device.contains(":");
        if (gpus != null && (spec.kind().equals("cpu") || explicitOrdinal)) {
            throw new IllegalArgumentException("--gpus needs --device cuda or auto, got --device " + device);
        }
        if (spec.kind().equals("cpu") || explicitOrdinal) {
            String same = device.trim().toLowerCase(); // no CUDA probe on the CPU path
            return new GpuPlacement(List.of(same), List.of(same), false);
        }
        String cause = cuda == null ? "no cuda provider on the class path" : cuda.unavailabilityCause();
        boolean useCuda = !explicitOrdinal && (spec.kind().equals("cuda") || spec.kind().equals("auto") && cause == null);
        if (spec.kind().equals("cuda") && !explicitOrdinal && cause != null) {
            throw new DeviceUnavailableException("device '" + device + "' unavailable: " + cause);
        }
        if (!useCuda) {
            if (gpus != null) {
                throw new IllegalArgumentException("--gpus " + gpus + ": CUDA is unavailable here (" + cause + ")");
            }
            String same = device.trim().toLowerCase();
            return new GpuPlacement(List.of(same), List.of(same), false);
        }
        List<Integer> chosen = gpus == null ? allOf(cuda.deviceCount()) : parse(gpus, cuda.deviceCount());
        List<String> shardDevices = new ArrayList<>();
        List<String> workerDevices = new ArrayList<>();
        for (int s = 0; s < shards; s++) {
            shardDevices.add("cuda:" + chosen.get(s % chosen.size()));
        }
        for (int r = 0; r < workers; r++) {
            workerDevices.add("cuda:" + chosen.get((shards + r) % chosen.size()));
        }
        return new GpuPlacement(shardDevices, workerDevices, true);
    }

    private static List<Integer> allOf(int count) {
        if (count < 1) {
            throw new DeviceUnavailableException("device 'cuda': no visible CUDA device");
        }
        List<Integer> all = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            all.add(i);
        }
        return all;
    }

    /** {@code 0,2,3}: distinct GPU ordinals below {@code visible}. */
    static List<Integer> parse(String gpus, int visible) {
        Set<Integer> chosen = new LinkedHashSet<>();
        for (String part : gpus.split(",", -1)) {
            String p = part.trim();
            int ordinal;
            try {
                ordinal = Integer.parseInt(p);
            } catch (NumberFormatException e) {
                ordinal = -1;
            }
            if (ordinal < 0) {
                throw new IllegalArgumentException("--gpus " + gpus + ": '" + p + "' is not a GPU ordinal (0, 1, ...)");
            }
            if (ordinal >= visible) {
                throw new IllegalArgumentException("--gpus " + gpus + ": GPU " + ordinal + " does not exist, this "
                        + "machine has " + visible + " visible CUDA device(s)");
            }
            if (!chosen.add(ordinal)) {
                throw new IllegalArgumentException("--gpus " + gpus + ": GPU " + ordinal + " is named twice");
            }
        }
        return List.copyOf(chosen);
    }

    String shard(int s) {
        return shardDevices.get(spread ? s : 0);
    }

    String worker(int r) {
        return workerDevices.get(spread ? r : 0);
    }

    /** One line for the start of {@code gpups local}, or null when every child gets the same {@code --device}. */
    String describe() {
        return spread ? "devices: shards " + String.join(",", shardDevices) + "; workers " + String.join(",", workerDevices)
                : null;
    }
}
