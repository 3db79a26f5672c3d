#!/usr/bin/env bash
# Checks the GPU bundle on a machine without a GPU: builds it (scripts/gpu-bundle.sh; pass --no-build to reuse the
# jars of a `mvn verify` just run, as .ci/run does), checks its size (<= 60 MiB), runs it under
# `env -i PATH=/usr/bin:/bin` (no Java, no JAVA_HOME, no Maven on PATH) and checks summary.json: the CPU half passed,
# every CUDA step is skipped with the reason, and run.sh's exit codes (3 without --allow-no-gpu, 0 with it).
# About 2-3 minutes on 2 cores (bundle 1.5, run 0.5 each).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-bundle-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
scripts/gpu-bundle.sh "$@" "$work/bundle"
size=$(du -sb "$work/bundle" | cut -f1)
[ "$size" -le $((60 * 1024 * 1024)) ] || { echo "test-gpu-bundle: the bundle is $size bytes, above 60 MiB" >&2; exit 1; }

rc=0
env -i PATH=/usr/bin:/bin "$work/bundle/run.sh" --allow-no-gpu "$work/run" || rc=$?
[ "$rc" = 0 ] || { echo "test-gpu-bundle: run.sh --allow-no-gpu exited with $rc" >&2; cat "$work/run/summary.json" >&2; exit 1; }
/usr/bin/python3 - "$work/run/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
steps = s["steps"]
def check(ok, what):
    if not ok:
        sys.exit("test-gpu-bundle: %s\n%s" % (what, json.dumps(s, indent=1)[:4000]))
check(s["cuda"].startswith("skipped: ") and len(s["cuda"]) > len("skipped: ") + 10, "cuda is not 'skipped: <reason>'")
check(s["exit_code"] == 0, "exit_code is not 0")
for name in ("cpu-tests", "cpu-cli"):
    check(steps[name]["status"] == "passed", name + " did not pass")
check(steps["cpu-tests"]["tests"]["found"] > 100 and steps["cpu-tests"]["tests"]["failed"] == 0, "cpu-tests counts")
check(steps["cpu-cli"]["bench"]["results"][0]["ops_per_second"] > 0, "cpu-cli bench figures")
check(steps["cpu-cli"]["local"]["epochs"] == 1, "cpu-cli local figures")
check(steps["cuda-tests"]["tests"]["aborted"] > 0, "the CUDA tests did not run (and skip)")
for name in ("cuda-tests", "memcheck", "racecheck", "synccheck", "adam", "bench-16MiB", "bench-4KiB", "local"):
    check(steps[name]["status"] == "skipped", name + " is not skipped")
    check("libcuda.so.1" in steps[name]["reason"], name + "'s reason does not name the missing driver library")
print("test-gpu-bundle: summary.json checked: CPU half passed, CUDA half skipped: " + s["cuda"][len("skipped: "):])
PY
rc=0
env -i PATH=/usr/bin:/bin "$work/bundle/run.sh" "$work/run-strict" >/dev/null 2>&1 || rc=$?
[ "$rc" = 3 ] || { echo "test-gpu-bundle: run.sh without --allow-no-gpu exited with $rc, expected 3" >&2; exit 1; }
echo "test-gpu-bundle: ok ($size bytes)"
