#!/usr/bin/env bash
# The GPU suite, on a machine with an NVIDIA GPU, driver and CUDA 12 libraries (cuBLAS 12 for JCublas) and nvcc at
# /usr/local/cuda/bin/nvcc (the kernels are built into the jar):
#
#   scripts/gpu-suite.sh [OUT_DIR]        (default OUT_DIR: runs/gpu-suite-<time>)
#
# 1. builds core, native and cuda-kernels and runs their tests: the device contract on the CPU and on GPU 0, CUDA
#    against CPU parity for every op, the CUDA device's own tests. FAILS if any CUDA test was skipped: here a skip
#    means CUDA was not usable, and the reason is printed;
# 2. builds the gpups jar and measures the Adam kernel alone (parameters/s and the fraction of the GPU's memory
#    bandwidth, target >= 0.8);
# 3. runs `gpups bench --device cuda` (push, adam) with 16 MiB and 4 KiB values, end to end over loopback TCP;
# 4. prints a summary, also written to OUT_DIR/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/gpu-suite-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
log() { echo "gpu-suite: $*" >&2; }

[ -x /usr/local/cuda/bin/nvcc ] || { log "nvcc not found at /usr/local/cuda/bin/nvcc: the kernels would not be built"; exit 1; }
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader | tee "$out/gpus.txt" >&2
else
  log "warning: nvidia-smi not found"
fi

log "1/3 build and device tests (log: $out/tests.log)"
tests_rc=0
mvn -B -ntp -pl core,native,cuda-kernels install -Dsurefire.printSummary=true >"$out/tests.log" 2>&1 || tests_rc=$?
reports=cuda-kernels/target/surefire-reports
# attr FILE NAME: an attribute of the <testsuite> element of a Surefire XML report.
attr() { sed -n 's/.*<testsuite [^>]*\b'"$2"'="\([0-9]*\)".*/\1/p' "$1" | head -1; }
cuda_ok=1
summary=()
for class in CudaDeviceContractTest CudaCpuParityTest CudaDeviceTest CpuDeviceContractTest; do
  xml="$reports/TEST-io.gpups.cuda.$class.xml"
  if [ ! -f "$xml" ]; then
    summary+=("$class: no report"); cuda_ok=0; continue
  fi
  t=$(attr "$xml" tests); s=$(attr "$xml" skipped); f=$(attr "$xml" failures); e=$(attr "$xml" errors)
  summary+=("$class: $t run, $f failed, $e errors, $s skipped")
  if [ "$t" = 0 ] || [ "$s" != 0 ] || [ "$f" != 0 ] || [ "$e" != 0 ]; then cuda_ok=0; fi
done
if [ "$cuda_ok" != 1 ]; then
  reason=$(grep -h -o 'CUDA device unavailable: [^]<]*' "$reports"/TEST-io.gpups.cuda.Cuda*.xml 2>/dev/null | head -1 || true)
  printf '%s\n' "${summary[@]}" >&2
  log "FAILED: the CUDA tests did not all run and pass${reason:+ ($reason)}; see $out/tests.log and $reports"
  exit 1
fi
[ "$tests_rc" = 0 ] || { log "FAILED: the build or a non-CUDA test failed (exit $tests_rc); see $out/tests.log"; exit 1; }

log "2/3 gpups jar (log: $out/build-cli.log), Adam kernel bandwidth"
mvn -B -ntp -pl server,worker,cli install -DskipTests >"$out/build-cli.log" 2>&1
adam=$(java --enable-native-access=ALL-UNNAMED -cp cli/target/gpups.jar io.gpups.cuda.AdamBandwidth 0 67108864 50)
echo "$adam" > "$out/adam-bandwidth.txt"

log "3/3 gpups bench --device cuda"
bench=()
for bytes in 16777216 4096; do
  java --enable-native-access=ALL-UNNAMED -jar cli/target/gpups.jar bench --device cuda --mode push --optimizer adam \
    --value-bytes "$bytes" --seconds 10 --json "$out/bench-$bytes.json" --run-dir "$out/bench-$bytes" \
    >"$out/bench-$bytes.log" 2>&1
  line=$(python3 - "$out/bench-$bytes.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("push %d B adam: %.0f ops/s, %.3g updated params/s, goodput %.2f GB/s, p50 %.3f ms, p99 %.3f ms" % (
    r["value_bytes"], r["ops_per_second"], r["update_elements_per_second"],
    r["goodput_bytes_per_second"] / 1e9, r["latency_p50_ms"], r["latency_p99_ms"]))
PY
)
  bench+=("$line")
done

{
  echo "== gpups GPU suite: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  [ -f "$out/gpus.txt" ] && sed 's/^/gpu: /' "$out/gpus.txt"
  printf 'tests: %s\n' "${summary[@]}"
  echo "adam kernel: $adam"
  printf 'bench: %s\n' "${bench[@]}"
} | tee "$out/summary.txt"
