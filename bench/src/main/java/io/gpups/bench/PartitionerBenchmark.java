package io.gpups.bench;

import io.gpups.core.optim.OptimizerSpec;
import io.gpups.core.tensor.ChunkLayout;
import io.gpups.core.tensor.Initializer;
import io.gpups.core.tensor.Partitioner;
import io.gpups.core.tensor.TensorSpec;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@link Partitioner#place}: what every worker and shard computes once per job. Two tensor lists: the MLP that
 * {@code gpups local} trains (784-256-128-10, 6 tensors) and a transformer-sized list (200 tensors of 1M to 16M
 * elements, 1.2 G parameters, about 1200 chunks of 4 MiB).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class PartitionerBenchmark {

    @Param({"mlp", "large"})
    public String model;

    @Param({"2", "8"})
    public int shards;

    private List<TensorSpec> tensors;

    @Setup(Level.Trial)
    public void setUp() {
        OptimizerSpec adam = new OptimizerSpec.Adam(1e-3f, 0.9f, 0.999f, 1e-8f, 0f);
        tensors = new ArrayList<>();
        if (model.equals("mlp")) {
            long[][] shapes = {{784, 256}, {256}, {256, 128}, {128}, {128, 10}, {10}};
            for (int i = 0; i < shapes.length; i++) {
                tensors.add(new TensorSpec("mlp/" + i, shapes[i], Initializer.zeros(), adam));
            }
        } else {
            for (int i = 0; i < 200; i++) {
                long elements = (1L << 20) << (i % 5);
                tensors.add(new TensorSpec("layer" + i + "/w", new long[] {elements}, Initializer.zeros(), adam));
            }
        }
    }

    @Benchmark
    public Partitioner.Placement place() {
        return Partitioner.place(tensors, shards, ChunkLayout.DEFAULT_CHUNK_BYTES);
    }
}
