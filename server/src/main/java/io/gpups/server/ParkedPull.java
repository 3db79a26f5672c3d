package io.gpups.server;

import io.netty.channel.Channel;

/**
 * A pull that cannot be answered yet: under bsp until its chunk reaches {@code clock} updates, under ssp
 * until the slowest live worker's clock reaches {@code clock - S}. Held by a {@link ClockQueue}, counted by
 * {@link ParkedPulls}.
 */
record ParkedPull(Channel channel, long requestId, ChunkState chunk, long clock, int dtype, long parkedAtNanos) {
}
