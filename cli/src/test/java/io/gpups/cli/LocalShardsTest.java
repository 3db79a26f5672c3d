package io.gpups.cli;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LocalShardsTest {

    private static String cpuThreads(List<String> options) {
        String prefix = "-D" + LocalShards.CPU_THREADS_PROPERTY + "=";
        return options.stream().filter(o -> o.startsWith(prefix)).map(o -> o.substring(prefix.length()))
                .findFirst().orElse(null);
    }

    @Test
    void coLocatedShardsSplitTheCoresBetweenThem() {
        assertEquals("8", cpuThreads(LocalShards.jvmOptions(1, 8)));
        assertEquals("4", cpuThreads(LocalShards.jvmOptions(2, 8)));
        assertEquals("2", cpuThreads(LocalShards.jvmOptions(3, 8)));
        assertEquals("1", cpuThreads(LocalShards.jvmOptions(2, 2)));
        assertEquals("1", cpuThreads(LocalShards.jvmOptions(4, 2)), "never fewer than one");
    }

    @Test
    void aThreadCountGivenToTheCommandIsLeftToReachTheShards() {
        String old = System.getProperty(LocalShards.CPU_THREADS_PROPERTY);
        System.setProperty(LocalShards.CPU_THREADS_PROPERTY, "3");
        try {
            List<String> options = LocalShards.jvmOptions(2, 8);
            assertEquals(null, cpuThreads(options), "ChildProcesses passes -Dgpups.cpu.threads=3 itself");
            assertTrue(options.contains("-Xmx2g"));
        } finally {
            if (old == null) {
                System.clearProperty(LocalShards.CPU_THREADS_PROPERTY);
            } else {
                System.setProperty(LocalShards.CPU_THREADS_PROPERTY, old);
            }
        }
    }

    @Test
    void theShardCountIsReadFromTheShardsOwnArguments() {
        List<String> args = LocalShards.shardArgs(1, 0, 3, 2, "asp", "cpu", List.of());
        assertEquals(3, LocalShards.shardCount(args));
    }
}
