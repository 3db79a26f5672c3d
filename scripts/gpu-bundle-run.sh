#!/usr/bin/env bash
# The GPU suite of gpups, run from a bundle made by scripts/gpu-bundle.sh (this file is the bundle's run.sh). It
# needs only what the bundle holds, bash, coreutils, grep and sed, and for the GPU half an NVIDIA driver; no Java,
# Maven or network. compute-sanitizer and nvidia-smi are used when on PATH.
#
#   ./run.sh [--allow-no-gpu] OUT_DIR
#
# Steps, each logged to OUT_DIR/<step>.log and recorded in OUT_DIR/summary.json with its status (passed, failed or
# skipped), the reason where it did not pass, its seconds and its figures:
#   cuda-probe     whether CUDA is usable here (io.gpups.cuda.CudaProbe), and if not, why;
#   cpu-tests      the device contract on the CPU device, the CPU device's own tests and core's tests (JUnit console
#                  launcher over the bundled test classes);
#   cpu-cli        only where CUDA is unusable: a short `gpups bench --device cpu` and a 2-shard, 2-worker
#                  `gpups local --device auto` (the console names each process's device and why CUDA was not used);
#   cuda-tests     every io.gpups.cuda.Cuda*Test: the device contract on GPU 0, CUDA-CPU parity for every op, the CUDA
#                  device's own tests. FAILS if any test was skipped because CUDA was unavailable (the reason is
#                  printed); other skips (tests meant for a machine without CUDA) are listed with their reasons;
#   memcheck, racecheck, synccheck
#                  compute-sanitizer with that tool over the kernel exerciser: the CUDA-CPU parity test, which launches
#                  every kernel at awkward sizes (1, 3, 4099, 2^20+3, misaligned offsets); skipped without
#                  compute-sanitizer on PATH. Each fails on any error the tool reports;
#   adam           the Adam apply kernel alone beside a triad on GPU 0 (io.gpups.loadgen.DeviceBandwidth, the probe of
#                  `gpups bench`, 2^26 parameters): parameters/s and the fraction of the triad's bandwidth at 28 B/param
#                  (target >= 0.8, reported, not enforced);
#   bench-16MiB, bench-4KiB
#                  `gpups bench --device cuda --mode push --optimizer adam` with 16 MiB and 4 KiB pushes;
#   local          a 2-shard, 2-worker `gpups local --device cuda` job, 1 epoch.
# The CUDA steps run only when cuda-probe passed; otherwise they are skipped with its reason.
#
# Exit code: 0 when every step that ran passed and the CUDA half ran (with --allow-no-gpu also when CUDA is
# unusable and the CUDA half was skipped: summary.json then says "cuda": "skipped: <reason>"); 1 when a step failed;
# 2 on a usage error; 3 when CUDA is unusable here (the CPU half ran) and --allow-no-gpu was not given.
# On one GPU the whole suite takes under 8 minutes (each sanitizer run is limited to GPUPS_SANITIZER_SECONDS, 100).
set -u
here=$(cd "$(dirname "$0")" && pwd)

allow_no_gpu=0
out=
while [ $# -gt 0 ]; do
  case "$1" in
    --allow-no-gpu) allow_no_gpu=1 ;;
    -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1 (expected --allow-no-gpu or OUT_DIR)" >&2; exit 2 ;;
    *) [ -z "$out" ] || { echo "run.sh: one OUT_DIR expected, got '$out' and '$1'" >&2; exit 2; }; out="$1" ;;
  esac
  shift
done
[ -n "$out" ] || { echo "usage: run.sh [--allow-no-gpu] OUT_DIR" >&2; exit 2; }
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
rm -f "$out"/steps.part "$out"/summary.json

say() { echo "run.sh: $*" >&2; }

