#!/usr/bin/env bash
# Container health without extra tools (installed as /usr/local/bin/gpups-healthcheck):
# - a shard (`gpups server --port P`) is healthy when P accepts a TCP connection on 127.0.0.1
#   (bash's /dev/tcp: no curl or nc needed in the image);
# - any other gpups process (a worker) is healthy while it runs;
# - no gpups process at all is unhealthy.
# The process is found through /proc, so it works whether the JVM is PID 1 or runs under an init
# (docker run --init). GPUPS_HEALTH_PORT overrides the port.
set -u
found=""
port=""
for f in /proc/[0-9]*/cmdline; do
  argv=()
  mapfile -d '' -t argv < "$f" 2>/dev/null || continue
  n=${#argv[@]}
  for ((i = 0; i < n; i++)); do
    if [[ ${argv[i]} == *gpups.jar ]]; then
      sub="${argv[i + 1]:-}"
      found="${found:-$sub}"
      if [ "$sub" = server ]; then
        found=server
        for ((j = i + 2; j < n; j++)); do
          case "${argv[j]}" in
            --port=*) port="${argv[j]#--port=}" ;;
            --port) port="${argv[j + 1]:-}" ;;
          esac
        done
      fi
      break
    fi
  done
  [ "$found" = server ] && break
done

port="${GPUPS_HEALTH_PORT:-$port}"
if [ -z "$found" ]; then
  echo "unhealthy: no gpups process"
  exit 1
elif [ "$found" != server ]; then
  echo "healthy: gpups $found is running"
  exit 0
elif [ -z "$port" ] || [ "$port" = 0 ]; then
  echo "unhealthy: cannot tell the shard's port (set GPUPS_HEALTH_PORT)"
  exit 1
elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "healthy: shard accepts connections on port $port"
  exit 0
else
  echo "unhealthy: nothing accepts connections on port $port"
  exit 1
fi
