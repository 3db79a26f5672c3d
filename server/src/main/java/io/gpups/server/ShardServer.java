package io.gpups.server;

import io.gpups.core.device.Device;
import io.gpups.core.net.FlushBatching;
import io.gpups.core.net.Transport;
import io.gpups.server.checkpoint.CheckpointSettings;
import io.gpups.core.protocol.FrameDecoder;
import io.gpups.core.protocol.FrameMemoryBudget;
import io.gpups.server.metrics.RequestMetricsHandler;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One parameter-server shard: a Netty server in front of a {@link ShardAgent} that owns the device.
 * {@link #start} binds and returns; {@link #terminated()} completes after {@link #close()} or a SHUTDOWN
 * request.
 */
public final class ShardServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ShardServer.class);

    private final ShardConfig config;
    private final ShardAgent agent;
    private final ShardCheckpoints checkpoints;
    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final Channel serverChannel;
    /** Shared by every connection's frame decoder. */
    private final FrameMemoryBudget frameMemory;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final CompletableFuture<Void> terminated = new CompletableFuture<>();

    private ShardServer(ShardConfig config, Device device, ShardSecurity security, MeterRegistry metrics,
                        CheckpointSettings checkpointSettings, NonFinitePolicy nonFinite, int ioThreads)
            throws InterruptedException {
        this.config = config.validate();
        this.frameMemory = FrameMemoryBudget.of(security.frameMemoryBytes() == 0
                ? FrameMemoryBudget.defaultBytes(config.maxFrameBytes()) : security.frameMemoryBytes(), config.maxFrameBytes());
        WorkerLiveness liveness = new WorkerLiveness(config.workers(), config.workerTimeoutMillis(), System::nanoTime);
        this.agent = new ShardAgent(config, device, security.maxRegisteredBytes(), liveness, nonFinite,
                checkpointSettings, System::nanoTime);
        this.checkpoints = agent.checkpoints();
        Transport transport = Transport.best();
        this.boss = transport.eventLoopGroup(1);
        this.workers = transport.eventLoopGroup(ioThreads);
        ShardHandler handler = new ShardHandler(config, agent, liveness, security,
                () -> new Thread(this::close, "gpups-shutdown").start());
        ConnectionLimit limit = new ConnectionLimit(security.maxConnections());
        Tags metricTags = Tags.of("shard", Integer.toString(config.shard()));
        RequestMetricsHandler requestMetrics = metrics == null ? null : new RequestMetricsHandler(metrics, metricTags);
        if (metrics != null) {
            ShardMeters.bind(metrics, metricTags, agent);
            Gauge.builder("gpups.frame.memory", frameMemory, FrameMemoryBudget::usedBytes).baseUnit("bytes")
                    .description("Direct memory the frame decoders hold for frames being received (budget: "
                            + frameMemory.limitBytes() + " bytes)").tags(metricTags).register(metrics);
            FunctionCounter.builder("gpups.frame.memory.refusals", frameMemory, FrameMemoryBudget::refusals)
                    .description("Connections closed because a frame did not fit the frame memory budget")
                    .tags(metricTags).register(metrics);
        }
        agent.start();
        checkpoints.start(agent::submit);
        try {
            serverChannel = new ServerBootstrap()
                    .group(boss, workers)
                    .channel(transport.serverChannel())
                    // A shard restarted on its old port (after a crash) must bind while old connections linger.
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.SO_KEEPALIVE, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast("limit", limit);
                            if (security.ssl() != null) {
                                ch.pipeline().addLast("tls", security.ssl().newHandler(ch.alloc()));
                            }
                            ch.pipeline().addLast(FlushBatching.NAME, FlushBatching.handler());
                            FrameDecoder frames = new FrameDecoder(config.maxFrameBytes(), frameMemory);
                            ch.pipeline().addLast("frames", frames);
                            if (security.ssl() == null) {
                                frames.readDirectly(ch);
                            }
                            ch.pipeline().addLast(SharedRingInbound.NAME, new SharedRingInbound(config.maxFrameBytes()));
                            if (requestMetrics != null) {
                                ch.pipeline().addLast("metrics", requestMetrics);
                            }
                            ch.pipeline().addLast("deadlines", new ConnectionDeadlines(security.helloTimeoutMillis(),
                                    security.idleTimeoutMillis()));
                            ch.pipeline().addLast("shard", handler);
                        }
                    })
                    .bind(config.bindHost(), config.port()).sync().channel();
        } catch (RuntimeException | InterruptedException e) {
            shutdownQuietly();
            throw e;
        }
        log.info("shard {}/{} listening on {} ({} transport, {} workers, {}, device {})", config.shard(), config.shards(),
                serverChannel.localAddress(), transport.label(), config.workers(), config.consistency(), device.name());
    }

    /** Binds and starts serving. The device is used by the shard's agent thread only. */
    public static ShardServer start(ShardConfig config, Device device) throws InterruptedException {
        return start(config, device, ShardSecurity.none());
    }

    /** Binds and starts serving with authentication, TLS and limits as {@code security} says. */
    public static ShardServer start(ShardConfig config, Device device, ShardSecurity security) throws InterruptedException {
        return start(config, device, security, null);
    }

    /**
     * As above, publishing the shard's counters, request results and latency/staleness histograms to
     * {@code metrics} (tagged {@code shard}); null for none. The caller owns the registry and serves it.
     */
    public static ShardServer start(ShardConfig config, Device device, ShardSecurity security, MeterRegistry metrics)
            throws InterruptedException {
        return start(config, device, security, metrics, CheckpointSettings.none());
    }

    /**
     * As above, restoring registered chunks from a checkpoint and writing checkpoints as {@code checkpoints}
     * says (on request, on schedule, and in {@link #close()} before stopping).
     */
    public static ShardServer start(ShardConfig config, Device device, ShardSecurity security, MeterRegistry metrics,
                                    CheckpointSettings checkpoints) throws InterruptedException {
        return start(config, device, security, metrics, checkpoints, NonFinitePolicy.REJECT);
    }

    /** As above, handling pushes with NaN or infinite gradient values as {@code nonFinite} says. */
    public static ShardServer start(ShardConfig config, Device device, ShardSecurity security, MeterRegistry metrics,
                                    CheckpointSettings checkpoints, NonFinitePolicy nonFinite) throws InterruptedException {
        if (nonFinite == null) {
            throw new IllegalArgumentException("non-finite policy is null");
        }
        return new ShardServer(config, device, security, metrics, checkpoints, nonFinite, 2);
    }

    public int port() {
        return ((InetSocketAddress) serverChannel.localAddress()).getPort();
    }

    /** The frame memory budget shared by this shard's connections. */
    public FrameMemoryBudget frameMemory() {
        return frameMemory;
    }

    /** The shard's agent, for tests in this package that need to hold it while requests queue. */
    ShardAgent agent() {
        return agent;
    }

    public ShardConfig config() {
        return config;
    }

    /** Completes when the server has stopped. */
    public CompletableFuture<Void> terminated() {
        return terminated;
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            terminated.join();
            return;
        }
        log.info("shard {} stopping", config.shard());
        checkpoints.checkpointAtShutdown();
        shutdownQuietly();
        terminated.complete(null);
    }

    private void shutdownQuietly() {
        if (serverChannel != null) {
            serverChannel.close().awaitUninterruptibly();
        }
        workers.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS).awaitUninterruptibly();
        boss.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS).awaitUninterruptibly();
        agent.close();
        checkpoints.close();
    }
}
