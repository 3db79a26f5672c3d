package io.gpups.core.codec;

/**
 * Which elements a randomk payload carries, derived on both ends from a seed so that no index crosses the
 * wire: element j of the payload belongs to index {@code (start + j * stride) mod n}. The stride is
 * coprime to n, so the k indices are distinct; start and stride are random per (tensor, chunk, step,
 * worker), so every element is picked equally often over the steps.
 */
public record RandomKSelection(int n, int k, long start, long stride) {

    /** The selection for a chunk of {@code n} elements sending {@code k} of them. */
    public static RandomKSelection of(long seed, int n, int k) {
        if (n <= 0 || k <= 0 || k > n) {
            throw new IllegalArgumentException("randomk needs 0 < k <= n, got k=" + k + ", n=" + n);
        }
        long h1 = mix(seed);
        long h2 = mix(h1 ^ 0x632BE59BD9B4E019L);
        long start = Long.remainderUnsigned(h1, n);
        long stride = n == 1 ? 1 : 1 + Long.remainderUnsigned(h2, n - 1);
        while (gcd(stride, n) != 1) {
            stride = stride % n + 1;
        }
        return new RandomKSelection(n, k, start, stride);
    }

    public long index(int j) {
        return (start + (long) j * stride) % n;
    }

    /**
     * The seed of a chunk's selection: the tensor (by name, so it does not depend on which shard numbered
     * it), the chunk, the step and the worker.
     */
    public static long seed(String tensor, int chunk, long step, int rank) {
        long h = 0xCBF29CE484222325L;
        for (int i = 0; i < tensor.length(); i++) {
            h = (h ^ tensor.charAt(i)) * 0x100000001B3L;
        }
        return mix(mix(mix(h ^ chunk) ^ step) ^ rank);
    }

    /** SplitMix64's finalizer. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static long gcd(long a, long b) {
        while (b != 0) {
            long t = a % b;
            a = b;
            b = t;
        }
        return a;
    }
}
