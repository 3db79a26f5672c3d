package io.gpups.cli;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.device.Devices;
import io.gpups.core.protocol.Frame;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/** {@code gpups server}: one shard, serving until SHUTDOWN or a signal. */
@Command(name = "server", mixinStandardHelpOptions = true, description = "Run one parameter-server shard.")
final class ServerCommand implements Callable<Integer> {

    private static final Logger log = LoggerFactory.getLogger(ServerCommand.class);

    /** The line a shard prints on stdout once it listens; {@code gpups local} waits for it. */
    static final String READY = "gpups-ready port=";

    @Option(names = "--port", required = true, description = "TCP port (0 picks a free one).")
    int port;

    @Option(names = "--bind", defaultValue = "0.0.0.0", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String bind;

    @Option(names = "--shard", required = true, description = "This shard's index, 0..shards-1.")
    int shard;

    @Option(names = "--shards", required = true, description = "Number of shards in the job.")
    int shards;

    @Option(names = "--workers", required = true, description = "Number of workers in the job.")
    int workers;

    @Option(names = "--consistency", defaultValue = "bsp", description = "bsp, asp or ssp:S (default: ${DEFAULT-VALUE}).")
    String consistency;

    @Option(names = "--device", defaultValue = "auto", description = "auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--max-frame-bytes", defaultValue = "" + Frame.DEFAULT_MAX_FRAME_BYTES,
            description = "Largest frame accepted (default: ${DEFAULT-VALUE}).")
    int maxFrameBytes;

    @Override
    public Integer call() throws Exception {
        ShardConfig config = new ShardConfig(bind, port, shard, shards, workers, Consistency.parse(consistency),
                maxFrameBytes).validate();
        try (Device dev = Devices.installed().open(device, log::info)) {
            ShardServer server = ShardServer.start(config, dev);
            Runtime.getRuntime().addShutdownHook(new Thread(server::close, "gpups-signal"));
            System.out.println(READY + server.port());
            System.out.flush();
            server.terminated().join();
        }
        return 0;
    }
}
