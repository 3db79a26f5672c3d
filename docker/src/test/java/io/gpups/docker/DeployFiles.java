package io.gpups.docker;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.introspect.Annotated;
import com.fasterxml.jackson.databind.introspect.JacksonAnnotationIntrospector;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvFromSource;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** Loads the deployment files of docker/ and turns their command lines into comparable flag maps. */
final class DeployFiles {

    /** The docker/ directory (Surefire runs in the module's base directory). */
    static final Path DIR = Path.of(System.getProperty("basedir", ".")).toAbsolutePath().normalize();
    static final Path REPO = DIR.getParent();

    static final String POD_INDEX_REF = "fieldRef:metadata.labels['apps.kubernetes.io/pod-index']";
    static final String COMPLETION_INDEX_REF = "fieldRef:metadata.annotations['batch.kubernetes.io/job-completion-index']";

    private DeployFiles() {}

    static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---- Kubernetes ------------------------------------------------------------------------------

    /**
     * A YAML mapper for fabric8's model that rejects unknown fields. The model keeps unknown fields in
     * an "additionalProperties" map (a Jackson any-setter); turning any-setters off makes a misspelt
     * field an error instead of a silently ignored entry.
     */
    static ObjectMapper strictKubernetesMapper() {
        ObjectMapper m = new ObjectMapper(new YAMLFactory());
        m.enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
        m.setAnnotationIntrospector(new JacksonAnnotationIntrospector() {
            @Override
            public Boolean hasAnySetter(Annotated a) {
                return Boolean.FALSE;
            }
        });
        return m;
    }

    private static final Map<String, Class<? extends HasMetadata>> KINDS = Map.of(
            "v1/ConfigMap", ConfigMap.class,
            "v1/Service", Service.class,
            "apps/v1/StatefulSet", StatefulSet.class,
            "batch/v1/Job", Job.class);

