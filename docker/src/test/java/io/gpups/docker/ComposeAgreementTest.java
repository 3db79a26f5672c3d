package io.gpups.docker;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.gpups.cli.Main;
import io.gpups.core.config.Consistency;
import io.gpups.docker.DeployFiles.CommandLine;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.IntStream;

import static io.gpups.docker.DeployFiles.COMPLETION_INDEX_REF;
import static io.gpups.docker.DeployFiles.POD_INDEX_REF;
import static io.gpups.docker.DeployFiles.composeCommand;
import static io.gpups.docker.DeployFiles.composeContainerPorts;
import static io.gpups.docker.DeployFiles.expandedArgs;
import static io.gpups.docker.DeployFiles.only;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * docker/compose.yaml is well formed for a GPU node and runs the same job as docker/k8s: the same flags
 * with the same values, the same ports, the same image; every command line parses with the real gpups
 * command.
 */
class ComposeAgreementTest {

    static Map<String, Map<String, Object>> services;
    static List<String> shardServices;
    static List<String> workerServices;
    static List<HasMetadata> k8s;

    @BeforeAll
    static void load() {
        services = DeployFiles.composeServices();
        shardServices = services.keySet().stream().filter(s -> s.startsWith("shard-")).sorted().toList();
        workerServices = services.keySet().stream().filter(s -> s.startsWith("worker-")).sorted().toList();
        k8s = DeployFiles.kubernetesObjects();
    }

    static CommandLine compose(String service) {
        return CommandLine.parse(composeCommand(services.get(service)));
    }

    static Container k8sContainer(Class<? extends HasMetadata> owner) {
        HasMetadata o = only(k8s, owner);
        var pod = o instanceof StatefulSet s ? s.getSpec().getTemplate().getSpec() : ((Job) o).getSpec().getTemplate().getSpec();
        return pod.getContainers().get(0);
    }

    static CommandLine k8s(Class<? extends HasMetadata> owner) {
        return CommandLine.parse(expandedArgs(k8sContainer(owner), k8s));
    }

