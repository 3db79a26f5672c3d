package io.gpups.dashboard;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.internal.PlatformDependent;

/**
 * One process's Prometheus registry (created per process and passed to whoever records, never a global
 * one), with JVM meters (memory, GC, threads, classes, CPU, uptime) and Netty's direct memory:
 * <pre>
 * gpups_netty_direct_memory_bytes         direct memory Netty has allocated (PlatformDependent counter;
 *                                         -1 where Netty does not track it)
 * gpups_netty_pooled_direct_memory_bytes  direct memory held by the default pooled allocator's arenas
 * </pre>
 * Every meter carries the process's {@code role} (server or worker) and, for workers, {@code rank};
 * a shard's own meters carry {@code shard}.
 */
public final class ProcessMetrics implements AutoCloseable {

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final JvmGcMetrics gc = new JvmGcMetrics();

    /** {@code tags}: key, value pairs every meter of this process carries, e.g. "role", "worker", "rank", "0". */
    public ProcessMetrics(String... tags) {
        registry.config().commonTags(tags);
        new JvmMemoryMetrics().bindTo(registry);
        gc.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        Gauge.builder("gpups.netty.direct.memory", PlatformDependent::usedDirectMemory).baseUnit("bytes")
                .description("Direct memory allocated by Netty (-1 when Netty does not track it)").register(registry);
        Gauge.builder("gpups.netty.pooled.direct.memory", () -> PooledByteBufAllocator.DEFAULT.metric().usedDirectMemory())
                .baseUnit("bytes").description("Direct memory held by Netty's default pooled allocator").register(registry);
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    @Override
    public void close() {
        gc.close();
        registry.close();
    }
}
