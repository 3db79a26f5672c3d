package io.gpups.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;

/** Free TCP ports on the loopback address, for the child processes of {@code gpups local}. */
final class FreePorts {

    private FreePorts() {
    }

    /**
     * {@code count} distinct ports that were free a moment ago (all held open together, then released). A
     * port can be taken by someone else before the child binds it; the child then fails naming the port.
     */
    public static List<Integer> pick(int count) throws IOException {
        List<ServerSocket> held = new ArrayList<>();
        try {
            List<Integer> ports = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                s.setReuseAddress(true);
                held.add(s);
                ports.add(s.getLocalPort());
            }
            return ports;
        } finally {
            for (ServerSocket s : held) {
                s.close();
            }
        }
    }
}
