#!/usr/bin/env bash
# The GPU suite as one folder that runs on an x86-64 Linux machine with an NVIDIA driver and nothing else (no Java,
# no Maven, no network):
#
#   scripts/gpu-bundle.sh [--no-build] [--tar] OUT
#
# OUT gets: run.sh (the suite: see scripts/gpu-bundle-run.sh), jre/ (a Java runtime made by jlink with only the
# modules the jars need), lib/gpups.jar (the shaded CLI jar without what never loads on linux-x86_64: see slim()
# below), lib/test/ (the test classes of core, native and cuda-kernels, and jqwik), lib/junit-platform-console-
# standalone.jar, and BUNDLE.txt (commit, contents, sizes). With --tar also OUT.tar.gz. Prints the size.
#
# Builds with Maven (`mvn -o` first, online if offline resolution fails; never `mvn install`): the reactor's package
# of cli and what it depends on, tests compiled, not run. --no-build uses the jars and test classes already under
# */target (e.g. right after `mvn verify`). JUnit's console launcher and jqwik come through maven-dependency-plugin,
# so a clean clone needs only Maven Central once. Needs a JDK 17+ (jlink, jdeps, jar), zip, gzip and strip (binutils; optional).
#
# The bundle must stay within 60 MiB (the GPU test machine takes 64 MiB): the script fails above it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
log() { echo "gpu-bundle: $*" >&2; }
die() { log "$*"; exit 1; }

build=1
tar=0
out=
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --tar) tar=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) die "unknown option $1 (expected --no-build, --tar or OUT)" ;;
    *) [ -z "$out" ] || die "one OUT folder expected, got '$out' and '$1'"; out="$1" ;;
  esac
  shift
done
[ -n "$out" ] || die "usage: scripts/gpu-bundle.sh [--no-build] [--tar] OUT"
limit_bytes=$((60 * 1024 * 1024))
for tool in jlink jdeps jar zip gzip; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found: building the bundle needs a JDK 17+, zip and gzip"
done

# mvn_try ARGS: offline first (other builds share ~/.m2, and it is usually full), then online.
mvn_try() {
  if ! mvn -B -ntp -o "$@" >"$work/mvn.log" 2>&1; then
    log "offline Maven failed (tail of the log below); trying online"
    tail -5 "$work/mvn.log" >&2
    mvn -B -ntp "$@" >"$work/mvn.log" 2>&1 || { tail -40 "$work/mvn.log" >&2; die "Maven failed: mvn $*"; }
  fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-bundle.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ "$build" = 1 ]; then
  log "building cli and its modules, tests compiled, not run (mvn -pl cli -am package -DskipTests)"
  mvn_try -pl cli -am package -DskipTests
fi
jar_in=cli/target/gpups.jar
[ -f "$jar_in" ] || die "$jar_in missing: run without --no-build"
for m in core native cuda-kernels; do
  [ -d "$m/target/test-classes/io" ] || die "$m/target/test-classes missing: run without --no-build"
done
unzip -l "$jar_in" gpups/kernels/gpups_kernels.fatbin >/dev/null 2>&1 \
  || log "warning: $jar_in has no CUDA kernels (nvcc missing when it was built): CUDA will be unavailable on the GPU"

# The versions the build uses, from the parent POM.
pom_property() { sed -n "s:.*<$1>\(.*\)</$1>.*:\1:p" pom.xml | head -1; }
junit_version=$(pom_property junit.version)       # Jupiter 5.x.y ships with Platform 1.x.y
jqwik_version=$(pom_property jqwik.version)
platform_version="1.${junit_version#5.}"
dep_plugin=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
mkdir -p "$work/deps"
for artifact in org.junit.platform:junit-platform-console-standalone:"$platform_version" \
                net.jqwik:jqwik-api:"$jqwik_version" net.jqwik:jqwik-engine:"$jqwik_version"; do
  mvn_try -N "$dep_plugin:copy" -Dartifact="$artifact" -DoutputDirectory="$work/deps"
done

rm -rf "$out"
mkdir -p "$out/lib/test"
out=$(cd "$out" && pwd)

