package io.gpups.cli;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shaded {@code target/gpups.jar} carries the GPU path: both device providers, JCuda with its linux natives, and
 * the kernels; and, run as users run it, {@code --device cuda} on a machine without CUDA is one line and exit code 2
 * while {@code auto} serves on the CPU. Runs in the {@code verify} phase, after the jar is built (cli/pom.xml).
 */
class ShadedJarCheck {

    private static final Path JAR = Path.of("target", "gpups.jar");

    @BeforeAll
    static void jarIsBuilt() {
        assertTrue(Files.isRegularFile(JAR), JAR.toAbsolutePath() + " missing: this check runs after package");
    }

    @Test
    void theJarCarriesTheCudaProviderJCudaAndTheKernels() throws Exception {
        try (JarFile jar = new JarFile(JAR.toFile())) {
            String services = new String(jar.getInputStream(
                    jar.getEntry("META-INF/services/io.gpups.core.device.DeviceProvider")).readAllBytes(),
                    StandardCharsets.UTF_8);
            assertTrue(services.contains("io.gpups.nativecpu.CpuDeviceProvider"), services);
            assertTrue(services.contains("io.gpups.cuda.CudaDeviceProvider"), services);
            for (String entry : List.of("io/gpups/cuda/CudaDeviceProvider.class", "io/gpups/cuda/CudaDevice.class",
                    "jcuda/driver/JCudaDriver.class", "jcuda/jcublas/JCublas2.class",
                    "lib/libJCudaDriver-12.6.0-linux-x86_64.so", "lib/libJCublas2-12.6.0-linux-x86_64.so")) {
                assertNotNull(jar.getEntry(entry), "missing " + entry);
            }
            Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/local/cuda/bin/nvcc")),
                    "nvcc missing at build time: the jar has no kernels");
            assertTrue(jar.getEntry("gpups/kernels/gpups_kernels.fatbin").getSize() > 0, "fatbin");
            assertTrue(jar.getEntry("gpups/kernels/gpups_kernels.ptx").getSize() > 0, "ptx");
        }
    }

    @Test
    void theJarCarriesTheLoadGeneratorAndTheDashboardModules() throws Exception {
        try (JarFile jar = new JarFile(JAR.toFile())) {
            for (String entry : List.of("io/gpups/loadgen/LoadGenerator.class", "io/gpups/loadgen/DeviceBandwidth.class",
                    "io/gpups/dashboard/MetricsHttpServer.class", "io/gpups/dashboard/JobDashboard.class",
                    "gpups/dashboard/index.html", "gpups/dashboard/dashboard.js", "gpups/dashboard/dashboard.css")) {
                assertNotNull(jar.getEntry(entry), "missing " + entry);
            }
        }
    }

    @Test
    void cudaWithoutADriverIsOneLineAndExitCode2() throws Exception {
        assumeNoLibcuda();
        Process p = gpups("server", "--port", "0", "--shard", "0", "--shards", "1", "--workers", "1", "--device", "cuda");
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(2, p.exitValue(), err);
        assertEquals(1, err.strip().lines().count(), err);
        assertTrue(err.startsWith("gpups server: device 'cuda' unavailable: libcuda.so.1 not found ("), err);
    }

    @Test
    void autoWithoutADriverLogsTheFallbackAndServesOnTheCpu() throws Exception {
        assumeNoLibcuda();
        Path errors = Files.createTempFile("gpups-server", ".log");
        Process p = new ProcessBuilder(command("server", "--port", "0", "--shard", "0", "--shards", "1", "--workers", "1",
                "--device", "auto")).redirectError(errors.toFile()).start();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String device = out.readLine(); // the device line first, naming why CUDA was passed over
            assertNotNull(device, "server exited before opening its device: " + Files.readString(errors));
            assertTrue(device.startsWith("gpups-device cpu (device auto: cuda unavailable (libcuda.so.1 not found"), device);
            String ready = out.readLine(); // blocks until the shard listens (or exits)
            assertNotNull(ready, "server exited before listening: " + Files.readString(errors));
            assertTrue(ready.startsWith(ServerCommand.READY), ready);
        } finally {
            p.destroy();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
        List<String> log = Files.readAllLines(errors);
        Files.delete(errors);
        assertEquals(1, log.stream().filter(l -> l.contains("device auto: cuda unavailable (libcuda.so.1 not found"))
                .count(), String.join("\n", log));
        assertTrue(log.stream().anyMatch(l -> l.contains("device cpu")), String.join("\n", log));
    }

    private static void assumeNoLibcuda() {
        Assumptions.assumeFalse(Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libcuda.so.1"))
                || Files.exists(Path.of("/usr/lib64/libcuda.so.1")), "libcuda.so.1 is installed here");
    }

    private static Process gpups(String... args) throws Exception {
        return new ProcessBuilder(command(args)).directory(new File(".")).start();
    }

    private static List<String> command(String... args) {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-jar", JAR.toString()));
        command.addAll(List.of(args));
        return command;
    }
}
