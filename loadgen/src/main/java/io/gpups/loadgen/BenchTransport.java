package io.gpups.loadgen;

import java.util.Arrays;
import java.util.stream.Collectors;

/** How the benchmark's workers reach the shards, all on this host. */
public enum BenchTransport {
    /** Every frame over loopback TCP. */
    TCP("tcp"),
    /**
     * Large frames (pushes) through a shared-memory ring per connection ({@code /dev/shm}), the rest over TCP; a
     * frame that finds its ring full goes over TCP too. Answers (pull data included) come back over TCP.
     */
    SHM("shm");

    private final String cliName;

    BenchTransport(String cliName) {
        this.cliName = cliName;
    }

    /** The name on the command line and in the JSON report. */
    public String cliName() {
        return cliName;
    }

    public static BenchTransport parse(String text) {
        for (BenchTransport t : values()) {
            if (t.cliName.equals(text)) {
                return t;
            }
        }
        throw new IllegalArgumentException("--transport must be one of "
                + Arrays.stream(values()).map(BenchTransport::cliName).collect(Collectors.joining(", ")) + "; got '" + text + "'");
    }
}
