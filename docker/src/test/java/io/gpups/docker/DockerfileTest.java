package io.gpups.docker;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** docker/Dockerfile read as text: instructions, joined over line continuations, comments dropped. */
class DockerfileTest {

    record Instruction(String keyword, String args) {}

    static List<Instruction> instructions() {
        List<Instruction> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String line : DeployFiles.read(DeployFiles.DIR.resolve("Dockerfile")).split("\n")) {
            String t = line.strip();
            if (current.isEmpty() && (t.isEmpty() || t.startsWith("#"))) {
                continue;
            }
            if (t.startsWith("#")) {
                continue;   // comment inside a continued instruction
            }
            boolean continued = t.endsWith("\\");
            current.append(continued ? t.substring(0, t.length() - 1) : t).append(' ');
            if (!continued) {
                String s = current.toString().strip();
                int sp = s.indexOf(' ');
                out.add(new Instruction(s.substring(0, sp).toUpperCase(), s.substring(sp + 1).strip()));
                current.setLength(0);
            }
        }
        return out;
    }

    static List<List<Instruction>> stages() {
        List<List<Instruction>> stages = new ArrayList<>();
        for (Instruction i : instructions()) {
            if (i.keyword().equals("FROM")) {
                stages.add(new ArrayList<>());
            }
            if (!stages.isEmpty()) {
                stages.get(stages.size() - 1).add(i);
            }
        }
        return stages;
    }

    static List<String> all(List<Instruction> stage, String keyword) {
        return stage.stream().filter(i -> i.keyword().equals(keyword)).map(Instruction::args).toList();
    }

    static String last(List<Instruction> stage, String keyword) {
        List<String> a = all(stage, keyword);
        assertFalse(a.isEmpty(), "no " + keyword);
        return a.get(a.size() - 1);
    }

    /** The numeric uid of the run stage's USER (Kubernetes' runAsNonRoot needs a number). */
    static long imageUid() {
        String user = last(stages().get(1), "USER");
        return Long.parseLong(user.split(":")[0]);
    }

    @Test
    void twoStagesCudaDevelThenCudaRuntime() {
        List<List<Instruction>> stages = stages();
        assertEquals(2, stages.size());
        String build = stages.get(0).get(0).args();
        String run = stages.get(1).get(0).args();
        assertTrue(build.matches("nvidia/cuda:\\$\\{CUDA_VERSION}-devel-\\$\\{UBUNTU_VERSION} AS build"), build);
        assertTrue(run.matches("nvidia/cuda:\\$\\{CUDA_VERSION}-runtime-\\$\\{UBUNTU_VERSION} AS runtime"), run);
        List<String> args = instructions().stream().filter(i -> i.keyword().equals("ARG")).map(Instruction::args).toList();
        assertTrue(args.contains("CUDA_VERSION=12.4.1"), "CUDA 12 on both stages: " + args);
        assertTrue(args.contains("UBUNTU_VERSION=ubuntu22.04"), args.toString());
    }

    @Test
    void buildStageRunsTheHostsBuildScriptWithJdk17AndMaven() {
        List<Instruction> build = stages().get(0);
        String install = String.join(" ", all(build, "RUN"));
        assertTrue(install.contains("openjdk-17-jdk-headless") && install.contains("maven"), install);
        assertTrue(all(build, "RUN").stream().anyMatch(r -> r.matches("(--mount=\\S+ )*scripts/build\\.sh /out")),
                "the image builds with scripts/build.sh");
        assertTrue(Files.isExecutable(DeployFiles.REPO.resolve("scripts/build.sh")));
    }

    @Test
    void runStageIsNonRootWithTheGpupsEntrypoint() {
        List<Instruction> run = stages().get(1);
        assertTrue(String.join(" ", all(run, "RUN")).contains("openjdk-17-jre-headless"));
        assertTrue(all(run, "COPY").contains("--from=build /out/gpups.jar /opt/gpups/gpups.jar"));
        String user = last(run, "USER");
        assertFalse(user.equals("root") || user.startsWith("root:") || user.equals("0") || user.startsWith("0:"), user);
        assertTrue(imageUid() > 0);
        assertEquals("[\"gpups\"]", last(run, "ENTRYPOINT"));
        assertTrue(all(run, "WORKDIR").size() >= 1);
        assertEquals(List.of("7000", "9400"), Arrays.asList(last(run, "EXPOSE").split("\\s+")));
        String health = last(run, "HEALTHCHECK");
        assertTrue(health.endsWith("CMD [\"gpups-healthcheck\"]"), health);
    }

    @Test
    void theScriptsTheImageCopiesExistAndAreExecutable() {
        Pattern copy = Pattern.compile("^(docker/\\S+) (/usr/local/bin/(\\S+))$");
        List<String> installed = new ArrayList<>();
        for (String c : all(stages().get(1), "COPY")) {
            Matcher m = copy.matcher(c);
            if (m.matches()) {
                Path src = DeployFiles.REPO.resolve(m.group(1));
                assertTrue(Files.isExecutable(src), src + " must be executable (COPY keeps the mode)");
                installed.add(m.group(3));
            }
        }
        assertEquals(List.of("gpups", "gpups-healthcheck"), installed);
        String wrapper = DeployFiles.read(DeployFiles.DIR.resolve("gpups.sh"));
        assertTrue(wrapper.contains("exec java --enable-native-access=ALL-UNNAMED"), wrapper);
        assertTrue(wrapper.contains("/opt/gpups/gpups.jar"));
    }

    @Test
    void dockerignoreKeepsBuildOutputsOutOfTheContext() {
        List<String> lines = DeployFiles.read(DeployFiles.REPO.resolve(".dockerignore")).lines().map(String::strip).toList();
        assertTrue(lines.contains("**/target"), lines.toString());
        assertTrue(lines.contains(".git"));
        assertFalse(lines.contains(".mvn"), ".mvn/maven.config is part of the build");
    }
}