    /** Every object of every docker/k8s/*.yaml file, typed; an unexpected apiVersion/kind fails. */
    static List<HasMetadata> kubernetesObjects() {
        ObjectMapper m = strictKubernetesMapper();
        List<HasMetadata> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(DIR.resolve("k8s"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                try (MappingIterator<JsonNode> docs = m.readerFor(JsonNode.class).readValues(f.toFile())) {
                    while (docs.hasNext()) {
                        JsonNode doc = docs.next();
                        if (doc == null || doc.isNull() || doc.isEmpty()) {
                            continue;
                        }
                        String key = doc.path("apiVersion").asText() + "/" + doc.path("kind").asText();
                        Class<? extends HasMetadata> type = KINDS.get(key);
                        if (type == null) {
                            throw new AssertionError(f.getFileName() + ": unexpected object " + key);
                        }
                        try {
                            out.add(m.treeToValue(doc, type));
                        } catch (IOException e) {
                            throw new AssertionError(f.getFileName() + ": " + key + " does not parse: " + e.getMessage(), e);
                        }
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    static <T extends HasMetadata> T only(List<HasMetadata> objects, Class<T> type) {
        List<T> found = objects.stream().filter(type::isInstance).map(type::cast).toList();
        if (found.size() != 1) {
            throw new AssertionError("expected exactly one " + type.getSimpleName() + ", found " + found.size());
        }
        return found.get(0);
    }

    /**
     * A container's environment as Kubernetes builds it: envFrom ConfigMaps first, then env entries
     * (literal values, ConfigMap keys, and downward-API fields as "fieldRef:PATH").
     */
    static Map<String, String> environment(Container c, List<HasMetadata> objects) {
        Map<String, String> env = new LinkedHashMap<>();
        for (EnvFromSource from : c.getEnvFrom()) {
            if (from.getConfigMapRef() == null) {
                throw new AssertionError("envFrom other than a ConfigMap in " + c.getName());
            }
            env.putAll(configMap(objects, from.getConfigMapRef().getName()).getData());
        }
        for (EnvVar e : c.getEnv()) {
            if (e.getValue() != null) {
                env.put(e.getName(), e.getValue());
            } else if (e.getValueFrom().getConfigMapKeyRef() != null) {
                var ref = e.getValueFrom().getConfigMapKeyRef();
                env.put(e.getName(), configMap(objects, ref.getName()).getData().get(ref.getKey()));
            } else if (e.getValueFrom().getFieldRef() != null) {
                env.put(e.getName(), "fieldRef:" + e.getValueFrom().getFieldRef().getFieldPath());
            } else {
                throw new AssertionError("unsupported env source for " + e.getName() + " in " + c.getName());
            }
        }
        return env;
    }

    private static ConfigMap configMap(List<HasMetadata> objects, String name) {
        return objects.stream().filter(ConfigMap.class::isInstance).map(ConfigMap.class::cast)
                .filter(cm -> cm.getMetadata().getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no ConfigMap " + name + " in docker/k8s"));
    }

    private static final Pattern VAR = Pattern.compile("\\$\\(([A-Za-z_][A-Za-z0-9_]*)\\)");

    /** A container's args with $(VAR) expanded; a reference to an undefined variable fails. */
    static List<String> expandedArgs(Container c, List<HasMetadata> objects) {
        Map<String, String> env = environment(c, objects);
        List<String> out = new ArrayList<>();
        for (String a : c.getArgs()) {
            Matcher m = VAR.matcher(a);
            StringBuilder sb = new StringBuilder();
            while (m.find()) {
                String v = env.get(m.group(1));
                if (v == null) {
                    throw new AssertionError(c.getName() + ": $(" + m.group(1) + ") is not defined in its environment");
                }
                m.appendReplacement(sb, Matcher.quoteReplacement(v));
            }
            m.appendTail(sb);
            out.add(sb.toString());
        }
        return out;
    }

    // ---- compose ---------------------------------------------------------------------------------

    /** docker/compose.yaml as plain maps and lists, merge keys resolved. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> compose() {
        return (Map<String, Object>) new Yaml(new LoaderOptions()).load(read(DIR.resolve("compose.yaml")));
    }

    @SuppressWarnings("unchecked")
    static Map<String, Map<String, Object>> composeServices() {
        return (Map<String, Map<String, Object>>) compose().get("services");
    }

    @SuppressWarnings("unchecked")
    static List<String> composeCommand(Map<String, Object> service) {
        return ((List<Object>) service.get("command")).stream().map(String::valueOf).toList();
    }

    /** Container-side ports of a compose service's "HOST:CONTAINER[/proto]" mappings. */
    @SuppressWarnings("unchecked")
    static List<Integer> composeContainerPorts(Map<String, Object> service) {
        List<Object> ports = (List<Object>) service.getOrDefault("ports", List.of());
        return ports.stream().map(String::valueOf).map(s -> {
            String container = s.substring(s.lastIndexOf(':') + 1);
            int slash = container.indexOf('/');
            return Integer.parseInt(slash < 0 ? container : container.substring(0, slash));
        }).toList();
    }

    // ---- command lines ---------------------------------------------------------------------------

    /** A gpups command line: the subcommand, then its flags in order ("--flag value" or "--flag=value"). */
    record CommandLine(String subcommand, Map<String, String> flags) {
        static CommandLine parse(List<String> args) {
            if (args.isEmpty()) {
                throw new AssertionError("empty command line");
            }
            Map<String, String> flags = new LinkedHashMap<>();
            for (int i = 1; i < args.size(); i++) {
                String a = args.get(i);
                if (!a.startsWith("--")) {
                    throw new AssertionError("expected a --flag at " + a + " in " + args);
                }
                int eq = a.indexOf('=');
                String name = eq < 0 ? a : a.substring(0, eq);
                String value;
                if (eq >= 0) {
                    value = a.substring(eq + 1);
                } else if (i + 1 < args.size() && !args.get(i + 1).startsWith("--")) {
                    value = args.get(++i);
                } else {
                    throw new AssertionError(name + " has no value in " + args);
                }
                if (flags.put(name, value) != null) {
                    throw new AssertionError(name + " given twice in " + args);
                }
            }
            return new CommandLine(args.get(0), flags);
        }

        String get(String flag) {
            String v = flags.get(flag);
            if (v == null) {
                throw new AssertionError(subcommand + " has no " + flag + ": " + flags);
            }
            return v;
        }
    }
}
