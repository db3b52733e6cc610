#!/bin/sh
# Once the server answers: registers the namespace release-promoter runs in and the Keyword search
# attributes its workflows upsert (an unregistered one makes every workflow task fail). A no-op
# for what exists already. Two callers, one script: the temporal-namespace job of
# docker-compose.yml (temporalio/admin-tools, whose `temporal` CLI is the default) and
# scripts/cluster.ts (the cluster tier, with the CLI scripts/ensure-temporal.sh finds; it passes
# SEARCH_ATTRIBUTE_KEYS of src/workflows/messages.ts). POSIX sh, for the image's busybox.
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS (host:port of the frontend) is required}"
: "${SEARCH_ATTRIBUTES:?SEARCH_ATTRIBUTES (the Keyword attributes, space-separated) is required}"
namespace="${TEMPORAL_NAMESPACE:-default}"
retention="${TEMPORAL_NAMESPACE_RETENTION:-72h}"
cli="${TEMPORAL_CLI:-temporal}"
attempts="${REGISTER_ATTEMPTS:-120}"

for name in $SEARCH_ATTRIBUTES; do
  case "$name" in
    *[!A-Za-z0-9_]*)
      echo "SEARCH_ATTRIBUTES: '$name' is not an attribute name (letters, digits, _)" >&2
      exit 1
      ;;
  esac
done

# Runs "$@" until it succeeds, once a second, at most $attempts times; then prints its last output.
retry() {
  what="$1"
  shift
  attempt=1
  while ! out="$("$@" 2>&1)"; do
    if [ "$attempt" -ge "$attempts" ]; then
      echo "$what: still failing after $attempts attempts: $out" >&2
      exit 1
    fi
    attempt=$((attempt + 1))
    sleep 1
  done
}

ensure_namespace() {
  "$cli" operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$namespace" >/dev/null 2>&1 ||
    "$cli" operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$namespace" --retention "$retention"
}

# One name per call: the CLI pairs each --name with a --type. The server skips a name it has
# already, so creating every one each time is safe.
create_search_attributes() {
  for name in $SEARCH_ATTRIBUTES; do
    "$cli" operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$namespace" \
      --name "$name" --type Keyword || return 1
  done
}

# Registered means listed: the frontend's namespace cache can lag a fresh namespace by seconds.
search_attributes_listed() {
  listed="$("$cli" operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$namespace")"
  for name in $SEARCH_ATTRIBUTES; do
    printf '%s\n' "$listed" | grep -qw "$name" || return 1
  done
}

retry "waiting for the Temporal server at $TEMPORAL_ADDRESS" "$cli" operator cluster health --address "$TEMPORAL_ADDRESS"
retry "registering namespace $namespace" ensure_namespace
retry "registering search attributes $SEARCH_ATTRIBUTES" create_search_attributes
retry "listing search attributes $SEARCH_ATTRIBUTES" search_attributes_listed
echo "namespace $namespace with search attributes: $SEARCH_ATTRIBUTES"
