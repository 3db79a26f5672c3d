package io.gpups.core.table;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * What a table does with a new id when the rows it could take are all in use: in its home bucket and the buckets
 * probed after it ({@link RowTable}).
 */
public enum Eviction {
    /** Refuse: the request that brought the id is answered OUT_OF_MEMORY, and nothing of it is applied. */
    NONE(0),
    /** Replace the row touched longest ago. */
    LRU(1),
    /** Replace the row touched the fewest times (ties: the one touched longest ago). */
    LFU(2);

    /** The id on the wire and in the kernels. */
    public final int id;

    Eviction(int id) {
        this.id = id;
    }

    public static Eviction ofId(int id) {
        for (Eviction e : values()) {
            if (e.id == id) {
                return e;
            }
        }
        throw new IllegalArgumentException("unknown eviction id " + id + ", expected 0 (none), 1 (lru) or 2 (lfu)");
    }

    /** The policy named as on the command line ({@code none}, {@code lru}, {@code lfu}), in any case. */
    public static Eviction ofName(String name) {
        for (Eviction e : values()) {
            if (e.cliName().equals(name.toLowerCase(Locale.ROOT))) {
                return e;
            }
        }
        throw new IllegalArgumentException("eviction '" + name + "': expected "
                + Arrays.stream(values()).map(Eviction::cliName).collect(Collectors.joining(", ")));
    }

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
