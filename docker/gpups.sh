#!/usr/bin/env bash
# The image's entrypoint, installed as /usr/local/bin/gpups: runs the gpups command from the shaded jar
# (the same as ./gpups in a checkout). Subcommands and flags: `gpups --help`, `gpups server --help`.
# GPUPS_JAVA_OPTS adds JVM options (e.g. -Xmx8g); GPUPS_JAR points at another jar.
set -euo pipefail
jar="${GPUPS_JAR:-/opt/gpups/gpups.jar}"
# shellcheck disable=SC2086  # GPUPS_JAVA_OPTS is a list of options, split on purpose
exec java --enable-native-access=ALL-UNNAMED ${GPUPS_JAVA_OPTS:-} -jar "$jar" "$@"
