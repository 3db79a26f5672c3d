package io.gpups.loadgen;

import io.gpups.core.codec.Codec;
import io.gpups.core.config.Consistency;
import io.gpups.core.device.Devices;
import io.gpups.core.optim.OptimizerSpec;

/**
 * One benchmark run, validated. Build it with {@link #conclude}, which fills the defaults that depend on other
 * settings (the window) and throws {@link IllegalArgumentException} naming the first bad flag and value.
 *
 * @param shards          shard processes
 * @param workers         closed-loop workers (threads of the bench process, one connection set each)
 * @param mode            what one operation is
 * @param valueBytes      size of the one benchmark tensor, and so of every push and pull
 * @param optimizerName   the update rule's name as given ({@code adam}, ...)
 * @param optimizer       the update rule the shards apply, with its default hyper-parameters and lr 1e-3
 * @param consistency     the job's consistency model
 * @param device          the shards' {@code --device}
 * @param seconds         length of the measured window
 * @param warmupSeconds   load before the measured window, not measured
 * @param window          operations each worker keeps in flight
 * @param loopbackSeconds length of the loopback-TCP ceiling measurement; 0 skips it
 * @param codec           how pushed gradients are encoded (push mode only); none sends fp32
 * @param transport       how workers reach the shards: loopback TCP, or shared-memory rings beside it
 */
public record BenchSettings(int shards, int workers, BenchMode mode, int valueBytes, String optimizerName,
                            OptimizerSpec optimizer, Consistency consistency, String device, double seconds,
                            double warmupSeconds, int window, double loopbackSeconds, Codec codec,
                            BenchTransport transport) {

    /** Largest value size: 1 GiB. */
    public static final long MAX_VALUE_BYTES = 1L << 30;
    /** Most shard processes one bench starts on this machine. */
    public static final int MAX_SHARDS = 64;
    /** Most worker threads. */
    public static final int MAX_WORKERS = 256;
    /** Most operations in flight per worker. */
    public static final int MAX_WINDOW = 4096;
    /** Learning rate of the benchmark tensor's optimizer; the value does not change the cost of an update. */
    public static final float LEARNING_RATE = 1e-3f;

    /**
     * Validates raw command-line values and fills the defaults.
     *
     * @param window operations in flight per worker, or {@code null} for {@link #defaultWindow}
     */
    public static BenchSettings conclude(int shards, int workers, String mode, long valueBytes, String optimizer,
                                         double seconds, double warmupSeconds, Integer window, String consistency,
                                         String device, double loopbackSeconds, String codec) {
        return conclude(shards, workers, mode, valueBytes, optimizer, seconds, warmupSeconds, window, consistency, device,
                loopbackSeconds, codec, BenchTransport.TCP.cliName());
    }

    /** As above, with workers reaching the shards over {@code transport} ({@link BenchTransport#parse}). */
    public static BenchSettings conclude(int shards, int workers, String mode, long valueBytes, String optimizer,
                                         double seconds, double warmupSeconds, Integer window, String consistency,
                                         String device, double loopbackSeconds, String codec, String transport) {
        BenchTransport t = BenchTransport.parse(transport);
        if (shards < 1 || shards > MAX_SHARDS) {
            throw new IllegalArgumentException("--shards " + shards + ": must be 1.." + MAX_SHARDS);
        }
        if (workers < 1 || workers > MAX_WORKERS) {
            throw new IllegalArgumentException("--workers " + workers + ": must be 1.." + MAX_WORKERS);
        }
        BenchMode m = BenchMode.parse(mode);
        if (valueBytes <= 0 || valueBytes % 4 != 0 || valueBytes > MAX_VALUE_BYTES) {
            throw new IllegalArgumentException("--value-bytes " + valueBytes
                    + ": must be a positive multiple of 4 (float32 values), at most " + MAX_VALUE_BYTES);
        }
        OptimizerSpec spec;
        try {
            spec = OptimizerSpec.defaults(optimizer, LEARNING_RATE);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--optimizer " + e.getMessage());
        }
        if (!(seconds > 0) || Double.isInfinite(seconds)) {
            throw new IllegalArgumentException("--seconds " + seconds + ": must be a finite number > 0");
        }
        if (!(warmupSeconds >= 0) || Double.isInfinite(warmupSeconds)) {
            throw new IllegalArgumentException("--warmup-seconds " + warmupSeconds + ": must be a finite number >= 0");
        }
        if (!(loopbackSeconds >= 0) || Double.isInfinite(loopbackSeconds)) {
            throw new IllegalArgumentException("--loopback-seconds " + loopbackSeconds + ": must be a finite number >= 0");
        }
        Consistency c;
        try {
            c = Consistency.parse(consistency);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--consistency " + e.getMessage());
        }
        try {
            Devices.DeviceSpec.parse(device);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--device " + e.getMessage());
        }
        Codec parsedCodec;
        try {
            parsedCodec = Codec.parse(codec);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--codec " + e.getMessage());
        }
        if (parsedCodec.kind() != Codec.Kind.NONE && m != BenchMode.PUSH) {
            throw new IllegalArgumentException("--codec " + parsedCodec + ": compressed gradients are benchmarked with --mode push, got --mode "
                    + m.cliName());
        }
        boolean lockStep = c.mode() == Consistency.Mode.BSP && m.pushes();
        int k;
        if (window == null) {
            k = lockStep ? 1 : defaultWindow((int) valueBytes);
        } else {
            k = window;
            if (k < 1 || k > MAX_WINDOW) {
                throw new IllegalArgumentException("--window " + k + ": must be 1.." + MAX_WINDOW);
            }
            if (lockStep && k != 1) {
                throw new IllegalArgumentException("--window " + k + ": under bsp every worker pushes step t only after"
                        + " step t-1 was applied, so --mode " + m.cliName() + " runs with window 1");
            }
        }
        return new BenchSettings(shards, workers, m, (int) valueBytes, optimizer.trim().toLowerCase(), spec, c,
                device.trim().toLowerCase(), seconds, warmupSeconds, k, loopbackSeconds, parsedCodec, t);
    }

    /**
     * Operations in flight per worker when {@code --window} is not given: enough to hide the round trip for small
     * values, few for large ones, where a couple already fill the connection and more only add memory and queueing.
     */
    public static int defaultWindow(int valueBytes) {
        if (valueBytes <= 64 << 10) {
            return 64;
        }
        return valueBytes <= 1 << 20 ? 8 : 2;
    }

    /** float32 elements of the benchmark tensor. */
    public int elements() {
        return valueBytes / 4;
    }

    /** Whether workers run in lock-step (bsp with pushes): window 1, a barrier after every step. */
    public boolean lockStep() {
        return consistency.mode() == Consistency.Mode.BSP && mode.pushes();
    }
}
