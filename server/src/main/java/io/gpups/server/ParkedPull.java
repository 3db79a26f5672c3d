package io.gpups.server;

import io.netty.channel.Channel;

/**
 * A pull that cannot be answered yet: under bsp until its chunk reaches {@code clock} updates, under ssp
 * until the slowest worker's clock reaches {@code clock - S}.
 */
record ParkedPull(Channel channel, long requestId, ChunkState chunk, long clock, int dtype, long parkedAtNanos) {
}
