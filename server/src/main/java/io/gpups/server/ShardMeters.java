package io.gpups.server;

import io.gpups.server.metrics.ShardEventRecorder;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;

import java.util.function.ToDoubleFunction;

/**
 * Publishes a shard's {@link ShardCounters} to a Micrometer registry. The counters stay the agent thread's
 * own (a single writer, volatile fields); the meters here only read them when scraped, so the agent's hot
 * path gains no lock and no allocation. Distributions (apply latency, staleness) go through
 * {@link ShardEventRecorder}. Package-private because it reads the agent's package-private state.
 */
final class ShardMeters {

    private ShardMeters() {
    }

    static void bind(MeterRegistry registry, Tags tags, ShardAgent agent) {
        ShardCounters c = agent.counters;
        counter(registry, tags, "gpups.pushes", null, "Gradient pushes received (one per chunk)", c, x -> x.pushes);
        counter(registry, tags, "gpups.duplicate.pushes", null, "Pushes answered without applying (retries)", c,
                x -> x.duplicatePushes);
        counter(registry, tags, "gpups.pulls", null, "Pulls received (PUSH_PULL not included)", c, x -> x.pulls);
        counter(registry, tags.and("encoding", "wire"), "gpups.push", "bytes",
                "Gradient payload bytes received, as encoded on the wire (wire) and as the same values in fp32 (raw)", c,
                x -> x.bytesPushed);
        counter(registry, tags.and("encoding", "raw"), "gpups.push", "bytes",
                "Gradient payload bytes received, as encoded on the wire (wire) and as the same values in fp32 (raw)", c,
                x -> x.rawBytesPushed);
        counter(registry, tags, "gpups.pull", "bytes", "Parameter bytes sent in answers to pulls", c, x -> x.bytesPulled);
        counter(registry, tags, "gpups.updates", null, "Optimizer updates applied to chunks", c, x -> x.updates);
        counter(registry, tags, "gpups.elements.updated", null, "Parameter elements updated by the optimizer", c,
                x -> x.elementsUpdated);
        counter(registry, tags, "gpups.errors", null, "Requests the agent answered with ERROR", c, x -> x.errors);
        counter(registry, tags, "gpups.checkpoint.failures", null,
                "Checkpoint writes that failed, or whose files did not read back complete", c, x -> x.checkpointFailures.get());
        counter(registry, tags, "gpups.nonfinite.pushes", null,
                "Pushes whose decoded gradient held NaN or infinite values (handled as --nonfinite says)", c,
                x -> x.nonFinitePushes);
        counter(registry, tags, "gpups.nonfinite.values", null,
                "NaN or infinite gradient values received; none reached parameters, optimizer state or sums", c,
                x -> x.nonFiniteValues);
        counter(registry, tags, "gpups.workers.dropped", null, "Workers dropped after the heartbeat timeout (any consistency mode)", c,
                x -> x.workersDropped);
        counter(registry, tags, "gpups.workers.rejoined", null, "Dropped workers admitted again", c, x -> x.workersRejoined);
        Gauge.builder("gpups.queue.depth", agent, ShardAgent::queueDepth)
                .description("Tasks waiting in the shard agent's queue").tags(tags).register(registry);
        Gauge.builder("gpups.pulls.parked", c, x -> x.parkedPulls)
                .description("Pulls parked now, waiting for a version (bsp) or the slowest clock (ssp)").tags(tags).register(registry);
        Gauge.builder("gpups.device.memory", c, x -> x.deviceBytes).baseUnit("bytes")
                .description("Device memory held by the shard's chunks: parameters, optimizer slots, bsp sums")
                .tags(tags).register(registry);
        c.events = new ShardEventRecorder(registry, tags);
    }

    private static void counter(MeterRegistry registry, Tags tags, String name, String unit, String description,
                                ShardCounters c, ToDoubleFunction<ShardCounters> read) {
        FunctionCounter.builder(name, c, read).baseUnit(unit).description(description).tags(tags).register(registry);
    }
}
