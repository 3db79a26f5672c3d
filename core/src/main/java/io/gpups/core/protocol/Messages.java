package io.gpups.core.protocol;

import io.gpups.core.codec.Codec;
import io.gpups.core.codec.CodecPayloads;
import io.gpups.core.config.Consistency;
import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.TensorSpec;
import io.netty.buffer.ByteBuf;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The payload of every frame, one record per layout, little-endian. Readers validate every field and throw
 * {@link ProtocolException} naming the bad value; they never read past the payload. docs/PROTOCOL.md draws
 * each layout.
 */
public final class Messages {

    private Messages() {
    }

    /**
     * HELLO request. With authentication the connection says HELLO twice: first without a proof, to get the
     * shard's challenge; then with {@code flags} bit {@link #HELLO_PROOF} and the proof (HelloAuth).
     * <pre>
     *  0       4       8                     40
     *  +-------+-------+---------------------+
     *  | rank  | flags | proof (32 bytes)    |   rank: i32, the worker's rank, or -1 for a client that is not a worker
     *  +-------+-------+---------------------+   flags: u32; the proof is present only when flags has HELLO_PROOF
     * </pre>
     */
    public record Hello(int rank, int flags, byte[] proof) implements Message {
        public static final int LENGTH = 8;
        public static final int PROOF_BYTES = 32;
        public static final int HELLO_PROOF = 1;

        public Hello(int rank, int flags) {
            this(rank, flags, null);
        }

        public int encodedLength() { return LENGTH + (proof == null ? 0 : PROOF_BYTES); }

        public void writeTo(ByteBuf out) {
            out.writeIntLE(rank);
            out.writeIntLE(proof == null ? flags & ~HELLO_PROOF : flags | HELLO_PROOF);
            if (proof != null) {
                out.writeBytes(proof, 0, PROOF_BYTES);
            }
        }

        public static Hello read(ByteBuf in) {
            need(in, LENGTH, "HELLO");
            int rank = in.readIntLE();
            int flags = in.readIntLE();
            if (rank < -1) {
                throw bad("HELLO rank " + rank + " is invalid, expected -1 or a worker rank >= 0");
            }
            byte[] proof = null;
            if ((flags & HELLO_PROOF) != 0) {
                exact(in, PROOF_BYTES, "HELLO proof");
                proof = new byte[PROOF_BYTES];
                in.readBytes(proof);
            } else if (in.isReadable()) {
                throw bad("HELLO payload is " + (LENGTH + in.readableBytes()) + " bytes, expected 8 (or 40 with a proof)");
            }
            return new Hello(rank, flags, proof);
        }
    }

    /**
     * OK answer to HELLO: the shard's view of the job, and, when the shard requires authentication and the
     * HELLO carried no proof, a challenge (flags bit {@link #CHALLENGE}, 32 random bytes).
     * <pre>
     *  0        4        8         12   13        16          20      24                  56
     *  +--------+--------+---------+----+---------+-----------+-------+-------------------+
     *  | shard  | shards | workers |mode| reserved| staleness | flags | challenge (32 B)  |
     *  +--------+--------+---------+----+---------+-----------+-------+-------------------+
     *  all u32 but mode (u8: 0 bsp, 1 asp, 2 ssp); the challenge is present only when flags has CHALLENGE
     * </pre>
     */
    public record HelloReply(int shard, int shards, int workers, Consistency consistency, byte[] challenge) implements Message {
        public static final int LENGTH = 24;
        public static final int CHALLENGE = 1;

        public HelloReply(int shard, int shards, int workers, Consistency consistency) {
            this(shard, shards, workers, consistency, null);
        }

        public int encodedLength() { return LENGTH + (challenge == null ? 0 : Hello.PROOF_BYTES); }

