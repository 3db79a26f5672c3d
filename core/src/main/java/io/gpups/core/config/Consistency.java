package io.gpups.core.config;

/**
 * A job's consistency model (DESIGN.md, Consistency):
 * <ul>
 *   <li>{@code bsp}: a chunk's update for step t is applied once, after every live worker's gradient for t
 *   arrived (averaged); pulls for t+1 wait for it.</li>
 *   <li>{@code asp}: every push is applied on arrival; pulls never wait.</li>
 *   <li>{@code ssp:S}: pushes apply on arrival; a worker at clock c may pull only when the slowest live
 *   worker's clock is at least c - S.</li>
 * </ul>
 */
public record Consistency(Mode mode, int staleness) {

    public enum Mode {
        BSP(0), ASP(1), SSP(2);

        public final int id;

        Mode(int id) {
            this.id = id;
        }

        public static Mode ofId(int id) {
            for (Mode m : values()) {
                if (m.id == id) {
                    return m;
                }
            }
            throw new IllegalArgumentException("unknown consistency id " + id + ", expected 0..2");
        }
    }

    public Consistency {
        if (mode == null) {
            throw new IllegalArgumentException("consistency mode must be given");
        }
        if (staleness < 0) {
            throw new IllegalArgumentException("staleness must be >= 0, got " + staleness);
        }
        if (mode != Mode.SSP && staleness != 0) {
            throw new IllegalArgumentException(mode + " takes no staleness bound, got " + staleness);
        }
    }

    public static Consistency bsp() {
        return new Consistency(Mode.BSP, 0);
    }

    /** Parses {@code bsp}, {@code asp} or {@code ssp:S}. */
    public static Consistency parse(String text) {
        String s = text == null ? "" : text.trim().toLowerCase();
        if (s.equals("bsp")) {
            return bsp();
        }
        if (s.equals("asp")) {
            return new Consistency(Mode.ASP, 0);
        }
        if (s.startsWith("ssp:")) {
            try {
                int bound = Integer.parseInt(s.substring(4));
                if (bound >= 0) {
                    return new Consistency(Mode.SSP, bound);
                }
            } catch (NumberFormatException ignored) {
                // fall through to the error below
            }
        }
        throw new IllegalArgumentException("consistency '" + text + "': expected bsp, asp or ssp:S with S >= 0");
    }

    @Override
    public String toString() {
        return mode == Mode.SSP ? "ssp:" + staleness : mode.name().toLowerCase();
    }
}
