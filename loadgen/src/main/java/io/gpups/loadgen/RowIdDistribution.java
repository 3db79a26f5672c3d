package io.gpups.loadgen;

import io.gpups.core.table.RowIds;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Which ids a rows benchmark asks for: rank k of {@code rows} ranks (1-based) drawn uniformly or by a Zipf law of
 * exponent s (rank k with weight k^-s), mapped to the id {@code RowIds.mix(k)} so that hot ids spread over shards
 * and buckets. Zipf ranks are drawn exactly by rejection-inversion (Hörmann and Derflinger, "Rejection-inversion to
 * generate variates from monotone discrete distributions", 1996), in O(1) per draw for any number of ranks.
 */
public final class RowIdDistribution {

    private final long rows;
    /** 0 for uniform. */
    private final double exponent;
    private final double hIntegralX1;
    private final double hIntegralN;
    private final double s;

    private RowIdDistribution(long rows, double exponent) {
        this.rows = rows;
        this.exponent = exponent;
        if (exponent > 0) {
            hIntegralX1 = hIntegral(1.5) - 1.0;
            hIntegralN = hIntegral(rows + 0.5);
            s = 2.0 - hIntegralInverse(hIntegral(2.5) - h(2.0));
        } else {
            hIntegralX1 = hIntegralN = s = 0;
        }
    }

    /** {@code uniform} or {@code zipf:S} (S > 0) over {@code rows} ranks. */
    public static RowIdDistribution parse(String text, long rows) {
        if (rows < 1) {
            throw new IllegalArgumentException("--table-rows " + rows + ": must be >= 1");
        }
        String t = text.trim().toLowerCase(Locale.ROOT);
        if (t.equals("uniform")) {
            return new RowIdDistribution(rows, 0);
        }
        if (t.startsWith("zipf:")) {
            double e;
            try {
                e = Double.parseDouble(t.substring(5));
            } catch (NumberFormatException ex) {
                e = Double.NaN;
            }
            if (!(e > 0) || e > 10) {
                throw new IllegalArgumentException("--ids " + text + ": the Zipf exponent must be a number in (0, 10]");
            }
            return new RowIdDistribution(rows, e);
        }
        throw new IllegalArgumentException("--ids " + text + ": expected uniform or zipf:S (for example zipf:1.1)");
    }

    public long rows() {
        return rows;
    }

    @Override
    public String toString() {
        return exponent > 0 ? "zipf:" + exponent : "uniform";
    }

    /** The id of rank {@code k} (1-based). */
    public static long idOfRank(long k) {
        return RowIds.mix(k);
    }

    /** One rank, 1..rows. */
    public long nextRank(SplittableRandom random) {
        if (exponent <= 0) {
            return 1 + random.nextLong(rows);
        }
        while (true) {
            double u = hIntegralN + random.nextDouble() * (hIntegralX1 - hIntegralN);
            double x = hIntegralInverse(u);
            long k = (long) (x + 0.5);
            if (k < 1) {
                k = 1;
            } else if (k > rows) {
                k = rows;
            }
            if (k - x <= s || u >= hIntegral(k + 0.5) - h(k)) {
                return k;
            }
        }
    }

    /** One id. */
    public long next(SplittableRandom random) {
        return idOfRank(nextRank(random));
    }

    private double h(double x) {
        return Math.exp(-exponent * Math.log(x));
    }

    private double hIntegral(double x) {
        double logX = Math.log(x);
        return helper2((1.0 - exponent) * logX) * logX;
    }

    private double hIntegralInverse(double x) {
        double t = x * (1.0 - exponent);
        if (t < -1.0) {
            t = -1.0;
        }
        return Math.exp(helper1(t) * x);
    }

    /** log1p(x) / x, accurate near 0. */
    private static double helper1(double x) {
        return Math.abs(x) > 1e-8 ? Math.log1p(x) / x : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
    }

    /** expm1(x) / x, accurate near 0. */
    private static double helper2(double x) {
        return Math.abs(x) > 1e-8 ? Math.expm1(x) / x : 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
    }
}
