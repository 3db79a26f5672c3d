package io.gpups.core.device;

/**
 * Makes devices of one kind ({@code cpu}, {@code cuda}). Found with {@link java.util.ServiceLoader};
 * {@link Devices} picks one from a {@code --device} value.
 */
public interface DeviceProvider {

    /** The kind this provider makes, as written in {@code --device}: {@code cpu} or {@code cuda}. */
    String kind();

    /** Preference for {@code --device auto}: the available provider with the highest priority wins. */
    int priority();

    /** Why this kind cannot be used on this machine, in one line; {@code null} when it can. */
    String unavailabilityCause();

    /** Number of devices of this kind. */
    int deviceCount();

    /** Opens device number {@code ordinal}; fails with {@link DeviceUnavailableException} naming the cause. */
    Device open(int ordinal);
}
