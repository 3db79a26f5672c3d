package io.gpups.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KernelResourcesTest {

    private static final Path KERNEL_SOURCE = Path.of("src/main/cuda/gpups_kernels.cu");
    private static final Pattern KERNEL_DECLARATION = Pattern.compile("extern \"C\" __global__ void (\\w+)\\(");
    private static final Pattern PTX_ENTRY = Pattern.compile("\\.entry (\\w+)\\(");

    private static void assumeKernelsBuilt() {
        Assumptions.assumeTrue(resource(KernelNames.FATBIN_RESOURCE) != null,
                "kernels not built: nvcc was missing at /usr/local/cuda/bin/nvcc during the build");
    }

    private static URL resource(String name) {
        return KernelNames.class.getClassLoader().getResource(name);
    }

    @Test
    void kernelNamesListsEveryKernelOfTheSource() throws IOException {
        List<String> declared = new ArrayList<>();
        Matcher m = KERNEL_DECLARATION.matcher(Files.readString(KERNEL_SOURCE));
        while (m.find()) {
            declared.add(m.group(1));
        }
        assertEquals(KernelNames.ALL, declared, "KernelNames.ALL must match the kernels of " + KERNEL_SOURCE);
    }

    @Test
    void fatbinAndPtxAreOnTheClassPath() throws IOException {
        assumeKernelsBuilt();
        assertTrue(read(KernelNames.FATBIN_RESOURCE).length > 0, "empty fatbin");
        assertNotNull(resource(KernelNames.PTX_RESOURCE), "fatbin built but PTX missing");
    }

    @Test
    void ptxHasAnEntryForEveryKernel() throws IOException {
        assumeKernelsBuilt();
        String ptx = new String(read(KernelNames.PTX_RESOURCE), StandardCharsets.US_ASCII);
        Set<String> entries = new LinkedHashSet<>();
        Matcher m = PTX_ENTRY.matcher(ptx);
        while (m.find()) {
            entries.add(m.group(1));
        }
        assertEquals(new LinkedHashSet<>(KernelNames.ALL), entries);
    }

    private static byte[] read(String name) throws IOException {
        try (InputStream in = KernelNames.class.getClassLoader().getResourceAsStream(name)) {
            assertNotNull(in, "missing resource " + name);
            return in.readAllBytes();
        }
    }
}
