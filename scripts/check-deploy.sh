#!/usr/bin/env bash
# Checks the deployment files in docker/ without a Docker engine (none exists on CI machines):
#   1. shell syntax of the scripts the image runs (bash -n);
#   2. `docker compose config -q` on docker/compose.yaml, with the compose v2 plugin fetched as a
#      Debian package (trixie) into a private cache: nothing is installed system-wide, the system's
#      apt state is untouched;
#   3. `dockerfilelint` (npm) on docker/Dockerfile.
# The Kubernetes manifests and their agreement with the compose file are JUnit tests in the docker/
# Maven module (run by `mvn verify`).
#
# Exit status: non-zero only when a check ran and found a problem. When something a check needs cannot
# be had (no docker CLI, the apt mirror or the npm registry unreachable), the check is skipped with a
# "warning: SKIPPED ..." line naming it, and the script goes on: a network hiccup must not block CI.
# Set GPUPS_DEPLOY_STRICT=1 to turn skips into failures.
#
# Idempotent: downloads are cached under $GPUPS_DEPLOY_CACHE (default: $TMPDIR/gpups-deploy-check-UID)
# and reused on later runs.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cache="${GPUPS_DEPLOY_CACHE:-${TMPDIR:-/tmp}/gpups-deploy-check-$(id -u)}"
mkdir -p "$cache"
DOCKERFILELINT_VERSION=1.8.0

passed=0 skipped=0 failed=0
ok()   { echo "check-deploy: ok: $*"; passed=$((passed + 1)); }
skip() { echo "check-deploy: warning: SKIPPED $*" >&2; skipped=$((skipped + 1)); }
fail() { echo "check-deploy: FAILED: $*" >&2; failed=$((failed + 1)); }

# --- 1. shell syntax ------------------------------------------------------------------------------
for s in scripts/build.sh scripts/check-deploy.sh docker/gpups.sh docker/healthcheck.sh; do
  if [ ! -f "$s" ]; then fail "$s is missing"
  elif [ ! -x "$s" ]; then fail "$s is not executable (the image copies it with its mode)"
  elif bash -n "$s"; then ok "bash -n $s"
  else fail "bash -n $s"
  fi
done

# --- 2. docker compose config ---------------------------------------------------------------------
# The compose v2 plugin: the system's own if it has one, else the cached one, else Debian trixie's
# docker-compose package (bookworm only has v1), downloaded with a private apt configuration.
compose_plugin() {
  if docker compose version >/dev/null 2>&1; then echo system; return 0; fi
  local cfg="$cache/docker-config" t="$cache/apt"
  if [ -x "$cfg/cli-plugins/docker-compose" ] && DOCKER_CONFIG="$cfg" docker compose version >/dev/null 2>&1; then
    echo "$cfg"; return 0
  fi
  command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 || { echo "no apt-get/dpkg"; return 1; }
  # The machine's own Debian mirror (deb822 .sources or one-line sources.list), with the suite trixie.
  local uri="" keyring=""
  uri="$(awk 'tolower($1)=="uris:" { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' \
         /etc/apt/sources.list.d/*.sources 2>/dev/null)"
  if [ -z "$uri" ]; then
    uri="$(awk '$1=="deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\/.*\/debian\/?$/) { print $i; exit } }' \
           /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)"
  fi
  [ -n "$uri" ] || { echo "no Debian source line in /etc/apt"; return 1; }
  for k in /usr/share/keyrings/debian-archive-keyring.gpg /usr/share/keyrings/debian-archive-keyring.pgp; do
    [ -f "$k" ] && { keyring="$k"; break; }
  done
  mkdir -p "$t/lists/partial" "$t/cache/archives/partial" "$t/deb" "$t/x" "$cfg/cli-plugins"
  echo "deb ${keyring:+[signed-by=$keyring] }$uri trixie main" > "$t/sources.list"
  local apt=(apt-get -q -o "Dir::Etc::SourceList=$t/sources.list" -o Dir::Etc::SourceParts=/nonexistent
             -o "Dir::State::Lists=$t/lists" -o "Dir::Cache=$t/cache" -o Debug::NoLocking=1
             -o APT::Sandbox::User="$(id -un)")
  { "${apt[@]}" update && (cd "$t/deb" && rm -f ./*.deb && "${apt[@]}" download docker-compose/trixie); } \
    > "$t/apt.log" 2>&1 || { echo "apt-get update/download from $uri (trixie) failed, see $t/apt.log"; return 1; }
  rm -rf "$t/x" && mkdir -p "$t/x" && dpkg -x "$t"/deb/docker-compose_*.deb "$t/x" \
    || { echo "dpkg -x of the docker-compose .deb failed"; return 1; }
  local bin
  bin="$(find "$t/x" -type f -name docker-compose -perm -u+x | head -n1)"
  [ -n "$bin" ] || { echo "no docker-compose binary in the .deb"; return 1; }
  cp "$bin" "$cfg/cli-plugins/docker-compose" && chmod 0755 "$cfg/cli-plugins/docker-compose"
  DOCKER_CONFIG="$cfg" docker compose version >/dev/null 2>&1 || { echo "the downloaded plugin does not run"; return 1; }
  rm -rf "$t"   # keep only the plugin (the package lists and the .deb are ~150 MB)
  echo "$cfg"
}

if ! command -v docker >/dev/null 2>&1; then
  skip "docker compose config: no docker CLI on this machine"
elif ! where="$(compose_plugin)"; then
  skip "docker compose config: could not get the compose v2 plugin: $where"
else
  [ "$where" = system ] || export DOCKER_CONFIG="$where"
  echo "check-deploy: $(docker compose version) (plugin: $where)"
  if out="$(docker compose -f docker/compose.yaml config -q 2>&1)"; then
    [ -z "$out" ] || echo "$out"
    ok "docker compose -f docker/compose.yaml config -q (services: $(docker compose -f docker/compose.yaml config --services 2>/dev/null | tr '\n' ' '))"
  else
    echo "$out" >&2
    fail "docker compose -f docker/compose.yaml config -q"
  fi
  unset DOCKER_CONFIG
fi

# --- 3. Dockerfile lint -------------------------------------------------------------------------------
# npx caches the package in the npm cache; a first step that only fetches it tells a registry
# failure (skip) from lint findings (fail: dockerfilelint exits with the number of issues).
lint=(npx --yes "dockerfilelint@$DOCKERFILELINT_VERSION")
if ! command -v npx >/dev/null 2>&1; then
  skip "dockerfilelint: no npx (Node.js) on this machine"
elif ! "${lint[@]}" --version > "$cache/dockerfilelint-fetch.log" 2>&1; then
  skip "dockerfilelint: could not fetch dockerfilelint@$DOCKERFILELINT_VERSION from the npm registry (see $cache/dockerfilelint-fetch.log)"
elif out="$("${lint[@]}" docker/Dockerfile 2>&1)"; then
  ok "dockerfilelint@$DOCKERFILELINT_VERSION docker/Dockerfile: no issues"
else
  echo "$out" >&2
  fail "dockerfilelint@$DOCKERFILELINT_VERSION docker/Dockerfile"
fi

echo "check-deploy: $passed ok, $skipped skipped, $failed failing (compose: docker/compose.yaml, lint: docker/Dockerfile; k8s manifests: JUnit in docker/)"
if [ "$failed" -gt 0 ]; then exit 1; fi
if [ "$skipped" -gt 0 ] && [ "${GPUPS_DEPLOY_STRICT:-0}" = 1 ]; then
  echo "check-deploy: GPUPS_DEPLOY_STRICT=1 and checks were skipped" >&2; exit 1
fi
exit 0
