package io.gpups.core.device;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.ServiceLoader;
import java.util.function.Consumer;

/** Resolves a {@code --device} value ({@code auto}, {@code cpu}, {@code cuda}, {@code cuda:N}) to a device. */
public final class Devices {

    private final List<DeviceProvider> providers;

    public Devices(List<DeviceProvider> providers) {
        this.providers = List.copyOf(providers);
    }

    /** The providers on the class path. */
    public static Devices installed() {
        List<DeviceProvider> found = new ArrayList<>();
        ServiceLoader.load(DeviceProvider.class).forEach(found::add);
        return new Devices(found);
    }

    /**
     * Opens the device a {@code --device} value names. For {@code auto}, the available provider with the
     * highest priority; {@code log} receives one line saying why a preferred kind was passed over.
     */
    public Device open(String spec, Consumer<String> log) {
        DeviceSpec parsed = DeviceSpec.parse(spec);
        if (parsed.kind().equals("auto")) {
            List<DeviceProvider> byPriority = new ArrayList<>(providers);
            byPriority.sort(Comparator.comparingInt(DeviceProvider::priority).reversed());
            for (DeviceProvider provider : byPriority) {
                String cause = provider.unavailabilityCause();
                if (cause == null) {
                    return provider.open(0);
                }
                log.accept("device auto: " + provider.kind() + " unavailable (" + cause + "), trying the next kind");
            }
            throw new DeviceUnavailableException("device auto: no usable device provider on the class path");
        }
        DeviceProvider provider = providers.stream()
                .filter(p -> p.kind().equals(parsed.kind()))
                .findFirst()
                .orElseThrow(() -> new DeviceUnavailableException(
                        "device '" + spec + "': no provider for kind '" + parsed.kind() + "' on the class path"));
        String cause = provider.unavailabilityCause();
        if (cause != null) {
            throw new DeviceUnavailableException("device '" + spec + "' unavailable: " + cause);
        }
        if (parsed.ordinal() >= provider.deviceCount()) {
            throw new DeviceUnavailableException("device '" + spec + "': ordinal " + parsed.ordinal()
                    + " out of range, this machine has " + provider.deviceCount() + " " + parsed.kind() + " device(s)");
        }
        return provider.open(parsed.ordinal());
    }

    /** A parsed {@code --device} value. */
    public record DeviceSpec(String kind, int ordinal) {
        public static DeviceSpec parse(String spec) {
            if (spec == null || spec.isBlank()) {
                throw new IllegalArgumentException("device must be auto, cpu, cuda or cuda:N, got an empty value");
            }
            String s = spec.trim().toLowerCase();
            int colon = s.indexOf(':');
            String kind = colon < 0 ? s : s.substring(0, colon);
            int ordinal = 0;
            if (colon >= 0) {
                try {
                    ordinal = Integer.parseInt(s.substring(colon + 1));
                } catch (NumberFormatException e) {
                    ordinal = -1;
                }
                if (ordinal < 0) {
                    throw new IllegalArgumentException("device '" + spec + "': the ordinal after ':' must be a non-negative integer");
                }
            }
            if (!kind.equals("auto") && !kind.equals("cpu") && !kind.equals("cuda")) {
                throw new IllegalArgumentException("device '" + spec + "': expected auto, cpu, cuda or cuda:N");
            }
            if (colon >= 0 && !kind.equals("cuda")) {
                throw new IllegalArgumentException("device '" + spec + "': only cuda takes an ordinal");
            }
            return new DeviceSpec(kind, ordinal);
        }
    }
}
