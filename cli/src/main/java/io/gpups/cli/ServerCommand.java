package io.gpups.cli;

import io.gpups.core.config.Consistency;
import io.gpups.core.device.Device;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.TlsFiles;
import io.gpups.dashboard.MetricsEndpoint;
import io.gpups.server.NonFinitePolicy;
import io.gpups.server.ShardConfig;
import io.gpups.server.ShardSecurity;
import io.gpups.server.ShardServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
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

    @Option(names = "--bind", defaultValue = "127.0.0.1", description = "Address to listen on (default: ${DEFAULT-VALUE}, "
            + "this host only; 0.0.0.0 for every interface, e.g. in a container: then use --auth-token-file).")
    String bind;

    @Option(names = "--shard", required = true, description = "This shard's index, 0..shards-1.")
    int shard;

    @Option(names = "--shards", required = true, description = "Number of shards in the job.")
    int shards;

    @Option(names = "--workers", required = true, description = "Number of workers in the job.")
    int workers;

    @Option(names = "--consistency", defaultValue = "bsp", description = "bsp, asp or ssp:S (default: ${DEFAULT-VALUE}).")
    String consistency;

    @Mixin
    DeviceOption device;

    @Mixin
    SecurityOptions security;

    @Option(names = "--worker-timeout", defaultValue = "0", description = "Milliseconds of silence (workers send a "
            + "heartbeat every second) after which a worker is dropped until it returns: bsp steps complete with the "
            + "live workers' gradients, and the slowest clock (ssp, asp) is the slowest live worker's; a worker that "
            + "returns rejoins at the current clock. 0: never; pulls that wait on a silent worker are then logged "
            + "once a minute (default: ${DEFAULT-VALUE}).")
    long workerTimeoutMillis;

    @Option(names = "--max-connections", defaultValue = "" + ShardSecurity.DEFAULT_MAX_CONNECTIONS,
            description = "Connections accepted at once, at most half of them before their HELLO is done (a newer one "
                    + "takes the slot of the oldest such); more are closed (default: ${DEFAULT-VALUE}).")
    int maxConnections;

    @Option(names = "--hello-timeout", defaultValue = "" + ShardSecurity.DEFAULT_HELLO_TIMEOUT_MILLIS,
            description = "Milliseconds a new connection has to complete its HELLO (with the proof, under "
                    + "--auth-token-file) before it is closed; 0: no limit (default: ${DEFAULT-VALUE}).")
    long helloTimeoutMillis;

    @Option(names = "--idle-timeout", defaultValue = "" + ShardSecurity.DEFAULT_IDLE_TIMEOUT_MILLIS,
            description = "Milliseconds after which a connection with no request in flight that sent nothing (clients "
                    + "send a heartbeat every second) is closed, freeing its slot and its rank; 0: never "
                    + "(default: ${DEFAULT-VALUE}).")
    long idleTimeoutMillis;

    @Option(names = "--allow-remote-admin", description = "Without --auth-token-file, take SHUTDOWN and CHECKPOINT "
            + "from any address; by default only from loopback. (With a token file they need the admin secret.)")
    boolean allowRemoteAdmin;

    @Option(names = "--max-registered-bytes", defaultValue = "0",
            description = "Device bytes the shard's tensors may take (parameters, optimizer state, bsp sums); "
                    + "a REGISTER beyond it is refused with OUT_OF_MEMORY. 0: no limit of its own (default: ${DEFAULT-VALUE}).")
    long maxRegisteredBytes;

    @Option(names = "--max-frame-bytes", defaultValue = "" + Frame.DEFAULT_MAX_FRAME_BYTES,
            description = "Largest frame accepted (default: ${DEFAULT-VALUE}).")
    int maxFrameBytes;

    @Option(names = "--frame-memory-bytes", defaultValue = "0",
            description = "Direct memory all connections together may hold for frames still being received; a "
                    + "connection whose frame does not fit is closed, the others are served. Must hold one frame of "
                    + "--max-frame-bytes. 0: half the JVM's direct memory limit (default: ${DEFAULT-VALUE}).")
    long frameMemoryBytes;

    @Mixin
    SharedMemoryOption sharedMemory;

    @Mixin
    MetricsOptions metrics;

    @Mixin
    CheckpointOptions checkpoints;

    @Mixin
    NonFiniteOptions nonFinite;

    @Override
    public Integer call() throws Exception {
        if (helloTimeoutMillis < 0) {
            throw new IllegalArgumentException("--hello-timeout must be 0 (none) or more milliseconds, got " + helloTimeoutMillis);
        }
        if (idleTimeoutMillis < 0) {
            throw new IllegalArgumentException("--idle-timeout must be 0 (never) or more milliseconds, got " + idleTimeoutMillis);
        }
        ShardConfig config = new ShardConfig(bind, port, shard, shards, workers, Consistency.parse(consistency),
                maxFrameBytes, workerTimeoutMillis).validate();
        NonFinitePolicy nonFinitePolicy = nonFinite.policy();
        try (Device dev = DeviceLine.open(device.spec, log::info)) {
            TlsFiles tls = security.tls();
            ShardSecurity limits = new ShardSecurity(security.auth(), tls == null ? null : tls.serverContext(),
                    maxConnections, maxRegisteredBytes == 0 ? Long.MAX_VALUE : maxRegisteredBytes)
                    .withAccess(allowRemoteAdmin, helloTimeoutMillis, idleTimeoutMillis)
                    .withFrameMemoryBytes(frameMemoryBytes)
                    .withRingDirectory(sharedMemory.directoryOrNull());
            MetricsEndpoint observed = metrics.open("server", shard);
            ShardServer server = ShardServer.start(config, dev, limits, observed == null ? null : observed.registry(),
                    checkpoints.settings(), nonFinitePolicy);
            Runtime.getRuntime().addShutdownHook(new Thread(server::close, "gpups-signal"));
            System.out.println(READY + server.port());
            System.out.flush();
            server.terminated().join();
            if (observed != null) {
                observed.close();
            }
        }
        return 0;
    }
}