        public void writeTo(ByteBuf out) {
            out.writeIntLE(shard);
            out.writeIntLE(shards);
            out.writeIntLE(workers);
            out.writeByte(consistency.mode().id);
            out.writeZero(3);
            out.writeIntLE(consistency.staleness());
            out.writeIntLE(challenge == null ? 0 : CHALLENGE);
            if (challenge != null) {
                out.writeBytes(challenge, 0, Hello.PROOF_BYTES);
            }
        }

        public static HelloReply read(ByteBuf in) {
            need(in, LENGTH, "HELLO reply");
            int shard = in.readIntLE();
            int shards = in.readIntLE();
            int workers = in.readIntLE();
            int mode = in.readUnsignedByte();
            in.skipBytes(3);
            int staleness = in.readIntLE();
            int flags = in.readIntLE();
            byte[] challenge = null;
            if ((flags & CHALLENGE) != 0) {
                exact(in, Hello.PROOF_BYTES, "HELLO reply challenge");
                challenge = new byte[Hello.PROOF_BYTES];
                in.readBytes(challenge);
            }
            try {
                return new HelloReply(shard, shards, workers, new Consistency(Consistency.Mode.ofId(mode), staleness), challenge);
            } catch (IllegalArgumentException e) {
                throw bad("HELLO reply: " + e.getMessage());
            }
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof HelloReply r && shard == r.shard && shards == r.shards && workers == r.workers
                    && consistency.equals(r.consistency) && java.util.Arrays.equals(challenge, r.challenge);
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(shard, shards, workers, consistency);
        }
    }

    /**
     * REGISTER: a tensor's definition and the chunks of it this shard holds.
     * <pre>
     *  u16 name length n | n bytes name (UTF-8)
     *  u8  rank r        | r x i64 dims
     *  u8  initializer kind | f32 initializer value | i64 seed
     *  u8  optimizer kind   | u8 h | h x f32 hyper-parameters (OptimizerSpec order)
     *  u32 chunk elements
     *  u32 k             | k x u32 chunk indices held by the receiving shard (ascending)
     * </pre>
     */
    public record Register(TensorSpec spec, int chunkElements, int[] chunks) implements Message {

        public int encodedLength() {
            return Frames.stringLength(spec.name(), TensorSpec.MAX_NAME_BYTES) + 1 + 8 * spec.shape().length
                    + 1 + 4 + 8 + 2 + 4 * spec.optimizer().hyperParameters().length + 4 + 4 + 4 * chunks.length;
        }

        public void writeTo(ByteBuf out) {
            Frames.writeString(out, spec.name(), TensorSpec.MAX_NAME_BYTES);
            long[] shape = spec.shape();
            out.writeByte(shape.length);
            for (long d : shape) {
                out.writeLongLE(d);
            }
            out.writeByte(spec.initializer().kind().id);
            out.writeFloatLE(spec.initializer().value());
            out.writeLongLE(spec.initializer().seed());
            float[] h = spec.optimizer().hyperParameters();
            out.writeByte(spec.optimizer().kind().id);
            out.writeByte(h.length);
            for (float v : h) {
                out.writeFloatLE(v);
            }
            out.writeIntLE(chunkElements);
            out.writeIntLE(chunks.length);
            for (int c : chunks) {
                out.writeIntLE(c);
            }
        }

