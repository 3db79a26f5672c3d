#!/usr/bin/env bash
# Writes a language-identification set in the libsvm layout for `--model embbag`:
#   scripts/langid-data.sh OUT_DIR [--cap N]
# from Debian's word lists (wamerican wngerman wfrench wspanish witalian wportuguese wdutch wswedish, under
# /usr/share/dict), installing them with apt-get when run as root, else saying what to install. Then runs
# `gpups datagen langid --dict-dir /usr/share/dict --out OUT_DIR` (README.md, "Data"), which prints the words per
# language. Uses cli/target/gpups.jar (built by `mvn -o -q package -DskipTests`), else ./gpups (which builds it).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 OUT_DIR [--cap N]" >&2
  exit 2
fi
out="$1"; shift
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dict=/usr/share/dict
packages=(wamerican wngerman wfrench wspanish witalian wportuguese wdutch wswedish)
files=(american-english ngerman french spanish italian portuguese dutch swedish)
missing=()
for i in "${!files[@]}"; do
  [ -f "$dict/${files[$i]}" ] || missing+=("${packages[$i]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "langid-data: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2 \
      || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2; }
  else
    echo "langid-data: missing word lists; install them first: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
jar="$here/cli/target/gpups.jar"
if [ -f "$jar" ]; then
  exec java --enable-native-access=ALL-UNNAMED -jar "$jar" datagen langid --dict-dir "$dict" --out "$out" "$@"
fi
exec "$here/gpups" datagen langid --dict-dir "$dict" --out "$out" "$@"
