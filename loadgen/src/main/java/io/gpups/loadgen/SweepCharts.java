package io.gpups.loadgen;

import io.gpups.core.codec.Codec;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.LogarithmicAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.TextTitle;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.FieldPosition;
import java.text.NumberFormat;
import java.text.ParsePosition;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;

/**
 * The sweep's three PNG charts, drawn with JFreeChart off screen ({@code java.awt.headless}):
 * goodput vs value size against the loopback-TCP ceiling, update throughput vs shard count against one
 * shard's memory-bandwidth ceiling and the Adam kernel's own rate, and latency percentiles vs value size.
 */
public final class SweepCharts {

    public static final String GOODPUT = "goodput_vs_size.png";
    public static final String UPDATES = "updates_vs_shards.png";
    public static final String LATENCY = "latency_vs_size.png";

    private static final int WIDTH = 760;
    private static final int HEIGHT = 460;
    private static final BasicStroke CEILING_STROKE = new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER,
            10f, new float[] {6f, 4f}, 0f);
    private static final BasicStroke DASHED = new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER,
            10f, new float[] {3f, 3f}, 0f);

    private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
            new Color(0xff7f0e), new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x17becf)};

    private SweepCharts() {
    }

    /** Writes the three charts into {@code dir}; returns their paths. */
    public static List<Path> write(Path dir, List<BenchResult> results, List<LoopbackCeiling> loopback,
                                   DeviceBandwidth memory, String subtitle) throws IOException {
        System.setProperty("java.awt.headless", "true");
        Files.createDirectories(dir);
        List<Path> written = new ArrayList<>();
        written.add(save(dir.resolve(GOODPUT), goodputVsSize(results, loopback), subtitle));
        written.add(save(dir.resolve(UPDATES), updatesVsShards(results, memory), subtitle));
        written.add(save(dir.resolve(LATENCY), latencyVsSize(results), subtitle));
        return written;
    }

    private static Path save(Path file, JFreeChart chart, String subtitle) throws IOException {
        if (subtitle != null) {
            chart.addSubtitle(new TextTitle(subtitle, new Font(Font.SANS_SERIF, Font.PLAIN, 11)));
        }
        ChartUtils.saveChartAsPNG(file.toFile(), chart, WIDTH, HEIGHT);
        return file;
    }

    /** Goodput (MB/s) vs value size, one line per shard/worker/codec combination, and the loopback ceiling. */
    static JFreeChart goodputVsSize(List<BenchResult> results, List<LoopbackCeiling> loopback) {
        XYSeriesCollection data = new XYSeriesCollection();
        XYSeries ceiling = new XYSeries("loopback TCP ceiling", true, false);
        loopback.stream().sorted(Comparator.comparingInt(LoopbackCeiling::messageBytes))
                .forEach(c -> ceiling.add(c.messageBytes(), c.bytesPerSecond() / 1e6));
        if (!ceiling.isEmpty()) {
            data.addSeries(ceiling);
        }
        group(results, SweepCharts::label).forEach((name, rs) ->
                data.addSeries(series(name, rs, r -> r.settings().valueBytes(), r -> r.goodputBytesPerSecond() / 1e6)));
        XYPlot plot = plot(data, sizeAxis(), logAxis("goodput, MB/s (raw fp32 bytes per op)"));
        if (!ceiling.isEmpty()) {
            XYLineAndShapeRenderer renderer = (XYLineAndShapeRenderer) plot.getRenderer();
            renderer.setSeriesPaint(0, Color.BLACK);
            renderer.setSeriesStroke(0, CEILING_STROKE);
            renderer.setSeriesShapesVisible(0, false);
        }
        return chart("Goodput vs value size", plot);
    }

    /**
     * Updated elements per second (summed over shards) vs shard count: one line per worker count, value size and
     * codec that was run at more than one shard count (every line when none was), and one shard's ceiling, the
     * triad bandwidth over the Adam update's bytes per element.
     */
    static JFreeChart updatesVsShards(List<BenchResult> results, DeviceBandwidth memory) {
        Map<String, List<BenchResult>> groups = group(results.stream().filter(r -> r.settings().mode().pushes()).toList(),
                r -> String.format(Locale.ROOT, "%s, %s, %s", workers(r.settings().workers()),
                        bytes(r.settings().valueBytes()), r.settings().codec()));
        Map<String, List<BenchResult>> spread = new LinkedHashMap<>();
        groups.forEach((k, v) -> {
            if (v.stream().map(r -> r.settings().shards()).distinct().count() > 1) {
                spread.put(k, v);
            }
        });
        XYSeriesCollection data = new XYSeriesCollection();
        (spread.isEmpty() ? groups : spread).forEach((name, rs) ->
                data.addSeries(series(name, rs, r -> r.settings().shards(), r -> r.updateElementsPerSecond() / 1e6)));
        NumberAxis shards = new NumberAxis("shards (processes)");
        shards.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        shards.setAutoRangeIncludesZero(false);
        NumberAxis y = new NumberAxis("updated elements, millions per second");
        XYPlot plot = plot(data, shards, y);
        String optimizer = results.isEmpty() ? "the optimizer" : results.get(0).settings().optimizerName();
        if (memory != null && !results.isEmpty() && results.get(0).settings().mode().pushes()) {
            // Per element of an uncompressed update: for adam, read p, g, m, v and write p, m, v.
            double bytes = ApplyTraffic.bytesPerElement(results.get(0).settings().optimizer(), Codec.NONE, 1 << 20);
            double perShard = memory.triadBytesPerSecond() / bytes / 1e6;
            plot.addRangeMarker(marker(perShard, CEILING_STROKE, String.format(Locale.ROOT,
                    "memory ceiling of one shard: triad / %.0f B per %s update", bytes, optimizer)));
            if (optimizer.startsWith("adam")) {
                double kernel = memory.adamBytesPerSecond() / DeviceBandwidth.ADAM_BYTES_PER_ELEMENT / 1e6;
                plot.addRangeMarker(marker(kernel, DASHED, "the Adam kernel alone, one thread, in-process"));
            }
            y.setUpperBound(Math.max(y.getUpperBound(), perShard * 1.1));
        }
        return chart("Update throughput vs shards (" + optimizer + " applied on every push)", plot);
    }

    /** p50 (solid) and p99 (dashed) latency vs value size for each codec at the sweep's base shard/worker counts. */
    static JFreeChart latencyVsSize(List<BenchResult> results) {
        XYSeriesCollection data = new XYSeriesCollection();
        int shards = results.isEmpty() ? 1 : results.get(0).settings().shards();
        int workers = results.isEmpty() ? 1 : results.get(0).settings().workers();
        Map<String, List<BenchResult>> byCodec = group(results.stream()
                .filter(r -> r.settings().shards() == shards && r.settings().workers() == workers).toList(),
                r -> r.settings().codec().toString());
        byCodec.forEach((codec, rs) -> {
            data.addSeries(series("p50, " + codec, rs, r -> r.settings().valueBytes(), BenchResult::latencyP50Ms));
            data.addSeries(series("p99, " + codec, rs, r -> r.settings().valueBytes(), BenchResult::latencyP99Ms));
        });
        XYPlot plot = plot(data, sizeAxis(), logAxis("latency per operation, ms"));
        XYLineAndShapeRenderer renderer = (XYLineAndShapeRenderer) plot.getRenderer();
        for (int i = 0; i < data.getSeriesCount(); i++) {
            // p50 solid, p99 dashed, one color per codec
            renderer.setSeriesPaint(i, PALETTE[(i / 2) % PALETTE.length]);
            if (i % 2 == 1) {
                renderer.setSeriesStroke(i, DASHED);
            }
        }
        return chart(String.format(Locale.ROOT, "Latency vs value size (%s, %s)",
                shards == 1 ? "1 shard" : shards + " shards", workers(workers)), plot);
    }

    private static ValueMarker marker(double value, BasicStroke stroke, String label) {
        ValueMarker m = new ValueMarker(value, Color.BLACK, stroke);
        m.setLabel(label);
        m.setLabelFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
        m.setLabelAnchor(org.jfree.chart.ui.RectangleAnchor.TOP_LEFT);
        m.setLabelTextAnchor(org.jfree.chart.ui.TextAnchor.BOTTOM_LEFT);
        return m;
    }

    private static Map<String, List<BenchResult>> group(List<BenchResult> results, Function<BenchResult, String> key) {
        Map<String, List<BenchResult>> groups = new LinkedHashMap<>();
        for (BenchResult r : results) {
            groups.computeIfAbsent(key.apply(r), k -> new ArrayList<>()).add(r);
        }
        return groups;
    }

    private static XYSeries series(String name, List<BenchResult> rs, ToDoubleFunction<BenchResult> x,
                                   ToDoubleFunction<BenchResult> y) {
        XYSeries s = new XYSeries(name, true, false);
        for (BenchResult r : rs) {
            double v = y.applyAsDouble(r);
            if (Double.isFinite(v) && v > 0) {
                s.addOrUpdate(x.applyAsDouble(r), v);
            }
        }
        return s;
    }

    private static String label(BenchResult r) {
        int s = r.settings().shards();
        Codec c = r.settings().codec();
        return String.format(Locale.ROOT, "%s, %s, %s", s == 1 ? "1 shard" : s + " shards", workers(r.settings().workers()), c);
    }

    private static String workers(int w) {
        return w == 1 ? "1 worker" : w + " workers";
    }

    private static XYPlot plot(XYSeriesCollection data, ValueAxis x, ValueAxis y) {
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, true);
        renderer.setDefaultStroke(new BasicStroke(1.5f));
        renderer.setAutoPopulateSeriesStroke(false);
        XYPlot plot = new XYPlot(data, x, y, renderer);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        return plot;
    }

    private static JFreeChart chart(String title, XYPlot plot) {
        JFreeChart chart = new JFreeChart(title, new Font(Font.SANS_SERIF, Font.BOLD, 15), plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }

    /** A base-2 log axis of byte counts, one tick per factor of 4, labelled 4K, 16K, ... 64M. */
    private static LogAxis sizeAxis() {
        LogAxis axis = new LogAxis("value size, bytes (one float32 tensor)");
        axis.setBase(2);
        axis.setTickUnit(new NumberTickUnit(2));
        axis.setNumberFormatOverride(new BytesFormat());
        axis.setSmallestValue(1);
        return axis;
    }

    /** A log axis that labels 1, 2, 5-style ticks inside a decade when the range is narrow. */
    private static LogarithmicAxis logAxis(String label) {
        LogarithmicAxis axis = new LogarithmicAxis(label);
        axis.setStrictValuesFlag(false);
        axis.setExpTickLabelsFlag(false);
        axis.setLog10TickLabelsFlag(false);
        return axis;
    }

    /** A byte count as 4K, 16M, 1G where it is a whole number of those, else plain. */
    public static String bytes(long b) {
        if (b >= 1 << 30 && b % (1 << 30) == 0) {
            return (b >> 30) + "G";
        }
        if (b >= 1 << 20 && b % (1 << 20) == 0) {
            return (b >> 20) + "M";
        }
        if (b >= 1 << 10 && b % (1 << 10) == 0) {
            return (b >> 10) + "K";
        }
        return Long.toString(b);
    }

    /** Formats byte counts as 4K, 16M, ... for the size axis. */
    private static final class BytesFormat extends NumberFormat {
        @Override
        public StringBuffer format(double number, StringBuffer toAppendTo, FieldPosition pos) {
            return toAppendTo.append(bytes(Math.round(number)));
        }

        @Override
        public StringBuffer format(long number, StringBuffer toAppendTo, FieldPosition pos) {
            return toAppendTo.append(bytes(number));
        }

        @Override
        public Number parse(String source, ParsePosition parsePosition) {
            return null;
        }
    }
}
