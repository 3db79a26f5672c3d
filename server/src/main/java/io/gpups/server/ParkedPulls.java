package io.gpups.server;

import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.ProtocolException;
import io.netty.channel.Channel;

import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Every pull a shard holds back, whatever {@link ClockQueue} it waits in: counted per connection and per
 * shard and refused beyond {@link Limits}, and forgotten with its connection. The count is published as
 * {@link ShardCounters#parkedPulls}. Agent thread only.
 *
 * <p>A pull is parked only when it can become ready (see the policies' bounds), so what these limits cut
 * off is a client that parks far more pulls than a training step needs: one worker parks about one pull
 * per chunk it reads from this shard, per step it has in flight.
 */
final class ParkedPulls {

    /**
     * @param perConnection parked pulls one connection may have at once
     * @param perShard      parked pulls the shard holds at once, all connections together
     */
    record Limits(int perConnection, int perShard) {
        /**
         * 16,384 per connection (a worker reading 16k chunks from one shard in one step, or a few steps of a
         * pipelined client); 1,048,576 per shard, about 100 MB of heap at worst.
         */
        static final Limits DEFAULT = new Limits(16_384, 1 << 20);

        Limits {
            if (perConnection < 1 || perShard < 1) {
                throw new IllegalArgumentException("parked pull limits must be >= 1, got " + perConnection
                        + " per connection and " + perShard + " per shard");
            }
        }
    }

    /** One connection's parked pulls: how many, and the queues they are in (so a close visits only those). */
    private static final class Parker {
        int count;
        final Set<ClockQueue> queues = Collections.newSetFromMap(new IdentityHashMap<>());
    }

    private final Map<Channel, Parker> byConnection = new HashMap<>();
    private final ShardCounters counters;
    private Limits limits = Limits.DEFAULT;
    private int size;

    ParkedPulls(ShardCounters counters) {
        this.counters = counters;
    }

    void limits(Limits limits) {
        this.limits = limits;
    }

    Limits limits() {
        return limits;
    }

    /** Parks {@code p} in {@code queue} until the queue's value reaches {@code readyAt}, or refuses it. */
    void park(ClockQueue queue, long readyAt, ParkedPull p) {
        Parker parker = byConnection.get(p.channel());
        int mine = parker == null ? 0 : parker.count;
        if (mine >= limits.perConnection() || size >= limits.perShard()) {
            boolean connectionFull = mine >= limits.perConnection();
            throw new ProtocolException(ErrorCode.OUT_OF_MEMORY, "PULL of '" + p.chunk().tensor.spec.name() + "' chunk "
                    + p.chunk().index + " at clock " + p.clock() + " would wait, but "
                    + (connectionFull
                    ? "this connection already has " + mine + " parked pulls, its limit (" + limits.perConnection() + ")"
                    : "the shard already holds " + size + " parked pulls, its limit (" + limits.perShard() + ")")
                    + ": pull fewer chunks ahead of the clock at once");
        }
        if (parker == null) {
            parker = new Parker();
            byConnection.put(p.channel(), parker);
        }
        queue.add(readyAt, p);
        parker.count++;
        parker.queues.add(queue);
        size++;
        counters.parkedPulls = size;
    }

    /** Removes from {@code queue} and hands to {@code answer} every pull ready at {@code reached}. */
    void drainReady(ClockQueue queue, long reached, Consumer<ParkedPull> answer) {
        if (queue.firstReadyAt() > reached) {
            return;
        }
        queue.drainReady(reached, p -> {
            forget(p.channel());
            answer.accept(p);
        });
    }

    /** Forgets every pull of a closed connection, in every queue it parked in. */
    void connectionClosed(Channel ch) {
        Parker parker = byConnection.remove(ch);
        if (parker == null) {
            return;
        }
        for (ClockQueue q : parker.queues) {
            size -= q.remove(ch);
        }
        counters.parkedPulls = size;
    }

    /** One pull of {@code ch} left its queue to be answered. */
    private void forget(Channel ch) {
        size--;
        counters.parkedPulls = size;
        Parker parker = byConnection.get(ch);
        if (parker != null) {
            parker.count--;
            if (parker.count <= 0) {
                byConnection.remove(ch);
            }
        }
    }

    /** Parked pulls now, all connections. */
    int size() {
        return size;
    }

    /** Connections with parked pulls now. */
    int connections() {
        return byConnection.size();
    }
}