        public static Register read(ByteBuf in) {
            need(in, 2, "REGISTER name length");
            int nameLength = in.readUnsignedShortLE();
            if (nameLength == 0 || nameLength > TensorSpec.MAX_NAME_BYTES) {
                throw bad("REGISTER name length " + nameLength + " out of range 1.." + TensorSpec.MAX_NAME_BYTES);
            }
            need(in, nameLength + 1, "REGISTER name");
            String name = in.readCharSequence(nameLength, StandardCharsets.UTF_8).toString();
            int rank = in.readUnsignedByte();
            if (rank == 0 || rank > TensorSpec.MAX_RANK) {
                throw bad("REGISTER '" + name + "': rank " + rank + " out of range 1.." + TensorSpec.MAX_RANK);
            }
            need(in, 8 * rank + 1 + 4 + 8 + 2, "REGISTER '" + name + "' shape and initializer");
            long[] shape = new long[rank];
            for (int i = 0; i < rank; i++) {
                shape[i] = in.readLongLE();
            }
            int initKind = in.readUnsignedByte();
            float initValue = in.readFloatLE();
            long seed = in.readLongLE();
            int optKind = in.readUnsignedByte();
            int h = in.readUnsignedByte();
            need(in, 4 * h + 8, "REGISTER '" + name + "' optimizer");
            float[] hyper = new float[h];
            for (int i = 0; i < h; i++) {
                hyper[i] = in.readFloatLE();
            }
            int chunkElements = in.readIntLE();
            long k = in.readUnsignedIntLE();
            if (k > in.readableBytes() / 4) {
                throw bad("REGISTER '" + name + "': " + k + " chunk indices announced, payload holds " + in.readableBytes() / 4);
            }
            int[] chunks = new int[(int) k];
            for (int i = 0; i < k; i++) {
                chunks[i] = in.readIntLE();
            }
            if (in.isReadable()) {
                throw bad("REGISTER '" + name + "': " + in.readableBytes() + " trailing bytes");
            }
            TensorSpec spec;
            try {
                OptimizerSpec optimizer = OptimizerSpec.of(OptimizerSpec.OptimizerKind.ofId(optKind), hyper);
                spec = new TensorSpec(name, shape, new Initializer(Initializer.Kind.ofId(initKind), initValue, seed), optimizer);
            } catch (IllegalArgumentException | ArithmeticException e) {
                throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "REGISTER '" + name + "': " + e.getMessage());
            }
            if (chunkElements <= 0) {
                throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "REGISTER '" + name + "': chunk elements " + chunkElements + " must be > 0");
            }
            return new Register(spec, chunkElements, chunks);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Register r && spec.equals(r.spec) && chunkElements == r.chunkElements && Arrays.equals(chunks, r.chunks);
        }

        @Override
        public int hashCode() {
            return spec.hashCode() * 31 + Arrays.hashCode(chunks);
        }

        @Override
        public String toString() {
            return "Register{" + spec + ", chunkElements=" + chunkElements + ", chunks=" + Arrays.toString(chunks) + "}";
        }
    }

    /**
     * OK answer to REGISTER: the id the shard gave the tensor, used by PUSH and PULL.
     * <pre>  u32 tensor id </pre>
     */
    public record RegisterReply(int tensorId) implements Message {
        public static final int LENGTH = 4;

        public int encodedLength() { return LENGTH; }

        public void writeTo(ByteBuf out) { out.writeIntLE(tensorId); }

        public static RegisterReply read(ByteBuf in) {
            exact(in, LENGTH, "REGISTER reply");
            return new RegisterReply(in.readIntLE());
        }
    }

    /**
     * PUSH and PUSH_PULL: a gradient for one chunk. The fixed part is 24 bytes so the values that follow
     * start 8-byte aligned in the frame (offset 40).
     * <pre>
     *  0          4         8            16    17    18        20      24
     *  +----------+---------+------------+-----+-----+---------+-------+-------------------
     *  | tensor id| chunk   | step (i64) |codec|pull | reserved| count | codec payload
     *  +----------+---------+------------+-----+-----+---------+-------+-------------------
     * </pre>
     * {@code codec} is a {@link Codec.Kind} id; {@code count} is the chunk's element count, whatever the codec;
     * {@code pull} is the dtype of a PUSH_PULL answer (0 fp32, 1 bf16; 0 for PUSH). The payload that follows
     * is not part of this record's encoding: it is sent without a copy.
     */
    public record PushHeader(int tensorId, int chunk, long step, Codec.Kind codec, int pullDtype, int count) implements Message {
        public static final int LENGTH = 24;
        /** Where the codec byte is, from the start of the header. */
        public static final int CODEC_OFFSET = 16;

        public PushHeader(int tensorId, int chunk, long step, int count) {
            this(tensorId, chunk, step, Codec.Kind.NONE, DTYPE_FP32, count);
        }

        public int encodedLength() { return LENGTH; }

        public void writeTo(ByteBuf out) {
            out.writeIntLE(tensorId);
            out.writeIntLE(chunk);
            out.writeLongLE(step);
            out.writeByte(codec.id);
            out.writeByte(pullDtype);
            out.writeZero(2);
            out.writeIntLE(count);
        }

        /**
         * Reads the fixed part and checks the payload that follows against it ({@link CodecPayloads});
         * the reader index is left at the payload.
         */
        public static PushHeader read(ByteBuf in, String what) {
            need(in, LENGTH, what);
            int tensorId = in.readIntLE();
            int chunk = in.readIntLE();
            long step = in.readLongLE();
            int codecId = in.readUnsignedByte();
            int pullDtype = in.readUnsignedByte();
            in.skipBytes(2);
            long count = in.readUnsignedIntLE();
            if (step < 0) {
                throw new ProtocolException(ErrorCode.BAD_ARGUMENT, what + " step " + step + " must be >= 0");
            }
            Codec.Kind codec = Codec.Kind.ofId(codecId);
            if (codec == null) {
                throw new ProtocolException(ErrorCode.UNSUPPORTED_CODEC, what + " codec " + codecId
                        + " not supported, expected 0..6 (none, fp16, bf16, int8, topk, randomk, sign)");
            }
            checkDtype(what, pullDtype);
            if (count > Integer.MAX_VALUE / 4) {
                throw new ProtocolException(ErrorCode.SIZE_MISMATCH, what + " count " + count + " is too large");
            }
            CodecPayloads.check(codec, (int) count, in, what);
            return new PushHeader(tensorId, chunk, step, codec, pullDtype, (int) count);
        }
    }

    /** dtype of parameters in a DATA answer: float32. */
    public static final int DTYPE_FP32 = 0;
    /** dtype of parameters in a DATA answer: bfloat16 (round to nearest even). */
    public static final int DTYPE_BF16 = 1;

    static void checkDtype(String what, int dtype) {
        if (dtype != DTYPE_FP32 && dtype != DTYPE_BF16) {
            throw new ProtocolException(ErrorCode.BAD_ARGUMENT, what + " pull dtype " + dtype + " not supported, expected 0 (fp32) or 1 (bf16)");
        }
    }

    /** Bytes of {@code count} parameters in {@code dtype}. */
    public static int dtypeBytes(int dtype, int count) {
        return dtype == DTYPE_BF16 ? 2 * count : 4 * count;
    }

    /**
     * PULL: ask for one chunk's parameters. {@code clock} is the puller's clock: under bsp the answer waits
     * until the chunk's version is at least {@code clock}, under ssp:S until the slowest worker's clock is
     * at least {@code clock - S}; under asp it never waits. {@code dtype} is how the values come back.
     * <pre>
     *  0          4         8             16      20         24
     *  +----------+---------+-------------+-------+----------+
     *  | tensor id| chunk   | clock (i64) | dtype | reserved |
     *  +----------+---------+-------------+-------+----------+
     * </pre>
     */
    public record Pull(int tensorId, int chunk, long clock, int dtype) implements Message {
        public static final int LENGTH = 24;

        public Pull(int tensorId, int chunk, long clock) {
            this(tensorId, chunk, clock, DTYPE_FP32);
        }

        public int encodedLength() { return LENGTH; }

        public void writeTo(ByteBuf out) {
            out.writeIntLE(tensorId);
            out.writeIntLE(chunk);
            out.writeLongLE(clock);
            out.writeIntLE(dtype);
            out.writeIntLE(0);
        }

        public static Pull read(ByteBuf in) {
            exact(in, LENGTH, "PULL");
            Pull pull = new Pull(in.readIntLE(), in.readIntLE(), in.readLongLE(), in.readIntLE());
            in.skipBytes(4);
            if (pull.clock < 0) {
                throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "PULL clock " + pull.clock + " must be >= 0");
            }
            checkDtype("PULL", pull.dtype);
            return pull;
        }
    }

    /**
     * DATA answer to PULL and PUSH_PULL: the chunk's parameters after {@code version} updates.
     * <pre>
     *  0               8       12      16
     *  +---------------+-------+-------+---------------------------------------------
     *  | version (i64) | count | dtype | count values: f32 (dtype 0) or bf16 (dtype 1)
     *  +---------------+-------+-------+---------------------------------------------
     * </pre>
     */
    public record PullReplyHeader(long version, int count, int dtype) implements Message {
        public static final int LENGTH = 16;

        public PullReplyHeader(long version, int count) {
            this(version, count, DTYPE_FP32);
        }

        public int encodedLength() { return LENGTH; }

        public void writeTo(ByteBuf out) {
            out.writeLongLE(version);
            out.writeIntLE(count);
            out.writeIntLE(dtype);
        }

        /** Reads the fixed part; the reader index is left at the values, whose length is checked here. */
        public static PullReplyHeader read(ByteBuf in) {
            need(in, LENGTH, "PULL reply");
            long version = in.readLongLE();
            long count = in.readUnsignedIntLE();
            int dtype = in.readIntLE();
            if (dtype != DTYPE_FP32 && dtype != DTYPE_BF16) {
                throw bad("PULL reply dtype " + dtype + " not supported, expected 0 (fp32) or 1 (bf16)");
            }
            long bytes = dtype == DTYPE_BF16 ? 2 * count : 4 * count;
            if (bytes != in.readableBytes()) {
                throw bad("PULL reply announces " + count + " values but carries " + in.readableBytes() + " bytes");
            }
            return new PullReplyHeader(version, (int) count, dtype);
        }
    }

    /**
     * CLOCK: the sender (a worker) has finished every step before {@code clock}.
     * <pre>  i64 clock </pre>
     */
    public record Clock(long clock) implements Message {
        public static final int LENGTH = 8;

        public int encodedLength() { return LENGTH; }

        public void writeTo(ByteBuf out) { out.writeLongLE(clock); }

        public static Clock read(ByteBuf in) {
            exact(in, LENGTH, "CLOCK");
            long clock = in.readLongLE();
            if (clock < 0) {
                throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "CLOCK " + clock + " must be >= 0");
            }
            return new Clock(clock);
        }
    }

    /**
     * CHECKPOINT: write a checkpoint of the receiving shard's chunks into its checkpoint directory.
     * <pre>
     *  0        2
     *  +--------+-------------------------------------------------
     *  | n (u16)| name: n bytes of A-Z a-z 0-9 . _ - (0..128; 0: the shard names it step-&lt;smallest version&gt;)
     *  +--------+-------------------------------------------------
     * </pre>
     * The shard writes {@code ckpt-<name>-<shards>shards/shard-<i>.*}; every shard given the same name writes
     * into the same directory.
     */
    public record Checkpoint(String name) implements Message {
        public static final int MAX_NAME_BYTES = 128;

        public int encodedLength() { return 2 + name.length(); }

        public void writeTo(ByteBuf out) {
            out.writeShortLE(name.length());
            out.writeCharSequence(name, StandardCharsets.US_ASCII);
        }

        public static Checkpoint read(ByteBuf in) {
            need(in, 2, "CHECKPOINT");
            int n = in.readUnsignedShortLE();
            exact(in, n, "CHECKPOINT name");
            if (n > MAX_NAME_BYTES) {
                throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "CHECKPOINT name is " + n + " bytes, at most " + MAX_NAME_BYTES);
            }
            String name = in.readCharSequence(n, StandardCharsets.ISO_8859_1).toString();
            if (!name.matches("[A-Za-z0-9._-]*") || name.startsWith(".")) {
                throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "CHECKPOINT name '" + name
                        + "' may hold only A-Z a-z 0-9 . _ - and must not start with '.'");
            }
            return new Checkpoint(name);
        }
    }

    /**
     * OK answer to CHECKPOINT, sent once the shard's files are durable (written, fsynced, renamed).
     * <pre>
     *  0                  8        12      16                 24       26
     *  +------------------+--------+-------+------------------+--------+---------------------
     *  | min version (i64)| chunks | flags | bytes (u64)      | n (u16)| directory name (n bytes)
     *  +------------------+--------+-------+------------------+--------+---------------------
     * </pre>
     * min version: the smallest version of the chunks written; chunks: how many; flags bit 0
     * ({@link #WRITTEN}): files were written (clear when the shard's part already held exactly these
     * versions); flags bit 1 ({@link #SET_COMPLETE}): every shard's part was there when this one was verified, and
     * the whole checkpoint reads back complete (clear: the other shards' parts were still to come); bytes: the data
     * file's length (0 when not written); the directory name is relative to the shard's checkpoint directory.
     */
    public record CheckpointReply(long minVersion, int chunks, int flags, long bytes, String directory) implements Message {
        public static final int FIXED_LENGTH = 26;
        public static final int WRITTEN = 1;
        public static final int SET_COMPLETE = 2;

        public int encodedLength() { return FIXED_LENGTH + directory.getBytes(StandardCharsets.UTF_8).length; }

        public void writeTo(ByteBuf out) {
            out.writeLongLE(minVersion);
            out.writeIntLE(chunks);
            out.writeIntLE(flags);
            out.writeLongLE(bytes);
            byte[] name = directory.getBytes(StandardCharsets.UTF_8);
            out.writeShortLE(name.length);
            out.writeBytes(name);
        }

        public static CheckpointReply read(ByteBuf in) {
            need(in, FIXED_LENGTH, "CHECKPOINT reply");
            long minVersion = in.readLongLE();
            int chunks = in.readIntLE();
            int flags = in.readIntLE();
            long bytes = in.readLongLE();
            int n = in.readUnsignedShortLE();
            exact(in, n, "CHECKPOINT reply directory");
            return new CheckpointReply(minVersion, chunks, flags, bytes, in.readCharSequence(n, StandardCharsets.UTF_8).toString());
        }
    }

    /**
     * RING_ATTACH: a worker on the shard's host offers a {@link io.gpups.core.net.SharedRing} for its frames.
     * <pre>
     *  0                 8                        24       26
     *  +-----------------+------------------------+--------+-------------------------------
     *  | capacity (u64)  | token (16 bytes)       | n (u16)| file name: n bytes (gpups-ring-&lt;32 hex&gt;.shm)
     *  +-----------------+------------------------+--------+-------------------------------
     * </pre>
     * The file is looked for in the shard's ring directory ({@code --shared-memory-dir}); the name is checked
     * against {@link io.gpups.core.net.SharedRing#FILE_NAME}, the file's size, magic and token against these fields.
     */
    public record RingAttach(long capacity, byte[] token, String name) implements Message {
        public static final int FIXED_LENGTH = 26;
        public static final int MAX_NAME_BYTES = 64;

        public int encodedLength() { return FIXED_LENGTH + name.length(); }

        public void writeTo(ByteBuf out) {
            out.writeLongLE(capacity);
            out.writeBytes(token);
            out.writeShortLE(name.length());
            out.writeCharSequence(name, StandardCharsets.US_ASCII);
        }

        public static RingAttach read(ByteBuf in) {
            need(in, FIXED_LENGTH, "RING_ATTACH");
            long capacity = in.readLongLE();
            byte[] token = new byte[io.gpups.core.net.SharedRing.TOKEN_BYTES];
            in.readBytes(token);
            int n = in.readUnsignedShortLE();
            exact(in, n, "RING_ATTACH file name");
            if (n > MAX_NAME_BYTES) {
                throw new ProtocolException(ErrorCode.BAD_ARGUMENT, "RING_ATTACH file name is " + n + " bytes, at most " + MAX_NAME_BYTES);
            }
            return new RingAttach(capacity, token, in.readCharSequence(n, StandardCharsets.ISO_8859_1).toString());
        }
    }

    /**
     * RING_FRAME: the next request of this connection is a whole frame in the attached ring; the frame's request
     * id is this one's, and its answer is the only one.
     * <pre>
     *  0                 8             12            16
     *  +-----------------+-------------+-------------+
     *  | position (u64)  | length (u32)| 0 (u32)     |
     *  +-----------------+-------------+-------------+
     * </pre>
     * position: where the frame starts, counted as {@link io.gpups.core.net.SharedRing#place} counts; length: the
     * frame's bytes, its length field included.
     */
    public record RingFrame(long position, int length) implements Message {
        public static final int LENGTH = 16;

        public int encodedLength() { return LENGTH; }

        public void writeTo(ByteBuf out) {
            out.writeLongLE(position);
            out.writeIntLE(length);
            out.writeIntLE(0);
        }

        public static RingFrame read(ByteBuf in) {
            exact(in, LENGTH, "RING_FRAME");
            long position = in.readLongLE();
            long length = in.readUnsignedIntLE();
            int reserved = in.readIntLE();
            if (position < 0 || length > Integer.MAX_VALUE || reserved != 0) {
                throw new ProtocolException(ErrorCode.BAD_FRAME, "RING_FRAME position " + position + ", length " + length
                        + ", reserved " + reserved + ": expected a position >= 0, a length < 2^31 and 0");
            }
            return new RingFrame(position, (int) length);
        }
    }

    /**
     * ERROR answer.
     * <pre>
     *  0      2            4
     *  +------+------------+-------------------
     *  | code | msg length | message (UTF-8)
     *  +------+------------+-------------------
     * </pre>
     */
    public record ErrorReply(ErrorCode code, String message) implements Message {
        public static final int MAX_MESSAGE_BYTES = 4096;

        public int encodedLength() { return 2 + Frames.stringLength(message, MAX_MESSAGE_BYTES); }

        public void writeTo(ByteBuf out) {
            out.writeShortLE(code.code);
            Frames.writeString(out, message, MAX_MESSAGE_BYTES);
        }

        public static ErrorReply read(ByteBuf in) {
            need(in, 4, "ERROR");
            int code = in.readUnsignedShortLE();
            int n = in.readUnsignedShortLE();
            need(in, n, "ERROR message");
            return new ErrorReply(ErrorCode.ofCode(code), in.readCharSequence(n, StandardCharsets.UTF_8).toString());
        }
    }

    /** A UTF-8 text payload (STATS answers carry JSON). */
    public record Text(String text) implements Message {
        public int encodedLength() { return text.getBytes(StandardCharsets.UTF_8).length; }

        public void writeTo(ByteBuf out) { out.writeCharSequence(text, StandardCharsets.UTF_8); }

        public static Text read(ByteBuf in) {
            return new Text(in.readCharSequence(in.readableBytes(), StandardCharsets.UTF_8).toString());
        }
    }

    private static void exact(ByteBuf in, int length, String what) {
        if (in.readableBytes() != length) {
            throw bad(what + " payload is " + in.readableBytes() + " bytes, expected " + length);
        }
    }

    private static void need(ByteBuf in, int length, String what) {
        if (in.readableBytes() < length) {
            throw bad(what + ": payload truncated, " + in.readableBytes() + " bytes left, need " + length);
        }
    }

    private static ProtocolException bad(String message) {
        return new ProtocolException(ErrorCode.BAD_FRAME, message);
    }
}
