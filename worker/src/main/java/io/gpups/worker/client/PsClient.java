package io.gpups.worker.client;

import io.gpups.core.codec.Codec;
import io.gpups.core.config.Consistency;
import io.gpups.core.net.SharedRing;
import io.gpups.core.net.Transport;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.HelloAuth;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.gpups.core.tensor.ChunkLayout;
import io.gpups.core.tensor.Partitioner;
import io.gpups.core.tensor.TensorSpec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The worker's view of the parameter server: named tensors, pushed and pulled whole. Chunking and placement
 * are invisible: each call fans out to the shards that hold the tensor's chunks, over one pipelined
 * connection per shard, and completes when every chunk is done.
 *
 * <p>Buffers: a gradient passed to {@link #push} is read in place (no copy) until its future completes; the
 * caller must not change it before then. A destination passed to {@link #pull} is written by the network
 * threads until its future completes. Both hold little-endian float32 for the whole tensor, starting at the
 * buffer's position, which is left unchanged.
 *
 * <p>Steps and clocks: a worker's step t pulls with clock t, pushes with step t and then calls
 * {@code clock(t + 1)}. Under bsp a pull with clock t waits until the tensor has had t updates.
 */
public final class PsClient implements ParameterClient, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(PsClient.class);

    /**
     * @param chunkBytes    largest chunk (must match every worker)
     * @param maxFrameBytes largest answer accepted
     * @param pullDtype     how pulled parameters travel: {@link Messages#DTYPE_FP32} or {@link Messages#DTYPE_BF16}
     * @param auth          the shared secret for shards that require authentication, or null
     * @param ssl           TLS for every connection, or null for plain TCP
     * @param connectTimeoutMillis how long {@link #connect} tries again to reach a shard that is not up yet
     *                      (not listening, closing connections before HELLO, or still holding this rank on an
     *                      old connection), with backoff; 0: one try
     */
    public record Options(int chunkBytes, int maxFrameBytes, int pullDtype, HelloAuth auth, SslContext ssl,
                          long connectTimeoutMillis, Ring ring) {
        public Options {
            if (connectTimeoutMillis < 0) {
                throw new IllegalArgumentException("connect timeout must be >= 0 ms (0: one try), got " + connectTimeoutMillis);
            }
        }

        public Options(int chunkBytes, int maxFrameBytes, int pullDtype, HelloAuth auth, SslContext ssl) {
            this(chunkBytes, maxFrameBytes, pullDtype, auth, ssl, 0, null);
        }

        public Options(int chunkBytes, int maxFrameBytes) {
            this(chunkBytes, maxFrameBytes, Messages.DTYPE_FP32);
        }

        public Options(int chunkBytes, int maxFrameBytes, int pullDtype) {
            this(chunkBytes, maxFrameBytes, pullDtype, null, null);
        }

        /** These options with authentication and TLS as given (either may be null). */
        public Options secured(HelloAuth auth, SslContext ssl) {
            return new Options(chunkBytes, maxFrameBytes, pullDtype, auth, ssl, connectTimeoutMillis, ring);
        }

        /** These options, trying to reach each shard for up to {@code millis} at connect. */
        public Options withConnectTimeout(long millis) {
            return new Options(chunkBytes, maxFrameBytes, pullDtype, auth, ssl, millis, ring);
        }

        /** These options offering shards on this host a shared-memory ring as {@code ring} says; null: TCP only. */
        public Options withRing(Ring ring) {
            return new Options(chunkBytes, maxFrameBytes, pullDtype, auth, ssl, connectTimeoutMillis, ring);
        }

        /** TCP only. */
        public static Options defaults() {
            return new Options(ChunkLayout.DEFAULT_CHUNK_BYTES, Frame.DEFAULT_MAX_FRAME_BYTES);
        }
    }

    /**
     * A shared-memory ring offered to every shard on this host (a loopback address) after HELLO: large frames
     * (pushes) go through it instead of the socket, with the same frames, checks and answers; a shard that refuses
     * it, or a ring that is full, leaves them on TCP.
     *
     * @param directory where the ring files are made; must be the shard's {@code --shared-memory-dir}
     * @param capacity  data bytes of each connection's ring ({@link SharedRing#checkCapacity})
     */
    public record Ring(Path directory, long capacity) {
        public Ring {
            if (directory == null) {
                throw new IllegalArgumentException("ring directory is null");
            }
            SharedRing.checkCapacity(capacity, "ring capacity");
        }

        /** {@code /dev/shm}, {@value SharedRing#DEFAULT_CAPACITY} bytes per connection. */
        public static Ring defaults() {
            return new Ring(SharedRing.DEFAULT_DIRECTORY, SharedRing.DEFAULT_CAPACITY);
        }
    }

    /** The job as the shards describe it in their HELLO answers. */
    public record ClusterInfo(int shards, int workers, Consistency consistency) {
    }

    private final List<ShardConnection> shards;
    private final TableClient tables = new TableClient(this);
    private final ClientLoops.Lease loops;
    private final ScheduledFuture<?> heartbeats;
    private final Options options;
    private final ClusterInfo cluster;
    private final Map<String, Registered> tensors = new ConcurrentHashMap<>();
    /** Tensor names in registration order, for registering again after a reconnect. */
    private final List<String> registrationOrder = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final int rank;
    private final AtomicLong bytesPushed = new AtomicLong();
    private final AtomicLong rawBytesPushed = new AtomicLong();
    private final AtomicLong pushes = new AtomicLong();
    /** Per shard: the highest chunk version its pull answers have carried, -1 before the first. */
    private final java.util.concurrent.atomic.AtomicLongArray versionsSeen;

    /** A registered tensor: where its chunks are and what each shard calls it. */
    private record Registered(Partitioner.TensorPlacement placement, int[] idOnShard) {
    }

    /** A worker says HEARTBEAT to every shard this often, so shards with a worker timeout know it is alive. */
    public static final long HEARTBEAT_MILLIS = 1000;

    private PsClient(List<ShardConnection> shards, ClientLoops.Lease loops, Options options, ClusterInfo cluster, int rank) {
        this.shards = shards;
        this.loops = loops;
        this.options = options;
        this.cluster = cluster;
        this.rank = rank;
        this.versionsSeen = new java.util.concurrent.atomic.AtomicLongArray(shards.size());
        for (int s = 0; s < shards.size(); s++) {
            versionsSeen.set(s, -1);
        }
        // Observers (rank -1) too: a shard closes connections that are idle past its idle timeout.
        heartbeats = loops.group().scheduleAtFixedRate(this::heartbeat, HEARTBEAT_MILLIS, HEARTBEAT_MILLIS,
                TimeUnit.MILLISECONDS);
    }

    /** One HEARTBEAT to every shard; its answer (or a failure, e.g. a closed connection) needs no action. */
    private void heartbeat() {
        for (ShardConnection conn : shards) {
            if (conn.channel().isActive()) {
                long id = conn.newRequestId();
                conn.send(id, Frames.empty(conn.channel().alloc(), Opcode.HEARTBEAT, id), f -> null);
            }
        }
    }

    /**
     * Connects to every shard (in shard-index order) and says HELLO as worker {@code rank} (-1 for a client
     * that is not a worker). A shard that is not up yet is tried again for up to the options' connect
     * timeout. Fails when a shard stays unreachable, refuses the HELLO, or the shards disagree about the job.
     */
    public static PsClient connect(List<InetSocketAddress> addresses, int rank, Options options) {
        if (addresses.isEmpty()) {
            throw new IllegalArgumentException("no shard addresses given");
        }
        Transport transport = Transport.best();
        Class<? extends Channel> type = transport.socketChannel();
        ClientLoops.Lease loops = ClientLoops.acquire();
        EventLoopGroup group = loops.group();
        List<ShardConnection> connections = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(options.connectTimeoutMillis());
        try {
            ClusterInfo cluster = null;
            for (int i = 0; i < addresses.size(); i++) {
                int shard = i;
                InetSocketAddress address = addresses.get(i);
                Greeted greeted = FirstConnect.retry("shard " + i + " at " + address, options.connectTimeoutMillis(), deadline, () -> {
                    ShardConnection c = new ShardConnection(shard, address, group, type, options.maxFrameBytes(), options.ssl());
                    try {
                        return new Greeted(c, hello(c, rank, options));
                    } catch (Exception e) {
                        c.close();
                        throw e;
                    }
                });
                connections.add(greeted.connection());
                Messages.HelloReply reply = greeted.reply();
                if (reply.shard() != i || reply.shards() != addresses.size()) {
                    throw new IllegalStateException("shard at " + addresses.get(i) + " is shard " + reply.shard() + " of "
                            + reply.shards() + ", but it was given as shard " + i + " of " + addresses.size());
                }
                ClusterInfo info = new ClusterInfo(reply.shards(), reply.workers(), reply.consistency());
                if (cluster != null && !cluster.equals(info)) {
                    throw new IllegalStateException("shards disagree about the job: shard 0 says " + cluster
                            + ", shard " + i + " says " + info);
                }
                cluster = info;
            }
            return new PsClient(connections, loops, options, cluster, rank);
        } catch (Exception e) {
            connections.forEach(ShardConnection::close);
            loops.close();
            Throwable cause = e instanceof java.util.concurrent.ExecutionException ? e.getCause() : e;
            throw new PsException(null, "connecting to " + addresses + " failed: " + cause.getMessage());
        }
    }

    private record Greeted(ShardConnection connection, Messages.HelloReply reply) {
    }

    /**
     * HELLO, answering the shard's challenge when it requires authentication; then, for a worker on the shard's host
     * with a ring in its options, RING_ATTACH.
     */
    private static Messages.HelloReply hello(ShardConnection c, int rank, Options options) throws Exception {
        Messages.HelloReply reply = hello(c, new Messages.Hello(rank, 0));
        if (reply.challenge() != null) {
            if (options.auth() == null) {
                throw new IllegalStateException("shard " + c.shard() + " at " + c.address()
                        + " requires authentication: give the job's shared secret (--auth-token-file)");
            }
            reply = hello(c, new Messages.Hello(rank, 0, options.auth().proof(reply.challenge(), rank)));
        }
        Ring ring = options.ring();
        if (ring != null && rank >= 0 && c.address().getAddress() != null && c.address().getAddress().isLoopbackAddress()) {
            String refused;
            try {
                refused = c.attachRing(ring.directory(), ring.capacity());
            } catch (java.io.IOException e) {
                refused = "cannot make a ring in " + ring.directory() + ": " + e;
            }
            if (refused != null) {
                log.info("shard {} at {}: frames go over TCP, no shared-memory ring: {}", c.shard(), c.address(), refused);
            }
        }
        return reply;
    }

    private static Messages.HelloReply hello(ShardConnection c, Messages.Hello hello) throws Exception {
        long id = c.newRequestId();
        return c.send(id, Frames.encode(c.channel().alloc(), Opcode.HELLO, id, hello),
                f -> Messages.HelloReply.read(f.payload())).get(30, TimeUnit.SECONDS);
    }

    /** The client's embedding tables, over its connections: {@link TableClient}. */
    public TableClient tables() {
        return tables;
    }

    /** The connection to {@code shard}, for {@link TableClient}. */
    ShardConnection connection(int shard) {
        return shards.get(shard);
    }

    /** How many shards this client talks to. */
    int shardCount() {
        return shards.size();
    }

    @Override
    public ClusterInfo cluster() {
        return cluster;
    }

    /**
     * Registers a model's tensors (idempotent: every worker registers the same list). Placement is computed
     * from the whole list, so call this once with every tensor, in the same order on every worker.
     */
    @Override
    public CompletableFuture<Void> register(List<TensorSpec> specs) {
        Partitioner.Placement placement = Partitioner.place(specs, shards.size(), options.chunkBytes());
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (TensorSpec spec : specs) {
            Partitioner.TensorPlacement tp = placement.of(spec.name());
            int[] ids = new int[shards.size()];
            java.util.Arrays.fill(ids, -1);
            Registered t = new Registered(tp, ids);
            for (int s = 0; s < shards.size(); s++) {
                CompletableFuture<Void> sent = registerOn(shards.get(s), t);
                if (sent != null) {
                    all.add(sent);
                }
            }
            tensors.put(spec.name(), t);
            registrationOrder.add(spec.name());
        }
        return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new));
    }

    /** REGISTERs a tensor's chunks held by one shard and records the id it answers; null if it holds none. */
    private static CompletableFuture<Void> registerOn(ShardConnection c, Registered t) {
        int[] chunks = t.placement().chunksOn(c.shard());
        if (chunks.length == 0) {
            return null;
        }
        long id = c.newRequestId();
        return c.send(id, Frames.encode(c.channel().alloc(), Opcode.REGISTER, id,
                        new Messages.Register(t.placement().spec(), t.placement().layout().chunkElements(), chunks)),
                f -> Messages.RegisterReply.read(f.payload()).tensorId())
                .thenAccept(tensorId -> t.idOnShard()[c.shard()] = tensorId);
    }

    /**
     * Reconnects to every shard whose connection is gone (a shard that died and was restarted, e.g. with
     * {@code --restore}), retrying with backoff for up to {@code timeoutMillis}: HELLO again, then REGISTER
     * again every tensor and table this client registered, so a restoring shard loads its chunks and rows from the
     * checkpoint and every tensor and table id is current. Requests that failed with the old connection are the caller's to
     * retry; pushes are idempotent per (worker, step, chunk) under bsp.
     */
    @Override
    public void reconnect(long timeoutMillis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        for (ShardConnection c : shards) {
            long backoff = 100;
            while (!c.isActive()) {
                try {
                    c.reconnect();
                    hello(c, rank, options);
                    List<CompletableFuture<Void>> sent = new ArrayList<>();
                    for (String name : registrationOrder) {
                        CompletableFuture<Void> f = registerOn(c, tensors.get(name));
                        if (f != null) {
                            sent.add(f);
                        }
                    }
                    sent.add(tables.registerAgain(c));
                    CompletableFuture.allOf(sent.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
                } catch (Exception e) {
                    if (System.nanoTime() > deadline) {
                        throw new PsException(null, "shard " + c.shard() + " at " + c.address() + " did not come back within "
                                + timeoutMillis + " ms: " + e);
                    }
                    try {
                        Thread.sleep(backoff);
                    } catch (InterruptedException interrupted) {
                        Thread.currentThread().interrupt();
                        throw new PsException(null, "interrupted while reconnecting to shard " + c.shard());
                    }
                    backoff = Math.min(2 * backoff, 2000);
                }
            }
        }
    }

    /** Pushes the gradient of a whole tensor for {@code step}. */
    @Override
    public CompletableFuture<Void> push(String tensor, long step, ByteBuffer gradient) {
        Registered t = registered(tensor);
        checkCapacity(tensor, gradient, t);
        ChunkLayout layout = t.placement().layout();
        CompletableFuture<?>[] parts = new CompletableFuture<?>[layout.chunks()];
        for (int c = 0; c < parts.length; c++) {
            ShardConnection conn = shards.get(t.placement().shardOfChunk()[c]);
            long id = conn.newRequestId();
            parts[c] = conn.send(id, pushFrame(conn, Opcode.PUSH, id, t, c, step, gradient), f -> null);
        }
        return CompletableFuture.allOf(parts);
    }

    @Override
    public CompletableFuture<Void> push(String tensor, long step, Codec codec, ByteBuffer[] chunkPayloads) {
        Registered t = registered(tensor);
        ChunkLayout layout = t.placement().layout();
        if (chunkPayloads.length != layout.chunks()) {
            throw new IllegalArgumentException("tensor '" + tensor + "' has " + layout.chunks() + " chunk(s), got "
                    + chunkPayloads.length + " payload(s)");
        }
        CompletableFuture<?>[] parts = new CompletableFuture<?>[layout.chunks()];
        for (int c = 0; c < parts.length; c++) {
            int shard = t.placement().shardOfChunk()[c];
            ShardConnection conn = shards.get(shard);
            long id = conn.newRequestId();
            parts[c] = conn.send(id, pushFrame(conn, Opcode.PUSH, id, t.idOnShard()[shard], c, step, codec.kind(),
                    layout.length(c), chunkPayloads[c].duplicate()), f -> null);
        }
        return CompletableFuture.allOf(parts);
    }

    @Override
    public ChunkLayout layout(String tensor) {
        return registered(tensor).placement().layout();
    }

    /** Pulls a whole tensor into {@code destination}; completes with the smallest chunk version seen. */
    @Override
    public CompletableFuture<Long> pull(String tensor, long clock, ByteBuffer destination) {
        Registered t = registered(tensor);
        checkCapacity(tensor, destination, t);
        ChunkLayout layout = t.placement().layout();
        List<CompletableFuture<Long>> parts = new ArrayList<>(layout.chunks());
        for (int c = 0; c < layout.chunks(); c++) {
            int shard = t.placement().shardOfChunk()[c];
            ShardConnection conn = shards.get(shard);
            long id = conn.newRequestId();
            ByteBuf frame = Frames.encode(conn.channel().alloc(), Opcode.PULL, id,
                    new Messages.Pull(t.idOnShard()[shard], c, clock, options.pullDtype()));
            parts.add(conn.send(id, frame, readInto(destination, layout, c, shard)));
        }
        return minVersion(parts);
    }

    /** Per shard, in shard order: the highest chunk version its pull answers have carried so far, -1 before the first. */
    @Override
    public long[] versionsSeen() {
        long[] out = new long[shards.size()];
        for (int s = 0; s < out.length; s++) {
            out[s] = versionsSeen.get(s);
        }
        return out;
    }

    /**
     * Per shard, in shard order, asked now: the highest version among the first chunk of each registered tensor it
     * holds (one PULL at clock 0 per tensor and shard, whose values are not kept; these answers do not count in
     * {@link #versionsSeen}); -1 for a shard that holds none. A shard whose chunks are all at version 0 holds their
     * initial values.
     */
    @Override
    public CompletableFuture<long[]> versionsNow() {
        long[] out = new long[shards.size()];
        java.util.Arrays.fill(out, -1);
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        for (String name : registrationOrder) {
            Registered t = tensors.get(name);
            for (int s = 0; s < shards.size(); s++) {
                int[] chunks = t.placement().chunksOn(s);
                if (chunks.length == 0) {
                    continue;
                }
                int shard = s;
                ShardConnection conn = shards.get(s);
                long id = conn.newRequestId();
                ByteBuf frame = Frames.encode(conn.channel().alloc(), Opcode.PULL, id,
                        new Messages.Pull(t.idOnShard()[s], chunks[0], 0, options.pullDtype()));
                parts.add(conn.send(id, frame, f -> Messages.PullReplyHeader.read(f.payload()).version())
                        .thenAccept(v -> {
                            synchronized (out) {
                                out[shard] = Math.max(out[shard], v);
                            }
                        }));
            }
        }
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new)).thenApply(v -> {
            synchronized (out) {
                return out.clone();
            }
        });
    }

    /** Pushes a gradient and receives the parameters after it was applied (under bsp: after the step). */
    public CompletableFuture<Long> pushPull(String tensor, long step, ByteBuffer gradient, ByteBuffer destination) {
        Registered t = registered(tensor);
        checkCapacity(tensor, gradient, t);
        checkCapacity(tensor, destination, t);
        ChunkLayout layout = t.placement().layout();
        List<CompletableFuture<Long>> parts = new ArrayList<>(layout.chunks());
        for (int c = 0; c < layout.chunks(); c++) {
            int shard = t.placement().shardOfChunk()[c];
            ShardConnection conn = shards.get(shard);
            long id = conn.newRequestId();
            parts.add(conn.send(id, pushFrame(conn, Opcode.PUSH_PULL, id, t, c, step, gradient),
                    readInto(destination, layout, c, shard)));
        }
        return minVersion(parts);
    }

    /** Tells every shard this worker finished all steps before {@code clock}. */
    @Override
    public CompletableFuture<Void> clock(long clock) {
        CompletableFuture<?>[] parts = new CompletableFuture<?>[shards.size()];
        for (int s = 0; s < parts.length; s++) {
            ShardConnection conn = shards.get(s);
            long id = conn.newRequestId();
            parts[s] = conn.send(id, Frames.encode(conn.channel().alloc(), Opcode.CLOCK, id, new Messages.Clock(clock)), f -> null);
        }
        return CompletableFuture.allOf(parts);
    }

    /** The smallest {@code slowest_clock} in the shards' STATS (-1 there, no live worker, counts as 0). */
    @Override
    public long slowestClock() {
        long min = Long.MAX_VALUE;
        for (String json : stats().join()) {
            java.util.regex.Matcher m = SLOWEST_CLOCK.matcher(json);
            if (!m.find()) {
                throw new PsException(null, "a shard's STATS has no slowest_clock: " + json);
            }
            min = Math.min(min, Math.max(0, Long.parseLong(m.group(1))));
        }
        return min == Long.MAX_VALUE ? 0 : min;
    }

    private static final java.util.regex.Pattern SLOWEST_CLOCK = java.util.regex.Pattern.compile("\"slowest_clock\":(-?\\d+)");

    /** Each shard's counters, as the JSON text its STATS answer carries, in shard order. */
    public CompletableFuture<List<String>> stats() {
        List<CompletableFuture<String>> parts = new ArrayList<>();
        for (ShardConnection conn : shards) {
            long id = conn.newRequestId();
            parts.add(conn.send(id, Frames.empty(conn.channel().alloc(), Opcode.STATS, id),
                    f -> Messages.Text.read(f.payload()).text()));
        }
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new))
                .thenApply(v -> parts.stream().map(CompletableFuture::join).toList());
    }

    /**
     * Asks every shard to write a checkpoint named {@code name} (empty: each names it by its smallest chunk
     * version) into its checkpoint directory; completes, with each shard's answer in shard order, once every
     * shard's files are durable.
     */
    public CompletableFuture<List<Messages.CheckpointReply>> checkpoint(String name) {
        List<CompletableFuture<Messages.CheckpointReply>> parts = new ArrayList<>();
        for (ShardConnection conn : shards) {
            long id = conn.newRequestId();
            parts.add(conn.send(id, Frames.encode(conn.channel().alloc(), Opcode.CHECKPOINT, id, new Messages.Checkpoint(name)),
                    f -> Messages.CheckpointReply.read(f.payload())));
        }
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new))
                .thenApply(v -> parts.stream().map(CompletableFuture::join).toList());
    }

    /** Asks every shard to stop. */
    public CompletableFuture<Void> shutdownServers() {
        CompletableFuture<?>[] parts = new CompletableFuture<?>[shards.size()];
        for (int s = 0; s < parts.length; s++) {
            ShardConnection conn = shards.get(s);
            long id = conn.newRequestId();
            parts[s] = conn.send(id, Frames.empty(conn.channel().alloc(), Opcode.SHUTDOWN, id), f -> null);
        }
        return CompletableFuture.allOf(parts);
    }

    @Override
    public long bytesPushed() {
        return bytesPushed.get();
    }

    @Override
    public long rawBytesPushed() {
        return rawBytesPushed.get();
    }

    /** Connections whose large frames go through a shared-memory ring ({@link Options#withRing}). */
    public int ringConnections() {
        return (int) shards.stream().filter(ShardConnection::hasRing).count();
    }

    /** Frames sent through shared-memory rings so far, over every connection. */
    public long ringFrames() {
        return shards.stream().mapToLong(ShardConnection::ringFrames).sum();
    }

    /** Frames that found their connection's ring full and went over TCP instead. */
    public long ringFallbacks() {
        return shards.stream().mapToLong(ShardConnection::ringFallbacks).sum();
    }

    /** Push frames sent so far: one per chunk, so a tensor of k chunks counts k. */
    @Override
    public long pushes() {
        return pushes.get();
    }

    /** A raw fp32 push of one chunk of a whole-tensor gradient buffer. */
    private ByteBuf pushFrame(ShardConnection conn, Opcode op, long id, Registered t, int chunk, long step, ByteBuffer gradient) {
        ChunkLayout layout = t.placement().layout();
        int count = layout.length(chunk);
        ByteBuffer values = gradient.duplicate();
        values.position(gradient.position() + (int) (layout.offset(chunk) * 4));
        values.limit(values.position() + count * 4);
        int shard = t.placement().shardOfChunk()[chunk];
        return pushFrame(conn, op, id, t.idOnShard()[shard], chunk, step, Codec.Kind.NONE, count, values);
    }

    /** A push frame whose body is {@code payload}'s remaining bytes, sent without a copy. */
    private ByteBuf pushFrame(ShardConnection conn, Opcode op, long id, int tensorId, int chunk, long step,
                              Codec.Kind codec, int count, ByteBuffer payload) {
        bytesPushed.addAndGet(payload.remaining());
        rawBytesPushed.addAndGet(4L * count);
        pushes.incrementAndGet();
        return Frames.encodeWithBody(conn.channel().alloc(), op, id,
                new Messages.PushHeader(tensorId, chunk, step, codec, op == Opcode.PUSH_PULL ? options.pullDtype() : 0, count),
                Unpooled.wrappedBuffer(payload));
    }

    private java.util.function.Function<Frame, Long> readInto(ByteBuffer destination, ChunkLayout layout, int chunk, int shard) {
        int base = destination.position() + (int) (layout.offset(chunk) * 4);
        int count = layout.length(chunk);
        return f -> {
            ByteBuf payload = f.payload();
            Messages.PullReplyHeader h = Messages.PullReplyHeader.read(payload);
            versionsSeen.accumulateAndGet(shard, h.version(), Math::max);
            if (h.count() != count) {
                throw new PsException(null, "chunk " + chunk + ": shard sent " + h.count() + " values, expected " + count);
            }
            if (h.dtype() == Messages.DTYPE_BF16) {
                // bfloat16 is the top half of a float32: widen on the way in.
                int at = payload.readerIndex();
                ByteBuffer out = destination.duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < count; i++) {
                    out.putInt(base + 4 * i, payload.getUnsignedShortLE(at + 2 * i) << 16);
                }
            } else {
                payload.getBytes(payload.readerIndex(), destination.duplicate().position(base).limit(base + 4 * count));
            }
            return h.version();
        };
    }

    private static CompletableFuture<Long> minVersion(List<CompletableFuture<Long>> parts) {
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new))
                .thenApply(v -> parts.stream().mapToLong(CompletableFuture::join).min().orElse(0));
    }

    private Registered registered(String tensor) {
        Registered t = tensors.get(tensor);
        if (t == null) {
            throw new IllegalArgumentException("tensor '" + tensor + "' is not registered with this client");
        }
        return t;
    }

    private static void checkCapacity(String tensor, ByteBuffer buffer, Registered t) {
        long need = 4 * t.placement().layout().elements();
        if (buffer.remaining() < need) {
            throw new IllegalArgumentException("buffer for tensor '" + tensor + "' has " + buffer.remaining()
                    + " bytes remaining, the tensor needs " + need);
        }
    }

    @Override
    public void close() {
        heartbeats.cancel(false);
        shards.forEach(ShardConnection::close);
        loops.close();
    }
}
