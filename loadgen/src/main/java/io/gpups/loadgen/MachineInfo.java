package io.gpups.loadgen;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The machine a benchmark ran on, as far as the JVM and {@code /proc/cpuinfo} tell.
 *
 * @param cpuModel     the first {@code model name} of /proc/cpuinfo, or {@code unknown}
 * @param logicalCpus  processors available to the JVM
 * @param memoryBytes  physical memory, or -1 when the JVM cannot say
 */
public record MachineInfo(String cpuModel, int logicalCpus, long memoryBytes, String os, String java) {

    public static MachineInfo current() {
        String model = "unknown";
        try {
            model = Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
                    .filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim())
                    .findFirst().orElse(model);
        } catch (IOException | RuntimeException e) {
            // not Linux, or not readable: the model stays unknown
        }
        long memory = -1;
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            memory = os.getTotalMemorySize();
        }
        return new MachineInfo(model, Runtime.getRuntime().availableProcessors(), memory,
                System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"),
                System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
    }

    /**
     * The 1-minute load average from /proc/loadavg, or -1: on a shared virtual machine other tenants' work shows
     * up here and in the results, so a sweep records it at its start and end.
     */
    public static double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+")[0]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    public ObjectNode toJson(ObjectMapper json) {
        ObjectNode o = json.createObjectNode();
        o.put("cpu_model", cpuModel);
        o.put("logical_cpus", logicalCpus);
        o.put("memory_bytes", memoryBytes);
        o.put("os", os);
        o.put("java", java);
        return o;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s, %d logical CPU(s), %.1f GiB memory, %s, %s", cpuModel, logicalCpus,
                memoryBytes / (double) (1L << 30), os, java);
    }
}
