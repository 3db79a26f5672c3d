package io.gpups.server;

import io.netty.channel.Channel;
import io.netty.util.AttributeKey;

/** Per-connection state, set by HELLO. Read and written on the connection's event loop only. */
final class Session {

    static final AttributeKey<Session> KEY = AttributeKey.valueOf("gpups.session");

    /**
     * The user event a connection's pipeline sees (from its head) once its HELLO is proven: without
     * authentication any well-formed HELLO, with it a HELLO whose proof matched. Handlers that treat
     * connections before HELLO differently ({@link ConnectionLimit}, {@link ConnectionDeadlines}) watch for it.
     */
    static final Object PROVEN = new Object() {
        @Override
        public String toString() {
            return "gpups.session.PROVEN";
        }
    };

    /** The worker rank from HELLO, or -1 for a client that is not a worker. */
    final int rank;
    /** True when the HELLO proved the admin secret (with a shared secret: any proven HELLO). */
    final boolean admin;

    Session(int rank, boolean admin) {
        this.rank = rank;
        this.admin = admin;
    }

    static Session of(Channel channel) {
        return channel.attr(KEY).get();
    }

    /** The rank the connection said HELLO with (-1: not a worker, or no HELLO yet). */
    static int rankOf(Channel channel) {
        Session session = of(channel);
        return session == null ? -1 : session.rank;
    }
}
