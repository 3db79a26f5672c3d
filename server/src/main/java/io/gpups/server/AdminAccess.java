package io.gpups.server;

import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.protocol.ProtocolException;

import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * Who may make admin requests (SHUTDOWN, CHECKPOINT). With authentication: a connection whose HELLO proved
 * the admin secret (with one shared secret, every authenticated connection). Without: a connection from a
 * loopback address, or any connection when the shard was started with {@code --allow-remote-admin}.
 */
final class AdminAccess {

    private final boolean authenticated;
    private final boolean allowRemote;

    AdminAccess(boolean authenticated, boolean allowRemote) {
        this.authenticated = authenticated;
        this.allowRemote = allowRemote;
    }

    /** Throws FORBIDDEN naming why, unless the connection may make admin request {@code op}. */
    void check(Opcode op, Session session, SocketAddress remote) {
        if (authenticated) {
            if (!session.admin) {
                throw new ProtocolException(ErrorCode.FORBIDDEN, op + " is an admin request: say HELLO as rank -1 with "
                        + "the admin secret (the admin:SECRET line of the shard's token file); this connection proved rank "
                        + session.rank + "'s secret");
            }
            return;
        }
        if (!allowRemote && !isLoopback(remote)) {
            throw new ProtocolException(ErrorCode.FORBIDDEN, op + " is an admin request, and this shard has no "
                    + "--auth-token-file: it takes admin requests only from loopback, not from " + remote
                    + " (start it with --auth-token-file for an admin secret, or --allow-remote-admin)");
        }
    }

    /** True for an IP address on this host's loopback (127.0.0.0/8, ::1); false for anything else. */
    static boolean isLoopback(SocketAddress address) {
        return address instanceof InetSocketAddress inet && inet.getAddress() != null && inet.getAddress().isLoopbackAddress();
    }
}