# gunzip_to GZ FILE: gzip if there is one, else Python's gzip module.
gunzip_to() {
  if command -v gzip >/dev/null 2>&1; then
    gzip -dc "$1" >"$2.part"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import gzip, shutil, sys; shutil.copyfileobj(gzip.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2.part"
  else
    return 1
  fi && mv "$2.part" "$2"
}

# The runtime's libjvm.so travels gzipped (see gpu-bundle.sh): unpacked once, in the bundle's jre/ where the bundle
# is writable, else into a copy of the runtime in OUT_DIR/jre.
jre="$here/jre"
if [ ! -f "$jre/lib/server/libjvm.so" ]; then
  if [ ! -f "$jre/lib/server/libjvm.so.gz" ]; then
    say "no Java runtime in $jre: is this a bundle made by scripts/gpu-bundle.sh?"; exit 2
  fi
  if [ ! -w "$jre/lib/server" ]; then
    rm -rf "$out/jre" && cp -R "$jre" "$out/jre" || { say "cannot copy the runtime into $out/jre"; exit 2; }
    jre="$out/jre"
  fi
  gunzip_to "$jre/lib/server/libjvm.so.gz" "$jre/lib/server/libjvm.so" \
    || { say "cannot unpack $jre/lib/server/libjvm.so.gz: it needs gzip or python3"; exit 2; }
fi
java="$jre/bin/java"
jar="$here/lib/gpups.jar"
console="$here/lib/junit-platform-console-standalone.jar"
test_cp="$jar"
for j in "$here"/lib/test/*.jar; do test_cp="$test_cp:$j"; done
jvm="--enable-native-access=ALL-UNNAMED -Xmx2g"
sanitizer_seconds="${GPUPS_SANITIZER_SECONDS:-100}"
suite_start=$(date +%s)
failed=0

# json_str TEXT: TEXT as a JSON string (one line; quotes, backslashes and control characters escaped or dropped).
json_str() {
  printf '"%s"' "$(printf '%s' "$1" | tr '\n\t' '  ' | tr -d '\000-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}
# json_file FILE: FILE's contents (a JSON document one of our tools wrote), or null if it is missing or empty.
json_file() {
  if [ -s "$1" ]; then tr -d '\n' <"$1"; else printf 'null'; fi
}

# record NAME STATUS REASON SECONDS [EXTRA_JSON_FIELDS]: one step's entry in summary.json, and a line on stderr.
record() {
  local reason=null
  [ -n "$3" ] && reason=$(json_str "$3")
  printf '%s: {"status": "%s", "reason": %s, "seconds": %s, "log": "%s.log"%s}\n' \
    "$(json_str "$1")" "$2" "$reason" "$4" "$1" "${5:+, $5}" >>"$out/steps.part"
  say "$1: $2${3:+ ($3)} [${4} s]"
  [ "$2" = failed ] && failed=1
  return 0
}

# junit NAME ARGS...: runs the JUnit console launcher over the bundled tests with ARGS (selectors); sets
# $tests_json (the counts), $tests_failed, $tests_aborted, $cuda_skip (the first "CUDA device unavailable" reason
# among aborted tests), $other_skips (the other distinct skip reasons) and $junit_rc.
junit() {
  local name="$1"; shift
  "$java" $jvm -Djava.io.tmpdir="$out/tmp" -jar "$console" execute --disable-banner --details=tree \
    --disable-ansi-colors --class-path "$test_cp" --reports-dir "$out/$name-reports" "$@" >"$out/$name.log" 2>&1
  junit_rc=$?
  local k v counts=""
  for k in found successful failed aborted skipped; do
    v=$(sed -n "s/^\[ *\([0-9][0-9]*\) tests $k *\]\$/\1/p" "$out/$name.log" | tail -1)
    v=${v:-0}
    eval "tests_$k=$v"
    counts="$counts${counts:+, }\"$k\": $v"
  done
  tests_json="\"tests\": {$counts}"
  cuda_skip=$(grep -h -o 'CUDA device unavailable: [^"<]*' "$out/$name.log" "$out/$name-reports"/*.xml 2>/dev/null \
    | head -1 | sed 's/[[:space:]]*$//')
  other_skips=$(grep -h -o 'Assumption failed: [^"<]*' "$out/$name-reports"/*.xml 2>/dev/null \
    | grep -v 'CUDA device unavailable' | sed 's/[[:space:]]*$//' | sort -u | tr '\n' ';' | sed 's/;$//; s/;/; /g')
}

mkdir -p "$out/tmp"
head -2 "$here/BUNDLE.txt" 2>/dev/null | sed 's/^/run.sh: /' >&2

gpu=null
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader >"$out/gpus.txt" 2>&1 \
    && gpu=$(json_str "$(cat "$out/gpus.txt")")
  say "gpu: $(cat "$out/gpus.txt")"
fi

# ---- cuda-probe
t=$(date +%s)
probe=$("$java" $jvm -cp "$jar" io.gpups.cuda.CudaProbe 2>"$out/cuda-probe.log")
probe_rc=$?
echo "$probe" >>"$out/cuda-probe.log"
cuda_reason=
case "$probe" in
  cuda=ok*) record cuda-probe passed "" $(( $(date +%s) - t )) "\"result\": $(json_str "$probe")" ;;
  cuda=unavailable*)
    cuda_reason=${probe#cuda=unavailable reason=}
    record cuda-probe skipped "CUDA unavailable: $cuda_reason" $(( $(date +%s) - t )) ;;
  *)
    cuda_reason="the CUDA probe failed (exit $probe_rc): $(tail -1 "$out/cuda-probe.log")"
    record cuda-probe failed "$cuda_reason" $(( $(date +%s) - t )) ;;
esac

# ---- cpu-tests
t=$(date +%s)
# (installedDevicesOpenTheCpuDeviceForCpuAndAuto holds where cpu is the only provider, as in the native module's
# own tests; the bundle also carries the cuda provider.)
junit cpu-tests --select-class io.gpups.cuda.CpuDeviceContractTest --select-package io.gpups.nativecpu \
  --select-package io.gpups.core --exclude-methodname '.*CpuDeviceTest#installedDevicesOpenTheCpuDeviceForCpuAndAuto.*'
if [ "$tests_found" = 0 ]; then
  record cpu-tests failed "no tests ran (exit $junit_rc); see cpu-tests.log" $(( $(date +%s) - t )) "$tests_json"
elif [ "$junit_rc" != 0 ] || [ "$tests_failed" != 0 ]; then
  record cpu-tests failed "$tests_failed test(s) failed (exit $junit_rc); see cpu-tests.log" $(( $(date +%s) - t )) "$tests_json"
else
  record cpu-tests passed "" $(( $(date +%s) - t )) "$tests_json"
fi

# gpups CLI [ARGS...]: the gpups command of the bundle.
gpups() { "$java" $jvm -Djava.io.tmpdir="$out/tmp" -jar "$jar" "$@"; }

# ---- cpu-cli: only where the CUDA CLI runs below cannot run.
if [ -n "$cuda_reason" ]; then
  t=$(date +%s)
  {
    gpups bench --device cpu --mode push --value-bytes 4096 --seconds 1 --warmup-seconds 0.5 --loopback-seconds 0.5 \
      --bandwidth-seconds 0.4 --json "$out/cpu-bench.json" --run-dir "$out/cpu-bench" && \
    gpups local --device auto --shards 2 --workers 2 --model logreg --epochs 1 --progress none \
      --json "$out/cpu-local.json" --run-dir "$out/cpu-local"
  } >"$out/cpu-cli.log" 2>&1
  rc=$?
  devices=$(grep -E '^(shard|worker) [0-9]+: device ' "$out/cpu-cli.log" | tr '\n' ';' | sed 's/;$//; s/;/; /g')
  extra="\"devices\": $(json_str "$devices"), \"bench\": $(json_file "$out/cpu-bench.json"), \"local\": $(json_file "$out/cpu-local.json")"
  if [ "$rc" = 0 ]; then
    record cpu-cli passed "" $(( $(date +%s) - t )) "$extra"
  else
    record cpu-cli failed "gpups exited with $rc; see cpu-cli.log" $(( $(date +%s) - t )) "$extra"
  fi
fi

# ---- the CUDA half
skip_cuda() { record "$1" skipped "CUDA unavailable: $cuda_reason" 0; }

# cuda-tests: run even where CUDA is unusable, so the tests themselves show why they skip.
t=$(date +%s)
junit cuda-tests --select-package io.gpups.cuda --include-classname '^io\.gpups\.cuda\.Cuda.*Test$'
extra="$tests_json, \"other_skips\": $(json_str "$other_skips")"
if [ "$tests_found" = 0 ]; then
  record cuda-tests failed "no tests ran (exit $junit_rc); see cuda-tests.log" $(( $(date +%s) - t )) "$extra"
elif [ "$tests_failed" != 0 ] || [ "$junit_rc" != 0 ]; then
  record cuda-tests failed "$tests_failed test(s) failed (exit $junit_rc)${cuda_skip:+; $cuda_skip}; see cuda-tests.log" \
    $(( $(date +%s) - t )) "$extra"
elif [ -n "$cuda_skip" ] && [ -z "$cuda_reason" ]; then
  record cuda-tests failed "CUDA tests were skipped: $cuda_skip" $(( $(date +%s) - t )) "$extra"
elif [ -n "$cuda_reason" ]; then
  record cuda-tests skipped "CUDA unavailable: ${cuda_skip#CUDA device unavailable: }" $(( $(date +%s) - t )) "$extra"
else
  record cuda-tests passed "" $(( $(date +%s) - t )) "$extra"
fi

# ---- compute-sanitizer over the kernel exerciser
for tool in memcheck racecheck synccheck; do
  if [ -n "$cuda_reason" ]; then skip_cuda "$tool"; continue; fi
  if ! command -v compute-sanitizer >/dev/null 2>&1; then
    record "$tool" skipped "compute-sanitizer is not on PATH (it comes with the CUDA toolkit: add its bin/ to PATH)" 0
    continue
  fi
  t=$(date +%s)
  timeout "$sanitizer_seconds" compute-sanitizer --tool "$tool" --error-exitcode 86 --print-limit 50 \
    "$java" $jvm -Djava.io.tmpdir="$out/tmp" -jar "$console" execute --disable-banner --details=summary \
    --disable-ansi-colors --class-path "$test_cp" --select-class io.gpups.cuda.CudaCpuParityTest >"$out/$tool.log" 2>&1
  rc=$?
  verdict=$(grep -E '(ERROR|RACECHECK) SUMMARY' "$out/$tool.log" | tail -1 | sed 's/^=* *//')
  extra="\"sanitizer_summary\": $(json_str "$verdict")"
  case "$rc" in
    0) record "$tool" passed "" $(( $(date +%s) - t )) "$extra" ;;
    86) record "$tool" failed "compute-sanitizer $tool reported errors: ${verdict:-see $tool.log}" $(( $(date +%s) - t )) "$extra" ;;
    124) record "$tool" failed "did not finish within $sanitizer_seconds s (GPUPS_SANITIZER_SECONDS)" $(( $(date +%s) - t )) "$extra" ;;
    *) record "$tool" failed "exit $rc (a parity test failed under the tool, or the tool failed): ${verdict:-see $tool.log}" \
         $(( $(date +%s) - t )) "$extra" ;;
  esac