    @Test
    void twoShardsAndTwoWorkers() {
        assertEquals(List.of("shard-0", "shard-1"), shardServices);
        assertEquals(List.of("worker-0", "worker-1"), workerServices);
        assertEquals(4, services.size());
        for (int i = 0; i < shardServices.size(); i++) {
            CommandLine c = compose(shardServices.get(i));
            assertEquals("server", c.subcommand());
            assertEquals(String.valueOf(i), c.get("--shard"), "shard-i runs shard i");
            assertEquals(String.valueOf(shardServices.size()), c.get("--shards"));
            assertEquals(String.valueOf(workerServices.size()), c.get("--workers"));
        }
        for (int r = 0; r < workerServices.size(); r++) {
            CommandLine c = compose(workerServices.get(r));
            assertEquals("worker", c.subcommand());
            assertEquals(String.valueOf(r), c.get("--rank"), "worker-r runs rank r");
            assertEquals(String.valueOf(workerServices.size()), c.get("--workers"));
            List<String> expected = shardServices.stream().map(s -> s + ":" + compose(s).get("--port")).toList();
            assertEquals(expected, List.of(c.get("--servers").split(",")), "shard addresses in shard order");
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void everyContainerReservesAnNvidiaGpu() {
        services.forEach((name, s) -> {
            Map<String, Object> deploy = (Map<String, Object>) s.get("deploy");
            assertNotNull(deploy, name + " has no deploy section");
            var devices = (List<Map<String, Object>>) ((Map<String, Object>) ((Map<String, Object>) deploy
                    .get("resources")).get("reservations")).get("devices");
            assertEquals(1, devices.size(), name);
            Map<String, Object> d = devices.get(0);
            assertEquals("nvidia", d.get("driver"), name);
            assertEquals(List.of("gpu"), d.get("capabilities"), name);
            assertTrue(d.containsKey("device_ids") || d.containsKey("count"), name + ": device_ids or count");
        });
    }

    @Test
    @SuppressWarnings("unchecked")
    void shardsHaveHealthChecksAndWorkersWaitForThem() {
        for (String s : shardServices) {
            Map<String, Object> health = (Map<String, Object>) services.get(s).get("healthcheck");
            assertNotNull(health, s);
            assertEquals(List.of("CMD", "gpups-healthcheck"), health.get("test"), "the image's check script");
        }
        for (String w : workerServices) {
            Map<String, Object> deps = (Map<String, Object>) services.get(w).get("depends_on");
            assertEquals(new TreeSet<>(shardServices), new TreeSet<>(deps.keySet()), w);
            deps.values().forEach(d -> assertEquals("service_healthy", ((Map<String, Object>) d).get("condition"), w));
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void workersReadTheDataSetReadOnly() {
        for (String w : workerServices) {
            String data = compose(w).get("--data");
            List<String> volumes = (List<String>) services.get(w).get("volumes");
            assertEquals(List.of("/usr/share/datasets/fashion-mnist:" + data + ":ro"), volumes, w);
        }
    }

    @Test
    void portsAgreeWithKubernetes() {
        Set<Integer> shardPorts = Set.copyOf(k8sContainer(StatefulSet.class).getPorts().stream()
                .map(ContainerPort::getContainerPort).toList());
        Set<Integer> workerPorts = Set.copyOf(k8sContainer(Job.class).getPorts().stream()
                .map(ContainerPort::getContainerPort).toList());
        assertEquals(Set.of(7000, 9400), shardPorts);
        assertEquals(Set.of(9400), workerPorts);
        for (String s : shardServices) {
            assertEquals(shardPorts, Set.copyOf(composeContainerPorts(services.get(s))), s);
            assertEquals(k8s(StatefulSet.class).get("--port"), compose(s).get("--port"), s);
        }
        for (String w : workerServices) {
            assertEquals(workerPorts, Set.copyOf(composeContainerPorts(services.get(w))), w);
        }
        // Published host ports do not collide.
        List<String> published = new ArrayList<>();
        services.values().forEach(s -> ((List<?>) s.get("ports")).forEach(p -> published.add(String.valueOf(p).split(":")[0])));
        assertEquals(published.size(), Set.copyOf(published).size(), published.toString());
    }

    @Test
    void shardsListenOnEveryInterfaceOfTheirContainer() {
        // A shard binds 127.0.0.1 unless told otherwise: in a container nobody else could reach it.
        for (String s : shardServices) {
            assertEquals("0.0.0.0", compose(s).get("--bind"), s + " --bind");
        }
        assertEquals("0.0.0.0", k8s(StatefulSet.class).get("--bind"), "the StatefulSet's --bind");
    }

    @Test
    void shardFlagsAgreeWithKubernetes() {
        CommandLine k = k8s(StatefulSet.class);
        for (String s : shardServices) {
            CommandLine c = compose(s);
            assertEquals(k.flags().keySet(), c.flags().keySet(), s + " and the StatefulSet name the same flags");
            c.flags().forEach((flag, value) -> {
                if (flag.equals("--shard")) {
                    assertEquals(POD_INDEX_REF, k.get(flag));
                } else {
                    assertEquals(k.get(flag), value, s + " " + flag);
                }
            });
        }
    }

    @Test
    void workerFlagsAgreeWithKubernetes() {
        CommandLine k = k8s(Job.class);
        String svc = only(k8s, StatefulSet.class).getSpec().getServiceName();
        for (String w : workerServices) {
            CommandLine c = compose(w);
            assertEquals(k.flags().keySet(), c.flags().keySet(), w + " and the Job name the same flags");
            c.flags().forEach((flag, value) -> {
                switch (flag) {
                    case "--rank" -> assertEquals(COMPLETION_INDEX_REF, k.get(flag));
                    case "--servers" -> {
                        // Same shard count and ports; the host names are each engine's own.
                        List<String> ks = List.of(k.get(flag).split(","));
                        List<String> cs = List.of(value.split(","));
                        assertEquals(cs.size(), ks.size());
                        for (int i = 0; i < cs.size(); i++) {
                            assertEquals(cs.get(i).substring(cs.get(i).lastIndexOf(':')),
                                    ks.get(i).substring(ks.get(i).lastIndexOf(':')));
                            assertEquals("gpups-server-" + i + "." + svc, ks.get(i).substring(0, ks.get(i).lastIndexOf(':')));
                        }
                    }
                    default -> assertEquals(k.get(flag), value, w + " " + flag);
                }
            });
        }
    }

    @Test
    void imageAgreesWithKubernetes() {
        String image = k8sContainer(StatefulSet.class).getImage();
        services.forEach((name, s) -> assertEquals(image, s.get("image"), name));
        services.forEach((name, s) -> assertTrue(String.valueOf(s.get("build")).contains("docker/Dockerfile"), name));
    }

    @Test
    void everyCommandLineParsesWithTheGpupsCommand() {
        List<List<String>> lines = new ArrayList<>();
        services.values().forEach(s -> lines.add(composeCommand(s)));
        for (Class<? extends HasMetadata> owner : List.of(StatefulSet.class, Job.class)) {
            // Indexes come from the downward API at run time; any index parses the same.
            lines.add(expandedArgs(k8sContainer(owner), k8s).stream()
                    .map(a -> a.startsWith("fieldRef:") ? "0" : a).toList());
        }
        for (List<String> args : lines) {
            var cli = new picocli.CommandLine(new Main());
            assertDoesNotThrow(() -> cli.parseArgs(args.toArray(String[]::new)), String.join(" ", args));
            CommandLine c = CommandLine.parse(args);
            if (c.flags().containsKey("--consistency")) {
                assertDoesNotThrow(() -> Consistency.parse(c.get("--consistency")), c.get("--consistency"));
            }
        }
        assertEquals(services.size() + 2, lines.size());
    }

    @Test
    void jobSettingsMatchTheConfigMap() {
        Map<String, String> data = only(k8s, ConfigMap.class).getData();
        assertEquals(String.valueOf(shardServices.size()), data.get("SHARDS"));
        assertEquals(String.valueOf(workerServices.size()), data.get("WORKERS"));
        IntStream.range(0, shardServices.size()).forEach(i -> assertTrue(
                data.get("SERVERS").contains("gpups-server-" + i + ".")));
    }
}
