package io.gpups.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The build's ptxas flags (property {@code gpups.ptxas.flags} of cuda-kernels/pom.xml, passed in by Surefire) fail
 * on a kernel that spills registers, and pass, with a zero spill report for every kernel, on ours. Runs nvcc: a
 * build-time check, skipped where nvcc is missing.
 */
class PtxasSpillCheckTest {

    private static final Path NVCC = Path.of("/usr/local/cuda/bin/nvcc");
    private static final Pattern SPILLS = Pattern.compile("(\\d+) bytes spill stores, (\\d+) bytes spill loads");

    private static String flags;

    @BeforeAll
    static void flagsAndNvcc() {
        Assumptions.assumeTrue(Files.isExecutable(NVCC), "nvcc not installed at " + NVCC);
        flags = System.getProperty("gpups.ptxas.flags");
        Assumptions.assumeTrue(flags != null, "run through Maven: gpups.ptxas.flags is set by cuda-kernels/pom.xml");
    }

    @Test
    void aKernelThatSpillsFailsTheBuild(@TempDir Path dir) throws Exception {
        // 48 live values under a 24-register cap: ptxas must spill.
        Path source = dir.resolve("spill.cu");
        Files.writeString(source, """
                extern "C" __global__ void spills(float* out, const float* in, int n) {
                    float acc[48];
                #pragma unroll
                    for (int j = 0; j < 48; ++j) acc[j] = in[threadIdx.x + j * n];
                    float s = 0.0f;
                #pragma unroll
                    for (int j = 0; j < 48; ++j) s += acc[j] * acc[(j * 7) % 48];
                    out[threadIdx.x] = s;
                }
                """);
        KernelImageTest.Result r = KernelImageTest.runToEnd(NVCC.toString(), "-cubin", "-arch=sm_80", "-maxrregcount=24",
                "-Xptxas=" + flags, "-o", dir.resolve("spill.cubin").toString(), source.toString());
        assertTrue(r.exitCode() != 0, "a spilling kernel must fail the build:\n" + r.output());
        assertTrue(r.output().contains("spilled"), r.output());
    }

    @Test
    void ourKernelsDoNotSpillOnEitherArchitecture(@TempDir Path dir) throws Exception {
        String include = System.getProperty("gpups.kernel.include", "src/main/cuda/include");
        for (String arch : new String[] {"sm_80", "sm_90"}) {
            String out = KernelImageTest.run(NVCC.toString(), "-cubin", "-arch=" + arch, "-Xptxas=" + flags,
                    "-I" + include, "-o", dir.resolve(arch + ".cubin").toString(), "src/main/cuda/gpups_kernels.cu");
            Matcher m = SPILLS.matcher(out);
            int reports = 0;
            while (m.find()) {
                reports++;
                assertEquals("0", m.group(1), arch + ": " + m.group());
                assertEquals("0", m.group(2), arch + ": " + m.group());
            }
            assertEquals(KernelNames.ALL.size(), reports, arch + ": one spill report per kernel in\n" + out);
        }
    }
}
