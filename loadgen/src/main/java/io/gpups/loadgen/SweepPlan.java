package io.gpups.loadgen;

import io.gpups.core.codec.Codec;
import io.gpups.core.tensor.ChunkLayout;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The points of {@code gpups bench --sweep}. The full grid (sizes x shard counts x worker counts x codecs, 128
 * points with the defaults) takes half an hour of short points on a small machine, so by default the sweep
 * walks three lines through it that answer the three charts' questions:
 * <ol>
 *   <li>size: every value size with the first shard count, worker count and codec (goodput and latency vs size);</li>
 *   <li>scaling: every shard count x worker count at each size of at least two chunks (updates/s vs shards; a
 *   value of one chunk lives on one shard, so smaller sizes cannot spread), or the largest size if none is;</li>
 *   <li>codecs: every other codec at every size, with the first shard and worker counts.</li>
 * </ol>
 * {@code full} takes the whole grid instead. Points are unique and in that order.
 *
 * @param sizes   value sizes in bytes
 * @param shards  shard counts
 * @param workers worker counts
 * @param codecs  codecs, the first being the baseline (normally none)
 * @param full    the whole grid instead of the three lines
 */
public record SweepPlan(List<Integer> sizes, List<Integer> shards, List<Integer> workers, List<Codec> codecs,
                        boolean full) {

    /** 4 KiB to 64 MiB in powers of 4. */
    public static final String DEFAULT_SIZES = "4096,16384,65536,262144,1048576,4194304,16777216,67108864";
    public static final String DEFAULT_SHARDS = "1,2";
    public static final String DEFAULT_WORKERS = "1,2";
    public static final String DEFAULT_CODECS = "none,int8,topk:0.01,sign";

    /** One point of the sweep. */
    public record Point(int valueBytes, int shards, int workers, Codec codec) {
    }

    public SweepPlan {
        sizes = List.copyOf(sizes);
        shards = List.copyOf(shards);
        workers = List.copyOf(workers);
        codecs = List.copyOf(codecs);
    }

    /** Parses the four lists, naming the flag and the bad entry in any error. */
    public static SweepPlan parse(String sizes, String shards, String workers, String codecs, boolean full) {
        return new SweepPlan(parseSizes(sizes), parseCounts("--sweep-shards", shards, BenchSettings.MAX_SHARDS),
                parseCounts("--sweep-workers", workers, BenchSettings.MAX_WORKERS), parseCodecs(codecs), full);
    }

    /** The points, unique, in the order described above. */
    public List<Point> points() {
        Map<Point, Boolean> points = new LinkedHashMap<>();
        if (full) {
            for (Codec c : codecs) {
                for (int size : sizes) {
                    for (int s : shards) {
                        for (int w : workers) {
                            points.put(new Point(size, s, w, c), true);
                        }
                    }
                }
            }
            return List.copyOf(points.keySet());
        }
        int s0 = shards.get(0);
        int w0 = workers.get(0);
        Codec c0 = codecs.get(0);
        for (int size : sizes) {
            points.put(new Point(size, s0, w0, c0), true);
        }
        for (int size : scalingSizes()) {
            for (int s : shards) {
                for (int w : workers) {
                    points.put(new Point(size, s, w, c0), true);
                }
            }
        }
        for (Codec c : codecs.subList(1, codecs.size())) {
            for (int size : sizes) {
                points.put(new Point(size, s0, w0, c), true);
            }
        }
        return List.copyOf(points.keySet());
    }

    /** Sizes of at least two chunks, or the largest size when none is. */
    List<Integer> scalingSizes() {
        List<Integer> multiChunk = sizes.stream().filter(s -> s >= 2 * ChunkLayout.DEFAULT_CHUNK_BYTES).toList();
        return multiChunk.isEmpty() ? List.of(sizes.stream().max(Integer::compare).orElseThrow()) : multiChunk;
    }

    /** Byte counts, with an optional K/KiB/M/MiB/G/GiB suffix (powers of 1024). */
    static List<Integer> parseSizes(String text) {
        List<Integer> out = new ArrayList<>();
        for (String item : items("--sweep-sizes", text)) {
            long v = parseBytes(item);
            if (v <= 0 || v % 4 != 0 || v > BenchSettings.MAX_VALUE_BYTES) {
                throw new IllegalArgumentException("--sweep-sizes '" + item + "': every size must be a positive multiple "
                        + "of 4 bytes (float32 values), at most " + BenchSettings.MAX_VALUE_BYTES);
            }
            out.add((int) v);
        }
        return out;
    }

    private static long parseBytes(String item) {
        String s = item.toLowerCase(Locale.ROOT);
        long unit = 1;
        for (String[] suffix : new String[][] {{"kib", "1024"}, {"mib", "1048576"}, {"gib", "1073741824"},
                {"k", "1024"}, {"m", "1048576"}, {"g", "1073741824"}}) {
            if (s.endsWith(suffix[0])) {
                unit = Long.parseLong(suffix[1]);
                s = s.substring(0, s.length() - suffix[0].length());
                break;
            }
        }
        try {
            return Math.multiplyExact(Long.parseLong(s.trim()), unit);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("--sweep-sizes '" + item + "': expected a byte count such as 4096, 64KiB or 16MiB");
        }
    }

    static List<Integer> parseCounts(String flag, String text, int max) {
        List<Integer> out = new ArrayList<>();
        for (String item : items(flag, text)) {
            int v;
            try {
                v = Integer.parseInt(item);
            } catch (NumberFormatException e) {
                v = -1;
            }
            if (v < 1 || v > max) {
                throw new IllegalArgumentException(flag + " '" + item + "': every entry must be an integer 1.." + max);
            }
            out.add(v);
        }
        return out;
    }

    static List<Codec> parseCodecs(String text) {
        List<Codec> out = new ArrayList<>();
        for (String item : items("--sweep-codecs", text)) {
            try {
                out.add(Codec.parse(item));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--sweep-codecs " + e.getMessage());
            }
        }
        return out;
    }

    private static List<String> items(String flag, String text) {
        List<String> out = new ArrayList<>();
        for (String item : (text == null ? "" : text).split(",")) {
            if (!item.isBlank()) {
                out.add(item.trim());
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(flag + " '" + text + "': expected a comma-separated list with at least one entry");
        }
        return out;
    }
}
