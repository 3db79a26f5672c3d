package io.gpups.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the built kernel images hold, read without a GPU: architectures of the fatbin, the toolkit of the PTX. */
class KernelImageTest {

    private static byte[] fatbin() {
        byte[] bytes = KernelImage.resource(KernelNames.FATBIN_RESOURCE);
        Assumptions.assumeTrue(bytes != null, "kernels not built: nvcc was missing at /usr/local/cuda/bin/nvcc");
        return bytes;
    }

    @Test
    void theFatbinHasSassForSm80AndSm90AndPtxForCompute80() {
        List<KernelImage.Entry> entries = KernelImage.entries(fatbin());
        assertEquals(Set.of(new KernelImage.Entry(false, 80), new KernelImage.Entry(false, 90),
                new KernelImage.Entry(true, 80)), new HashSet<>(entries), "fatbin entries " + entries);
        assertEquals(3, entries.size(), "fatbin entries " + entries);
    }

    /** Where cuobjdump is installed (it is not part of every CUDA install), it must list what the parser reads. */
    @Test
    void cuobjdumpAgreesWithTheParser() throws Exception {
        Path cuobjdump = Path.of("/usr/local/cuda/bin/cuobjdump");
        Assumptions.assumeTrue(Files.isExecutable(cuobjdump), "cuobjdump not installed at " + cuobjdump);
        Path file = Files.createTempFile("gpups", ".fatbin");
        try {
            Files.write(file, fatbin());
            Set<KernelImage.Entry> listed = new HashSet<>();
            for (String option : List.of("--list-elf", "--list-ptx")) {
                Matcher m = Pattern.compile("sm_(\\d+)").matcher(run(cuobjdump.toString(), option, file.toString()));
                while (m.find()) {
                    listed.add(new KernelImage.Entry(option.equals("--list-ptx"), Integer.parseInt(m.group(1))));
                }
            }
            assertEquals(new HashSet<>(KernelImage.entries(fatbin())), listed);
        } finally {
            Files.delete(file);
        }
    }

    @Test
    void thePtxNamesTheNvccThatBuiltIt() throws Exception {
        String ptx = KernelImage.ptx();
        Assumptions.assumeTrue(ptx != null, "kernels not built");
        int version = KernelImage.toolkitVersion(ptx);
        assertTrue(version >= 12000, "toolkit version " + version);
        Path nvcc = Path.of("/usr/local/cuda/bin/nvcc");
        if (Files.isExecutable(nvcc)) {
            Matcher m = Pattern.compile("release (\\d+)\\.(\\d+)").matcher(run(nvcc.toString(), "--version"));
            assertTrue(m.find());
            assertEquals(Integer.parseInt(m.group(1)) * 1000 + Integer.parseInt(m.group(2)) * 10, version);
        }
        assertEquals(-1, KernelImage.toolkitVersion(".version 9.0\n.target sm_80\n"));
        assertEquals("12.4", KernelImage.versionString(12040));
    }

    @Test
    void malformedFatbinsAreRefusedNamingTheProblem() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> KernelImage.entries(new byte[8]))
                .getMessage().contains("not a fatbin"));
        byte[] truncated = Arrays.copyOf(fatbin(), 100);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> KernelImage.entries(truncated))
                .getMessage().contains("claims"));
        ByteBuffer unknownKind = ByteBuffer.allocate(16 + 64).order(ByteOrder.LITTLE_ENDIAN);
        unknownKind.putInt(0, KernelImage.FATBIN_MAGIC).putShort(4, (short) 1).putShort(6, (short) 16).putLong(8, 64);
        unknownKind.putShort(16, (short) 7).putInt(20, 64);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> KernelImage.entries(unknownKind.array()))
                .getMessage().contains("unknown kind 7"));
    }

    /** The output of {@code command}, which must succeed: a tool that fails is a failed test, not an empty listing. */
    static String run(String... command) throws IOException, InterruptedException {
        Result r = runToEnd(command);
        assertEquals(0, r.exitCode(), String.join(" ", command) + " failed:\n" + r.output());
        return r.output();
    }

    /** How a command ended: its exit code and its output (stdout and stderr together). */
    record Result(int exitCode, String output) {
    }

    /** Runs {@code command} to its end, whatever its exit code (for commands that must fail). */
    static Result runToEnd(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), String.join(" ", command) + " did not finish");
        return new Result(p.exitValue(), out);
    }
}
