#!/usr/bin/env bash
# A faithful seed-style gate script, the baseline release-promoter is measured against:
# sequential, one curl per probe, the burst as background curls (MODE=staging|production BASE=url).
set -u
BASE="${BASE:?set BASE}"
MODE="${MODE:-staging}"
BURST="${BURST:-30}"
fail=0
check() { # name expected-status curl-args...
  local name=$1 want=$2; shift 2
  local got
  got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@")
  if [[ "$got" == "$want" ]]; then echo "PASS $name ($got)"; else echo "FAIL $name (got $got, want $want)"; fail=1; fi
}
check health 200 "$BASE/health"
check db_health 200 "$BASE/db/health"
check chat_happy 200 -X POST -H 'content-type: application/json' -d '{"message":"hi"}' "$BASE/api/chat"
check chat_415 415 -X POST -H 'content-type: text/plain' -d 'hi' "$BASE/api/chat"
if [[ "$MODE" == "staging" ]]; then
  long=$(head -c 4000 /dev/zero | tr '\0' 'x')
  check cost_gate_chat 200 -X POST -H 'content-type: application/json' -d "{\"message\":\"$long\"}" "$BASE/api/chat"
  tmp=$(mktemp -d)
  for i in $(seq 1 "$BURST"); do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 -X POST -H 'content-type: application/json' -d '{"message":"burst"}' "$BASE/api/chat" > "$tmp/$i" &
  done
  wait
  limited=$(cat "$tmp"/* | grep -c '^429$' || true)
  errors=$(cat "$tmp"/* | grep -c '^5' || true)
  rm -rf "$tmp"
  if [[ "$limited" -ge 1 && "$errors" -eq 0 ]]; then echo "PASS burst_429 ($limited x 429)"; else echo "FAIL burst_429 ($limited x 429, $errors x 5xx)"; fail=1; fi
fi
exit $fail