done

# ---- adam
if [ -n "$cuda_reason" ]; then
  skip_cuda adam
else
  t=$(date +%s)
  line=$("$java" $jvm -cp "$jar" io.gpups.loadgen.DeviceBandwidth cuda:0 67108864 5 2>"$out/adam.log")
  rc=$?
  echo "$line" >>"$out/adam.log"
  # key=value pairs as JSON fields: numbers as numbers, the rest as strings.
  fields=$(printf '%s\n' $line | grep '=' | while IFS='=' read -r k v; do
    case "$v" in
      ''|*[!0-9.eE+-]*) printf '"%s": %s, ' "$k" "$(json_str "$v")" ;;
      *) printf '"%s": %s, ' "$k" "$v" ;;
    esac
  done | sed 's/, $//')
  if [ "$rc" = 0 ] && [ -n "$fields" ]; then
    record adam passed "" $(( $(date +%s) - t )) "\"figures\": {$fields}"
  else
    record adam failed "DeviceBandwidth exited with $rc; see adam.log" $(( $(date +%s) - t ))
  fi
fi

# ---- bench
for size in 16MiB:16777216 4KiB:4096; do
  name="bench-${size%%:*}"
  if [ -n "$cuda_reason" ]; then skip_cuda "$name"; continue; fi
  t=$(date +%s)
  gpups bench --device cuda --mode push --optimizer adam --value-bytes "${size#*:}" --seconds 5 --warmup-seconds 1 \
    --loopback-seconds 1 --bandwidth-seconds 1 --json "$out/$name.json" --run-dir "$out/$name" >"$out/$name.log" 2>&1
  rc=$?
  devices=$(grep -E '^(shard|worker) [0-9]+: device ' "$out/$name.log" | tr '\n' ';' | sed 's/;$//; s/;/; /g')
  extra="\"devices\": $(json_str "$devices"), \"figures\": $(json_file "$out/$name.json")"
  if [ "$rc" = 0 ]; then
    record "$name" passed "" $(( $(date +%s) - t )) "$extra"
  else
    record "$name" failed "gpups bench exited with $rc; see $name.log" $(( $(date +%s) - t )) "$extra"
  fi
