package io.gpups.server;

import io.gpups.core.config.Consistency;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.ProtocolException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * What a shard holds: the registered tensors, by name and by id, with the chunks of each held here, and the bytes
 * they take against the shard's limit ({@link RegistrationBytes}). REGISTER is checked and allocated here, and a
 * request's tensor id and chunk index are looked up here. Agent thread only.
 */
final class ShardTensors implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ShardTensors.class);

    private final ShardConfig config;
    private final ShardDevice device;
    private final ShardCounters counters;
    private final boolean bsp;
    /** Bytes all registrations may take together ({@link RegistrationBytes}). */
    private final long maxRegisteredBytes;
    /** What the registrations so far take, as {@link RegistrationBytes} counts it. */
    private long registeredBytes;
    private final Map<String, TensorState> byName = new HashMap<>();
    private final List<TensorState> byId = new ArrayList<>();

    ShardTensors(ShardConfig config, ShardDevice device, ShardCounters counters, long maxRegisteredBytes) {
        this.config = config;
        this.device = device;
        this.counters = counters;
        this.bsp = config.consistency().mode() == Consistency.Mode.BSP;
        this.maxRegisteredBytes = maxRegisteredBytes;
    }

    /**
     * The tensor {@code reg} registers: the one registered before under its name when the definitions are equal, else
     * a new one with its chunks allocated and filled ({@code restore} may fill them from a checkpoint). Refused with
     * CONFLICT, BAD_ARGUMENT, BAD_CHUNK or OUT_OF_MEMORY; a refused registration leaves nothing behind.
     */
    TensorState register(Messages.Register reg, Consumer<TensorState> restore) {
        TensorState existing = byName.get(reg.spec().name());
        if (existing != null) {
            if (!existing.registration.equals(reg)) {
                throw new ProtocolException(ErrorCode.CONFLICT, "tensor '" + reg.spec().name()
                        + "' is already registered as " + existing.registration + "; conflicting definition " + reg);
            }
            return existing;
        }
        TensorState t = new TensorState(byId.size(), reg);
        if (reg.chunks().length == 0) {
            // A tensor held nowhere here would be written into every checkpoint with none of its chunks.
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "REGISTER '" + reg.spec().name()
                    + "' lists no chunk: register a tensor only with the shards that hold some of its "
                    + t.layout.chunks() + " chunk(s)");
        }
        int previous = -1;
        for (int c : reg.chunks()) {
            if (c < 0 || c >= t.layout.chunks()) {
                throw new ProtocolException(ErrorCode.BAD_CHUNK, "REGISTER '" + reg.spec().name() + "': chunk "
                        + c + " out of range, the tensor has " + t.layout.chunks() + " chunk(s)");
            }
            if (c <= previous) {
                throw new ProtocolException(ErrorCode.BAD_CHUNK, "REGISTER '" + reg.spec().name()
                        + "': chunk indices must be strictly ascending, got " + c + " after " + previous);
            }
            previous = c;
        }
        long needed = RegistrationBytes.of(reg.spec().name(), t.layout, reg.chunks(), t.spec.optimizer().slots(), bsp);
        if (needed > maxRegisteredBytes - registeredBytes) {
            throw new ProtocolException(ErrorCode.OUT_OF_MEMORY, "REGISTER '" + reg.spec().name() + "' needs " + needed
                    + " bytes (device memory and " + RegistrationBytes.metadataBytes(reg.spec().name())
                    + " for its metadata); this shard holds " + registeredBytes + " of its limit " + maxRegisteredBytes);
        }
        try {
            for (int c : reg.chunks()) {
                t.chunks.put(c, new ChunkState(t, c, device.issuedDevice(), bsp, config.workers()));
            }
        } catch (OutOfMemoryError | RuntimeException e) {
            t.chunks.values().forEach(ChunkState::close);
            throw new ProtocolException(ErrorCode.OUT_OF_MEMORY, "REGISTER '" + reg.spec().name()
                    + "': cannot allocate device memory: " + e.getMessage());
        }
        try {
            restore.accept(t);
        } catch (RuntimeException e) {
            t.chunks.values().forEach(ChunkState::close);
            throw e;
        }
        byName.put(reg.spec().name(), t);
        byId.add(t);
        long bytes = t.chunks.values().stream().mapToLong(ChunkState::deviceBytes).sum();
        counters.deviceBytes += bytes;
        registeredBytes += needed;
        log.info("registered {} ({} of {} chunks here, {} device bytes)", reg.spec(), reg.chunks().length,
                t.layout.chunks(), bytes);
        return t;
    }

    /**
     * Takes {@code bytes} of the registration limit for something else the shard holds ({@code what}, e.g. a table),
     * or refuses with OUT_OF_MEMORY naming it; {@link #release} gives them back.
     */
    void reserve(long bytes, String what) {
        if (bytes > maxRegisteredBytes - registeredBytes) {
            throw new ProtocolException(ErrorCode.OUT_OF_MEMORY, what + " needs " + bytes + " bytes; this shard holds "
                    + registeredBytes + " of its limit " + maxRegisteredBytes);
        }
        registeredBytes += bytes;
    }

    /** Gives back bytes {@link #reserve} took. */
    void release(long bytes) {
        registeredBytes -= bytes;
    }

    /** The chunk a request names; refused with UNKNOWN_TENSOR or BAD_CHUNK, named by {@code what} (the opcode). */
    ChunkState chunk(int tensorId, int chunkIndex, String what) {
        if (tensorId < 0 || tensorId >= byId.size()) {
            throw new ProtocolException(ErrorCode.UNKNOWN_TENSOR, what + ": no tensor with id " + tensorId
                    + " on shard " + config.shard() + " (" + byId.size() + " registered)");
        }
        TensorState t = byId.get(tensorId);
        ChunkState c = t.chunks.get(chunkIndex);
        if (c == null) {
            throw new ProtocolException(ErrorCode.BAD_CHUNK, what + " to '" + t.spec.name() + "': chunk " + chunkIndex
                    + " is not held by shard " + config.shard() + " (the tensor has " + t.layout.chunks() + " chunk(s))");
        }
        return c;
    }

    /** The registered tensors, by id. */
    List<TensorState> all() {
        return Collections.unmodifiableList(byId);
    }

    boolean isEmpty() {
        return byId.isEmpty();
    }

    /** Chunks held, all tensors together. */
    int chunks() {
        return byId.stream().mapToInt(t -> t.chunks.size()).sum();
    }

    /** Frees every chunk's device memory. */
    @Override
    public void close() {
        for (TensorState t : byId) {
            t.chunks.values().forEach(ChunkState::close);
        }
        byId.clear();
        byName.clear();
    }
}
