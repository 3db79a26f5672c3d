package io.gpups.bench;

import org.junit.jupiter.api.Test;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The benchmarks compile and run, without measuring anything: every {@code @Benchmark} method is called once
 * for the first value of each {@code @Param}, between its {@code @Setup} and {@code @TearDown}; and one
 * benchmark goes through JMH's own runner (in this JVM, one short iteration) so the generated harness is
 * known to work. Timing belongs to {@code java -jar bench/target/benchmarks.jar}, not to the build.
 */
class BenchmarksSmokeTest {

    private static final List<Class<?>> BENCHMARKS = List.of(FrameCodecBenchmark.class, PartitionerBenchmark.class,
            DeviceOpsBenchmark.class, CodecBenchmark.class);

    @Test
    void everyBenchmarkMethodRunsOnce() throws Exception {
        List<String> ran = new ArrayList<>();
        for (Class<?> type : BENCHMARKS) {
            Object state = type.getConstructor().newInstance();
            for (Field f : type.getFields()) {
                Param p = f.getAnnotation(Param.class);
                if (p != null) {
                    String first = p.value()[0];
                    f.set(state, f.getType() == int.class ? Integer.parseInt(first) : first);
                }
            }
            invokeAnnotated(state, Setup.class);
            try {
                for (Method m : type.getMethods()) {
                    if (m.isAnnotationPresent(Benchmark.class)) {
                        m.invoke(state);
                        ran.add(type.getSimpleName() + "." + m.getName());
                    }
                }
            } finally {
                invokeAnnotated(state, TearDown.class);
            }
        }
        assertTrue(ran.contains("DeviceOpsBenchmark.adamApply"), ran.toString());
        assertTrue(ran.contains("DeviceOpsBenchmark.gemm256x784x256"), ran.toString());
        assertTrue(ran.contains("FrameCodecBenchmark.decodePush"), ran.toString());
        assertTrue(ran.contains("CodecBenchmark.encode"), ran.toString());
        assertTrue(ran.contains("PartitionerBenchmark.place"), ran.toString());
    }

    @Test
    void jmhRunsOneBenchmarkThroughItsHarness() throws Exception {
        Options options = new OptionsBuilder()
                .include(PartitionerBenchmark.class.getName() + ".place")
                .param("model", "mlp")
                .param("shards", "2")
                .forks(0)
                .warmupIterations(0)
                .measurementIterations(1)
                .measurementTime(TimeValue.milliseconds(100))
                .shouldFailOnError(true)
                .build();
        Collection<RunResult> results = new Runner(options).run();
        assertEquals(1, results.size());
        RunResult r = results.iterator().next();
        assertFalse(Double.isNaN(r.getPrimaryResult().getScore()));
        assertTrue(r.getPrimaryResult().getScore() > 0, "" + r.getPrimaryResult());
    }

    private static void invokeAnnotated(Object state, Class<? extends java.lang.annotation.Annotation> annotation)
            throws Exception {
        for (Method m : state.getClass().getMethods()) {
            if (m.isAnnotationPresent(annotation)) {
                m.invoke(state);
            }
        }
    }
}
