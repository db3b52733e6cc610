#!/usr/bin/env bash
# Makes sure the cluster tier's Temporal binaries exist in the project's .tools/ cache (git-ignored)
# and prints where, as key=value lines on stdout (what it did goes to stderr):
#   version=<the server version docker-compose.yml pins>
#   server=.../temporal-server        sql_tool=.../temporal-sql-tool
#   schema=.../schema/postgresql/v12  (temporal/ and visibility/, as in temporalio/admin-tools)
# They are built once from the Go module go.temporal.io/server through the Go module proxy
# (cmd/server and cmd/tools/sql; about 7 minutes on 2 cores with empty Go caches), and the schemas
# are copied out of the module so .tools/ stands alone. Cached: only the paths are printed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
compose="$root/docker-compose.yml"

# The one pin: the temporalio/server image of docker-compose.yml.
version="$(sed -nE 's#^[[:space:]]*image:[[:space:]]*temporalio/server:([0-9]+\.[0-9]+\.[0-9]+)[[:space:]]*$#\1#p' "$compose" | head -n 1)"
if [[ -z "$version" ]]; then
  echo "no 'image: temporalio/server:X.Y.Z' line in $compose: the cluster tier builds the version it pins" >&2
  exit 1
fi
target="$root/.tools/temporal-server-$version"
schema="$target/schema/postgresql/v12"

cached() { [[ -x "$target/temporal-server" && -x "$target/temporal-sql-tool" && -d "$schema/visibility/versioned" ]]; }

if cached; then
  echo "temporal-server $version: cached in $target" >&2
else
  go="$(command -v go || true)"
  [[ -n "$go" ]] || go=/usr/local/go/bin/go
  if [[ ! -x "$go" ]]; then
    echo "no go command (PATH or /usr/local/go/bin/go): the cluster tier builds temporal-server $version with Go" >&2
    exit 1
  fi
  echo "building temporal-server and temporal-sql-tool $version into $target (one time, several minutes)" >&2
  started=$SECONDS
  rm -rf "$target.partial"
  mkdir -p "$target.partial/bin"
  # Static binaries, like the images' (no cgo: PostgreSQL and SQLite drivers are pure Go).
  CGO_ENABLED=0 GOBIN="$target.partial/bin" "$go" install -trimpath \
    "go.temporal.io/server/cmd/server@v$version" "go.temporal.io/server/cmd/tools/sql@v$version" >&2
  mv "$target.partial/bin/server" "$target.partial/temporal-server"
  mv "$target.partial/bin/sql" "$target.partial/temporal-sql-tool"
  rmdir "$target.partial/bin"
  # `go install` already downloaded the module; this only names its directory.
  module_dir="$("$go" mod download -json "go.temporal.io/server@v$version" | sed -nE 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p')"
  if [[ ! -d "$module_dir/schema/postgresql/v12" ]]; then
    echo "go.temporal.io/server@v$version has no schema/postgresql/v12 (module dir: ${module_dir:-none})" >&2
    exit 1
  fi
  mkdir -p "$target.partial/schema/postgresql"
  cp -R "$module_dir/schema/postgresql/v12" "$target.partial/schema/postgresql/"
  # The module cache is read-only; the copy should not be.
  chmod -R u+w "$target.partial/schema"
  rm -rf "$target"
  mv "$target.partial" "$target"
  echo "built temporal-server $version in $((SECONDS - started)) s" >&2
fi

printf 'version=%s\nserver=%s\nsql_tool=%s\nschema=%s\n' \
  "$version" "$target/temporal-server" "$target/temporal-sql-tool" "$schema"
