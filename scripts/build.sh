#!/usr/bin/env bash
# Builds the gpups command jar and copies it to an output directory. The one build recipe: the
# Docker image's build stage runs this script (docker/Dockerfile), and so can any host, so a host run
# tests what the image does.
#
#   scripts/build.sh [OUT_DIR] [-- extra mvn arguments]     (OUT_DIR defaults to dist/ in the checkout)
#
# Needs Java 17+ and Maven 3.6.3+ (the distro Maven of the image's Ubuntu 22.04). CUDA kernels are
# compiled when nvcc is at /usr/local/cuda/bin/nvcc (the Maven profile in cuda-kernels/pom.xml picks
# it up; without it the build still succeeds, for the CPU device only). Writes OUT_DIR/gpups.jar.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/dist"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then out="$1"; shift; fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then shift; fi
case "$out" in /*) ;; *) out="$(pwd)/$out" ;; esac

die() { echo "build.sh: $*" >&2; exit 1; }

# --- toolchain checks ------------------------------------------------------------------------------
command -v java >/dev/null 2>&1 || die "java not found (need a JDK 17+)"
command -v javac >/dev/null 2>&1 || die "javac not found (need a JDK 17+, not only a JRE)"
command -v mvn >/dev/null 2>&1 || die "mvn not found (need Maven 3.6.3+)"
java_major="$(javac -version 2>&1 | sed -n 's/^javac \([0-9][0-9]*\).*/\1/p')"
[ -n "$java_major" ] && [ "$java_major" -ge 17 ] || die "need JDK 17+, found: $(javac -version 2>&1)"
mvn_version="$(mvn -B -v 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | sed -n 's/^Apache Maven \([0-9][0-9.]*\).*/\1/p' | head -n1)"
[ -n "$mvn_version" ] || die "cannot read the Maven version from 'mvn -v'"
if [ "$(printf '%s\n' 3.6.3 "$mvn_version" | sort -V | head -n1)" != 3.6.3 ]; then
  die "need Maven 3.6.3+, found $mvn_version"
fi
echo "build.sh: javac $java_major, Maven $mvn_version"

nvcc=/usr/local/cuda/bin/nvcc   # literal: the same path the Maven profile activates on
if [ -x "$nvcc" ]; then
  echo "build.sh: CUDA kernels by $("$nvcc" --version | sed -n 's/.*\(release [0-9.]*\).*/nvcc \1/p')"
else
  echo "build.sh: warning: no nvcc at $nvcc: CUDA kernels are not built (the CPU device still works)" >&2
fi

# --- build -----------------------------------------------------------------------------------------
(cd "$here" && mvn -B -ntp -DskipTests "$@" package)

jar="$here/cli/target/gpups.jar"
[ -f "$jar" ] || die "the build did not produce $jar"
if [ -x "$nvcc" ]; then
  # The image must carry the kernels it was built for; catch a profile that silently did not run.
  entries="$(cd "$here" && jar tf "$jar")"
  for k in gpups/kernels/gpups_kernels.fatbin gpups/kernels/gpups_kernels.ptx; do
    grep -qx "$k" <<<"$entries" || die "nvcc is installed but $k is not in $jar"
  done
fi

mkdir -p "$out"
cp "$jar" "$out/gpups.jar"
echo "build.sh: wrote $out/gpups.jar ($(du -h "$out/gpups.jar" | cut -f1))"
