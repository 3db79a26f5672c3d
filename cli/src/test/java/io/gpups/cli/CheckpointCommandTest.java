package io.gpups.cli;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardSecurity;
import io.gpups.server.ShardServer;
import io.gpups.server.checkpoint.CheckpointSettings;
import io.gpups.worker.client.PsClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code gpups checkpoint} against two in-process shards, then {@code gpups inspect} on what they wrote. */
class CheckpointCommandTest {

    @TempDir
    Path dir;

    private record Run(int code, String out) {
    }

    private static Run run(String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            int code = Main.run(args);
            return new Run(code, buf.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(old);
        }
    }

    @Test
    void checkpointThenInspect() throws Exception {
        List<Device> devices = new ArrayList<>();
        List<ShardServer> servers = new ArrayList<>();
        List<InetSocketAddress> addresses = new ArrayList<>();
        try {
            for (int s = 0; s < 2; s++) {
                Device d = Devices.installed().open("cpu", line -> { });
                devices.add(d);
                ShardServer server = ShardServer.start(new ShardConfig("127.0.0.1", 0, s, 2, 1, Consistency.bsp(), 1 << 20), d,
                        ShardSecurity.none(), null, new CheckpointSettings(dir, null, 0, null));
                servers.add(server);
                addresses.add(new InetSocketAddress("127.0.0.1", server.port()));
            }
            try (PsClient c = PsClient.connect(addresses, -1, new PsClient.Options(64, 1 << 20))) {
                c.register(List.of(
                        new TensorSpec("w", new long[] {4, 8}, Initializer.glorotUniform(4, 8, 1), new OptimizerSpec.Adam(0.01f, 0.9f, 0.999f, 1e-8f, 0f)),
                        new TensorSpec("b", new long[] {8}, Initializer.zeros(), new OptimizerSpec.Sgd(0.1f, 0f)))).get(10, TimeUnit.SECONDS);
            }
            String servers2 = "127.0.0.1:" + addresses.get(0).getPort() + ",127.0.0.1:" + addresses.get(1).getPort();
            Run cp = run("checkpoint", "--servers", servers2, "--name", "first");
            assertEquals(0, cp.code(), cp.out());
            assertTrue(cp.out().contains("checkpoint ckpt-first-2shards written by 2 shard(s)"), cp.out());
            assertTrue(Files.exists(dir.resolve("ckpt-first-2shards").resolve("manifest.json")));
        } finally {
            servers.forEach(ShardServer::close);
            devices.forEach(Device::close);
        }

        Run inspect = run("inspect", dir.toString(), "--chunks");
        assertEquals(0, inspect.code(), inspect.out());
        assertTrue(inspect.out().contains("ckpt-first-2shards  complete (--restore uses this one)"), inspect.out());
        assertTrue(inspect.out().contains("w                        F32 [4, 8]  32 element(s), 2 chunk(s) of 16  version 0  adam("), inspect.out());
        assertTrue(inspect.out().contains("chunk 1: shard 1, version 0, elements [16, 32)"), inspect.out());

        Files.delete(dir.resolve("ckpt-first-2shards").resolve("shard-0.safetensors"));
        Run broken = run("inspect", dir.resolve("ckpt-first-2shards").toString());
        assertEquals(1, broken.code(), "no complete checkpoint");
        assertTrue(broken.out().contains("NOT USABLE: shard-0.safetensors is missing"), broken.out());
    }

    @Test
    @org.junit.jupiter.api.Timeout(120) // a shard that started anyway would serve until stopped
    void aServerToldToRestoreFromADirectoryWithNoCheckpointDoesNotStart() throws Exception {
        Path empty = java.nio.file.Files.createDirectories(dir.resolve("empty"));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.run("server", "--port", "0", "--bind", "127.0.0.1", "--shard", "0", "--shards", "1", "--workers", "1",
                    "--device", "cpu", "--restore", empty.toString());
        } finally {
            System.setErr(old);
        }
        String text = err.toString(StandardCharsets.UTF_8);
        assertEquals(2, code, text);
        assertTrue(text.contains("gpups server: --restore " + empty + ": no checkpoint to restore (it is empty)"), text);
    }
}
