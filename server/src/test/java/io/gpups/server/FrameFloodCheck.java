package io.gpups.server;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.util.internal.PlatformDependent;

import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * A measurement, not a test: a real shard on 127.0.0.1 and N connections that each announce a large PUSH and send
 * only part of it; prints the shard's frame memory, its direct memory and whether a worker is still served.
 * Arguments: connections, announced MiB, sent KiB, frame budget MiB (0: the default).
 */
public final class FrameFloodCheck {

    public static void main(String[] args) throws Exception {
        int connections = Integer.parseInt(args[0]);
        int announced = Integer.parseInt(args[1]) << 20;
        int sent = Integer.parseInt(args[2]) << 10;
        long budget = Long.parseLong(args[3]) << 20;
        ShardConfig config = new ShardConfig("127.0.0.1", 0, 0, 1, 1, Consistency.parse("asp"), 64 << 20);
        try (Device device = Devices.installed().open("cpu", s -> { });
             ShardServer server = ShardServer.start(config, device, ShardSecurity.none().withFrameMemoryBytes(budget))) {
            long directBefore = PlatformDependent.usedDirectMemory();
            long unpooledBefore = UnpooledByteBufAllocator.DEFAULT.metric().usedDirectMemory();
            List<Socket> flood = new ArrayList<>();
            byte[] chunk = new byte[64 << 10];
            for (int c = 0; c < connections; c++) {
                Socket s = new Socket("127.0.0.1", server.port());
                flood.add(s);
                OutputStream out = s.getOutputStream();
                ByteBuffer header = ByteBuffer.allocate(Frame.HEADER_LENGTH).order(ByteOrder.LITTLE_ENDIAN);
                header.putInt(announced - 4).putShort((short) Frame.MAGIC).put((byte) Frame.VERSION)
                        .put((byte) Opcode.PUSH.code).putLong(c);
                out.write(header.array());
                try {
                    for (int at = Frame.HEADER_LENGTH; at < sent; at += chunk.length) {
                        out.write(chunk, 0, Math.min(chunk.length, sent - at));
                    }
                    out.flush();
                } catch (java.io.IOException closed) {
                    // The shard closed this one: its frame did not fit.
                }
            }
            long peak = 0;
            for (int i = 0; i < 40; i++) { // let the event loops read what was sent (a measurement: it waits)
                Thread.sleep(50);
                peak = Math.max(peak, server.frameMemory().usedBytes());
            }
            try (RawClient worker = new RawClient(server.port())) {
                RawClient.Answer a = worker.call(Opcode.HELLO, new Messages.Hello(0, 0));
                System.out.printf("worker HELLO answered with opcode 0x%02x%n", a.opcode());
            }
            System.out.printf("%d connections x %d MiB announced, %d KiB sent each; budget %d MiB%n", connections,
                    announced >> 20, sent >> 10, server.frameMemory().limitBytes() >> 20);
            System.out.printf("frame memory held: %.1f MiB (peak seen %.1f MiB), connections refused: %d%n",
                    server.frameMemory().usedBytes() / 1048576.0, peak / 1048576.0, server.frameMemory().refusals());
            System.out.printf("direct memory: +%.1f MiB (Netty's count), unpooled +%.1f MiB; JVM direct limit %d MiB%n",
                    (PlatformDependent.usedDirectMemory() - directBefore) / 1048576.0,
                    (UnpooledByteBufAllocator.DEFAULT.metric().usedDirectMemory() - unpooledBefore) / 1048576.0,
                    PlatformDependent.maxDirectMemory() >> 20);
            for (Socket s : flood) {
                s.close();
            }
        }
    }
}