# slim JAR: deletes from the shaded jar what never loads on linux-x86_64 (sizes are uncompressed):
#  - JCuda natives other than the driver API (libJCudaDriver) and cuBLAS (libJCublas2): libJNvPTXCompiler (24 MB),
#    libJNvrtc, libJNvJitLink, the cuBLAS v1 binding libJCublas, libJCudaRuntime (JCudaDriver and JCublas2 each load
#    only their own library: see their static initializers), and the matching Java packages;
#  - OpenBLAS JNI libraries with LAPACK: libjniopenblas.so (24 MB) and libjniopenblas_full.so (24 MB), their Java
#    globals (2.7 MB each) and C headers. CpuDevice calls cblas_sgemm through openblas_nolapack, which loads
#    libjniopenblas_nolapack.so and libopenblas.so.0 (kept, with libgfortran and libquadmath it links);
#  - JFreeChart (1.5 MB): the charts of `gpups bench --sweep`, the one user of java.desktop, which the runtime leaves
#    out (24 MB with it, 16 MB without): the bundle runs single benchmarks, which draw nothing;
#  - every other platform's natives (none today with -Djavacpp.platform=linux-x86_64; checked below).
slim() {
  cp "$jar_in" "$1"
  local drop
  drop=$(unzip -Z1 "$1" | grep -E \
    -e '^lib/libJ[A-Za-z0-9]+-.*\.(so|dll|dylib)$' \
    -e '^org/bytedeco/openblas/linux-x86_64/libjniopenblas(_full)?\.so$' \
    -e '^org/bytedeco/openblas/linux-x86_64/include/' \
    -e '^org/bytedeco/openblas/global/openblas(_full)?(\$.*)?\.class$' \
    -e '^jcuda/(nvrtc|nvptxcompiler|nvjitlink)/' \
    -e '^org/jfree/' \
    -e '^(org/bytedeco/[a-z]+/|META-INF/native/)(linux-(arm64|aarch64|ppc64le|armhf|riscv64|x86)|(macosx|windows|android|ios)-[a-z0-9_]+)/' \
    -e '^META-INF/native/.*(aarch_64|aarch64|riscv64|s390x|ppc64le|osx|windows)' \
    | grep -v -E '^lib/lib(JCudaDriver|JCublas2)-.*linux-x86_64\.so$' || true)
  if [ -n "$drop" ]; then
    echo "$drop" >"$work/dropped.txt"
    unzip -Zl "$1" | awk 'NR==FNR { d[$0]; next } ($NF in d) { s += $4; n++ } END { printf "%d files, %d bytes uncompressed\n", n, s }' \
      "$work/dropped.txt" - >"$work/dropped-size.txt"
    # zip -d takes patterns: escape its wildcards in the names.
    sed 's/[][*?]/\\&/g' "$work/dropped.txt" | xargs -d '\n' zip -q -d "$1"
  fi
}
log "slimming $jar_in"
slim "$out/lib/gpups.jar"
unzip -Z1 "$out/lib/gpups.jar" >"$work/kept.txt"
for keep in lib/libJCudaDriver- lib/libJCublas2- org/bytedeco/openblas/linux-x86_64/libjniopenblas_nolapack.so \
            org/bytedeco/openblas/linux-x86_64/libopenblas.so.0 io/gpups/nativecpu/linux-x86_64/libjniCpuKernels.so; do
  grep -q "^$keep" "$work/kept.txt" || die "the slimmed jar lost $keep"
done

for m in core native cuda-kernels; do
  jar --create --file "$out/lib/test/gpups-$m-tests.jar" -C "$m/target/test-classes" .
done
cp "$work"/deps/jqwik-*.jar "$out/lib/test/"
cp "$work"/deps/junit-platform-console-standalone-*.jar "$out/lib/junit-platform-console-standalone.jar"

# The modules every jar needs (jdeps; jqwik's jars are named modules that need only java.base and JUnit's), less
# java.desktop and java.datatransfer (JFreeChart's, removed above; Jackson and Micrometer use them only when present),
# plus jdk.crypto.ec for TLS with EC keys (a provider, which jdeps cannot see) and jdk.zipfs.
modules=$(jdeps --multi-release 17 --ignore-missing-deps --print-module-deps \
  "$out/lib/gpups.jar" "$out/lib/junit-platform-console-standalone.jar" "$out"/lib/test/gpups-*.jar 2>"$work/jdeps.log") \
  || { cat "$work/jdeps.log" >&2; die "jdeps failed"; }
modules=$(echo "$modules,jdk.crypto.ec,jdk.zipfs" | tr ',' '\n' | grep -v -x -e java.desktop -e java.datatransfer | sort -u \
  | paste -sd, -)
log "jlink: $modules"
jlink --add-modules "$modules" --strip-debug --no-man-pages --no-header-files --compress=2 --output "$out/jre"
# libjvm.so is most of the runtime: 24 MB as Debian ships it (with its symbol table), 20 MB stripped, 7 MB as gzip.
# The bundle carries it gzipped; run.sh unpacks it on its first run (gzip, or Python's gzip module).
if command -v strip >/dev/null 2>&1; then
  find "$out/jre" -name '*.so' -exec strip --strip-unneeded {} +
else
  log "warning: strip not found (binutils): the runtime's libraries keep their symbol tables"
fi
gzip -9 "$out/jre/lib/server/libjvm.so"

cp scripts/gpu-bundle-run.sh "$out/run.sh"
chmod +x "$out/run.sh"

size_of() { du -sb "$1" | cut -f1; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
total=$(size_of "$out")
{
  echo "gpups GPU bundle"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) by $(java -version 2>&1 | head -1)"
  echo "size: $total bytes ($(mib "$total")), limit $limit_bytes bytes (60 MiB)"
  echo "jre: $(mib "$(size_of "$out/jre")"), modules $modules"
  for f in "$out"/lib/*.jar "$out"/lib/test/*.jar; do
    echo "${f#"$out"/}: $(mib "$(size_of "$f")")"
  done
  echo "gpups.jar: $(mib "$(size_of "$jar_in")") before slimming; removed $(cat "$work/dropped-size.txt" 2>/dev/null || echo nothing):"
  sed 's/^/  /' "$work/dropped.txt" 2>/dev/null || true
  echo "run: ./run.sh OUT_DIR (see its header)"
} >"$out/BUNDLE.txt"
if [ "$tar" = 1 ]; then
  tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
  log "archive: $out.tar.gz, $(mib "$(size_of "$out.tar.gz")")"
fi
grep -v '^  ' "$out/BUNDLE.txt" | sed 's/^/gpu-bundle: /' >&2
echo "bundle: $out, $total bytes ($(mib "$total"))"
[ "$total" -le "$limit_bytes" ] || die "the bundle is $(mib "$total"), above the 60 MiB limit"