done

# ---- local
if [ -n "$cuda_reason" ]; then
  skip_cuda local
else
  t=$(date +%s)
  gpups local --device cuda --shards 2 --workers 2 --epochs 1 --progress plain --json "$out/local.json" \
    --run-dir "$out/local" >"$out/local.log" 2>&1
  rc=$?
  devices=$(grep -E '^(shard|worker) [0-9]+: device ' "$out/local.log" | tr '\n' ';' | sed 's/;$//; s/;/; /g')
  extra="\"devices\": $(json_str "$devices"), \"figures\": $(json_file "$out/local.json")"
  if [ "$rc" = 0 ]; then
    record local passed "" $(( $(date +%s) - t )) "$extra"
  else
    record local failed "gpups local exited with $rc; see local.log" $(( $(date +%s) - t )) "$extra"
  fi
fi

# ---- summary.json
if [ "$failed" = 1 ]; then
  code=1; cuda="failed: see the failed steps"
  [ -n "$cuda_reason" ] && cuda="failed: see the failed steps; CUDA half skipped: $cuda_reason"
elif [ -n "$cuda_reason" ]; then
  cuda="skipped: $cuda_reason"
  if [ "$allow_no_gpu" = 1 ]; then code=0; else code=3; fi
else
  code=0; cuda="ok: $probe"
fi
{
  printf '{\n  "suite": "gpups GPU bundle",\n'
  printf '  "bundle": %s,\n' "$(json_str "$(head -2 "$here/BUNDLE.txt" 2>/dev/null)")"
  printf '  "started": "%s",\n  "seconds": %s,\n' "$(date -u -d "@$suite_start" +%Y-%m-%dT%H:%M:%SZ)" $(( $(date +%s) - suite_start ))
  printf '  "gpu": %s,\n  "cuda": %s,\n  "allow_no_gpu": %s,\n  "exit_code": %s,\n' "$gpu" "$(json_str "$cuda")" \
    "$([ "$allow_no_gpu" = 1 ] && echo true || echo false)" "$code"
  printf '  "steps": {\n'
  sed -e 's/^/    /' -e '$!s/$/,/' "$out/steps.part"
  printf '  }\n}\n'
} >"$out/summary.json"
rm -f "$out/steps.part"
say "cuda: $cuda"
say "summary: $out/summary.json (exit $code)"
exit "$code"
