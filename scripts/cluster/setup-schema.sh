#!/bin/sh
# Creates Temporal's two PostgreSQL databases and brings their schemas to the versions the server
# needs. Run it before temporal-server starts, on every start: each step is a no-op once done.
# Two callers, one script: the temporal-schema job of docker-compose.yml (temporalio/admin-tools,
# whose temporal-sql-tool and schemas are the defaults below) and scripts/cluster.ts (the cluster
# tier: the temporal-sql-tool and schemas scripts/ensure-cluster-tools.sh built). POSIX sh, for
# the image's busybox.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS (the PostgreSQL host) is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
sql_tool="${TEMPORAL_SQL_TOOL:-temporal-sql-tool}"
schema_dir="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"
# temporal-sql-tool reads the password from here: it stays off the command line (ps).
SQL_PASSWORD="${POSTGRES_PWD:-}"
export SQL_PASSWORD

sql() {
  "$sql_tool" --plugin postgres12 --endpoint "$POSTGRES_SEEDS" --port "${DB_PORT:-5432}" \
    --user "$POSTGRES_USER" "$@"
}

for database in temporal temporal_visibility; do
  case "$database" in
    temporal) versioned="$schema_dir/temporal/versioned" ;;
    *) versioned="$schema_dir/visibility/versioned" ;;
  esac
  if [ ! -d "$versioned" ]; then
    echo "no versioned schema at $versioned: set TEMPORAL_SCHEMA_DIR to a schema/postgresql/v12 directory" >&2
    exit 1
  fi
  sql --database "$database" create-database
  sql --database "$database" setup-schema --version 0.0
  sql --database "$database" update-schema --schema-dir "$versioned"
  echo "$database: schema up to date"
done
