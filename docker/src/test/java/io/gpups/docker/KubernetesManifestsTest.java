package io.gpups.docker;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSecurityContext;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.gpups.docker.DeployFiles.CommandLine;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static io.gpups.docker.DeployFiles.COMPLETION_INDEX_REF;
import static io.gpups.docker.DeployFiles.POD_INDEX_REF;
import static io.gpups.docker.DeployFiles.expandedArgs;
import static io.gpups.docker.DeployFiles.only;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** docker/k8s/*.yaml parse into fabric8's typed objects, strictly, and hang together. */
class KubernetesManifestsTest {

    static List<HasMetadata> objects;
    static ConfigMap config;
    static Service service;
    static StatefulSet servers;
    static Job workers;

    @BeforeAll
    static void load() {
        objects = DeployFiles.kubernetesObjects();
        config = only(objects, ConfigMap.class);
        service = only(objects, Service.class);
        servers = only(objects, StatefulSet.class);
        workers = only(objects, Job.class);
    }

    static Container container(PodSpec pod, String name) {
        return pod.getContainers().stream().filter(c -> c.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no container " + name));
    }

    static Container serverContainer() {
        return container(servers.getSpec().getTemplate().getSpec(), "server");
    }

    static Container workerContainer() {
        return container(workers.getSpec().getTemplate().getSpec(), "worker");
    }

    static int data(String key) {
        return Integer.parseInt(config.getData().get(key));
    }

    @Test
    void kindsAndNames() {
        assertEquals(4, objects.size(), "ConfigMap, Service, StatefulSet, Job");
        assertEquals("gpups-job", config.getMetadata().getName());
        assertEquals("gpups-server", service.getMetadata().getName());
        assertEquals("gpups-server", servers.getMetadata().getName());
        assertEquals("gpups-worker", workers.getMetadata().getName());
    }

    @Test
    void aMisspeltFieldIsAnErrorNotAnIgnoredEntry() {
        String yaml = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {replica: 2}\n";
        Exception e = assertThrows(Exception.class,
                () -> DeployFiles.strictKubernetesMapper().readValue(yaml, StatefulSet.class));
        assertTrue(e.getMessage().contains("replica"), e.getMessage());
    }

    @Test
    void shardsAreAStatefulSetBehindAHeadlessService() {
        assertEquals("None", service.getSpec().getClusterIP(), "headless: one DNS name per pod");
        assertEquals(service.getMetadata().getName(), servers.getSpec().getServiceName());
        Map<String, String> podLabels = servers.getSpec().getTemplate().getMetadata().getLabels();
        assertTrue(podLabels.entrySet().containsAll(service.getSpec().getSelector().entrySet()),
                "the Service selects the shard pods");
        assertTrue(podLabels.entrySet().containsAll(servers.getSpec().getSelector().getMatchLabels().entrySet()));
        ServicePort shard = service.getSpec().getPorts().stream().filter(p -> "shard".equals(p.getName()))
                .findFirst().orElseThrow();
        assertEquals(7000, shard.getPort());
        assertEquals("shard", shard.getTargetPort().getStrVal());
    }

    @Test
    void shardCountAndClusterSpecAgree() {
        int shards = data("SHARDS");
        assertEquals(shards, servers.getSpec().getReplicas(), "replicas = SHARDS");
        String svc = service.getMetadata().getName();
        List<String> expected = IntStream.range(0, shards)
                .mapToObj(i -> servers.getMetadata().getName() + "-" + i + "." + svc + ":7000").toList();
        assertEquals(expected, List.of(config.getData().get("SERVERS").split(",")),
                "SERVERS names the StatefulSet's pods through the headless Service, in shard order");
    }

    @Test
    void workersAreAnIndexedJobWithOnePodPerRank() {
        var spec = workers.getSpec();
        assertEquals("Indexed", spec.getCompletionMode());
        assertEquals(data("WORKERS"), spec.getCompletions(), "completions = WORKERS");
        assertEquals(data("WORKERS"), spec.getParallelism(), "all ranks run at once (bsp waits for each)");
        assertNotEquals("Always", spec.getTemplate().getSpec().getRestartPolicy());
    }

    @Test
    void shardIndexIsThePodOrdinalAndRankIsTheCompletionIndex() {
        CommandLine server = CommandLine.parse(expandedArgs(serverContainer(), objects));
        assertEquals("server", server.subcommand());
        assertEquals(POD_INDEX_REF, server.get("--shard"));
        assertEquals(config.getData().get("SHARDS"), server.get("--shards"));
        CommandLine worker = CommandLine.parse(expandedArgs(workerContainer(), objects));
        assertEquals("worker", worker.subcommand());
        assertEquals(COMPLETION_INDEX_REF, worker.get("--rank"));
        assertEquals(config.getData().get("WORKERS"), worker.get("--workers"));
        assertEquals(config.getData().get("WORKERS"), server.get("--workers"));
    }

    @Test
    void everyJobSettingIsUsed() {
        Set<String> used = new HashSet<>();
        List<Container> all = new ArrayList<>();
        all.addAll(servers.getSpec().getTemplate().getSpec().getContainers());
        all.addAll(workers.getSpec().getTemplate().getSpec().getContainers());
        all.addAll(workers.getSpec().getTemplate().getSpec().getInitContainers());
        for (Container c : all) {
            String text = String.join(" ", c.getArgs() == null ? List.of() : c.getArgs());
            config.getData().keySet().stream().filter(k -> text.contains("$(" + k + ")") || text.contains("$" + k))
                    .forEach(used::add);
        }
        assertEquals(config.getData().keySet(), used, "ConfigMap keys that no container reads");
    }

    @Test
    void portsAreNamedAndMatchTheShardFlag() {
        Map<String, Integer> serverPorts = ports(serverContainer());
        assertEquals(Map.of("shard", 7000, "metrics", 9400), serverPorts);
        assertEquals(Map.of("metrics", 9400), ports(workerContainer()));
        CommandLine server = CommandLine.parse(expandedArgs(serverContainer(), objects));
        assertEquals(String.valueOf(serverPorts.get("shard")), server.get("--port"));
        assertEquals("shard", serverContainer().getReadinessProbe().getTcpSocket().getPort().getStrVal());
        assertEquals("shard", serverContainer().getLivenessProbe().getTcpSocket().getPort().getStrVal());
    }

    static Map<String, Integer> ports(Container c) {
        return c.getPorts().stream().collect(Collectors.toMap(ContainerPort::getName, ContainerPort::getContainerPort));
    }

    @Test
    void everyShardAndWorkerHasAGpu() {
        for (Container c : List.of(serverContainer(), workerContainer())) {
            Quantity gpus = c.getResources().getLimits().get("nvidia.com/gpu");
            assertNotNull(gpus, c.getName() + " has no nvidia.com/gpu limit");
            assertTrue(Integer.parseInt(gpus.getAmount()) >= 1, c.getName());
        }
    }

    @Test
    void podsRunAsTheImagesNonRootUser() {
        for (PodSpec pod : List.of(servers.getSpec().getTemplate().getSpec(), workers.getSpec().getTemplate().getSpec())) {
            PodSecurityContext sc = pod.getSecurityContext();
            assertEquals(Boolean.TRUE, sc.getRunAsNonRoot());
            assertEquals(DockerfileTest.imageUid(), sc.getRunAsUser(), "runAsUser is the Dockerfile's USER");
            List<Container> all = new ArrayList<>(pod.getContainers());
            all.addAll(pod.getInitContainers());
            for (Container c : all) {
                SecurityContext csc = c.getSecurityContext();
                assertNotNull(csc, c.getName());
                assertEquals(Boolean.FALSE, csc.getAllowPrivilegeEscalation(), c.getName());
                assertEquals(List.of("ALL"), csc.getCapabilities().getDrop(), c.getName());
                assertFalse(csc.getRunAsUser() != null && csc.getRunAsUser() == 0, c.getName());
            }
        }
    }

    @Test
    void theDataSetIsMountedReadOnlyWhereDataPoints() {
        CommandLine worker = CommandLine.parse(expandedArgs(workerContainer(), objects));
        var mount = workerContainer().getVolumeMounts().stream()
                .filter(m -> m.getMountPath().equals(worker.get("--data"))).findFirst().orElseThrow();
        assertEquals(Boolean.TRUE, mount.getReadOnly());
        var volume = workers.getSpec().getTemplate().getSpec().getVolumes().stream()
                .filter(v -> v.getName().equals(mount.getName())).findFirst().orElseThrow();
        assertEquals("/usr/share/datasets/fashion-mnist", volume.getHostPath().getPath());
    }

    @Test
    void workersWaitForEveryShard() {
        var init = workers.getSpec().getTemplate().getSpec().getInitContainers();
        assertEquals(1, init.size());
        assertEquals(List.of("bash", "-c"), init.get(0).getCommand());
        assertTrue(init.get(0).getArgs().get(0).contains("/dev/tcp/"), "waits with bash /dev/tcp, no extra tools");
        assertTrue(init.get(0).getArgs().get(0).contains("$SERVERS"));
    }

    @Test
    void oneImageEverywhere() {
        Set<String> images = new HashSet<>();
        servers.getSpec().getTemplate().getSpec().getContainers().forEach(c -> images.add(c.getImage()));
        workers.getSpec().getTemplate().getSpec().getContainers().forEach(c -> images.add(c.getImage()));
        workers.getSpec().getTemplate().getSpec().getInitContainers().forEach(c -> images.add(c.getImage()));
        assertEquals(1, images.size(), images.toString());
    }
}
