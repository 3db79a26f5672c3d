package io.gpups.server;

import io.netty.channel.Channel;
import io.netty.util.AttributeKey;

/** Per-connection state, set by HELLO. Read and written on the connection's event loop only. */
final class Session {

    static final AttributeKey<Session> KEY = AttributeKey.valueOf("gpups.session");

    /** The worker rank from HELLO, or -1 for a client that is not a worker. */
    final int rank;

    Session(int rank) {
        this.rank = rank;
    }

    static Session of(Channel channel) {
        return channel.attr(KEY).get();
    }
}
