#!/usr/bin/env bash
# Overload: what the requests Hangar accepts see when far more arrive than it
# can serve. Measures the capacity of a one-row GBDT deployment (64
# connections), then drives it with many more connections than its queue
# holds. Requests past the queue are shed at once (429, before their body is
# read); the ones accepted wait at most for a full queue ahead of them, so
# their p99 should stay within twice the queue's delay bound:
#
#   delay bound = queue_capacity / capacity (the time a full queue takes to drain)
#
# Usage: bench/overload.sh
#
# Settings (environment):
#   OVERLOAD_QUEUE        the deployment's queue_capacity               [128]
#   OVERLOAD_CONNECTIONS  connections during the overload               [1024]
#   OVERLOAD_DURATION     length of each run, as oha's -z takes it      [15s]
#   BENCH_SKIP_BUILD 1: measure target/release/hangar as it is, without building  [0]
#   BENCH_TOKEN           the administrator token                       [bench-admin-token-0123456789]
#   ORT_DYLIB_PATH        libonnxruntime.so [vendor/onnxruntime/libonnxruntime.so]
#
# Prints a markdown table on stdout; raw results go to
# bench/results/overload-<UTC timestamp>/ (git-ignored). Traffic goes to
# 127.0.0.1 only; the server started here is stopped on exit, by PID.
set -euo pipefail
BENCH_TOKEN="${BENCH_TOKEN:-bench-admin-token-0123456789}"
AUTH_HEADER="authorization: Bearer $BENCH_TOKEN"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QUEUE="${OVERLOAD_QUEUE:-128}"
CONNECTIONS="${OVERLOAD_CONNECTIONS:-1024}"
DURATION="${OVERLOAD_DURATION:-15s}"
ORT="${ORT_DYLIB_PATH:-$REPO/vendor/onnxruntime/libonnxruntime.so}"
BODY="$REPO/bench/bodies/one_row.json"
CARGO_TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$REPO/bench/results/overload-$STAMP"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hangar-overload.XXXXXX")"
LOG_TAG=overload
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

command -v curl >/dev/null || die "curl is needed"
command -v jq >/dev/null || die "jq is needed to read oha's JSON"
[ -f "$ORT" ] || die "ONNX Runtime not found at $ORT: run \`make setup\` or set ORT_DYLIB_PATH"
mkdir -p "$RESULTS"
# Each connection is a descriptor on both sides.
ulimit -n "$((CONNECTIONS * 2 + 1024))" 2>/dev/null || log "could not raise the descriptor limit; oha may fail to open $CONNECTIONS connections"

build_release
OHA="$(find_oha)"

start_hangar
push_gbdt
api -o /dev/null -X PUT "$URL/api/v1/deployments/gbdt" -d "{\"model\":\"gbdt:1\",\"settings\":{\"queue_capacity\":$QUEUE}}"

OHA_ARGS=(--no-tui -m POST -H 'content-type: application/json' -H "$AUTH_HEADER" -D "$BODY" -w
    --stats-success-breakdown --output-format json)
log "capacity: 64 connections for $DURATION"
"$OHA" "${OHA_ARGS[@]}" -c 64 -z "$DURATION" "$URL/v2/models/gbdt/infer" >"$RESULTS/capacity.json"
log "overload: $CONNECTIONS connections for $DURATION"
"$OHA" "${OHA_ARGS[@]}" -c "$CONNECTIONS" -z "$DURATION" "$URL/v2/models/gbdt/infer" >"$RESULTS/overload.json"
SHED_LINES="$(grep -c 'requests shed' "$RESULTS/hangar.log" || true)"

# Latencies in oha's JSON are seconds. Successful-only percentiles come from
# --stats-success-breakdown.
jq -r -s --argjson queue "$QUEUE" --arg conns "$CONNECTIONS" --arg lines "$SHED_LINES" '
    def count(f): [.statusCodeDistribution // {} | to_entries[] | select(.key | f) | .value] | add // 0;
    def ms: . * 100000 | round / 100;
    .[0] as $cap | .[1] as $over |
    ($cap.summary.requestsPerSec) as $capacity |
    ($queue / $capacity) as $bound |
    ($over.latencyPercentilesSuccessful // $over.latencyPercentiles) as $ok |
    "| run | connections | requests/s | 200 | 429 | other | p50 accepted | p99 accepted | delay bound | p99 / bound |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    "| capacity | 64 | \($capacity | round) | \($cap | count(. == "200")) | \($cap | count(. == "429")) | \($cap | count(. != "200" and . != "429")) | \(($cap.latencyPercentilesSuccessful // $cap.latencyPercentiles).p50 | ms) ms | \(($cap.latencyPercentilesSuccessful // $cap.latencyPercentiles).p99 | ms) ms | – | – |",
    "| overload | \($conns) | \($over.summary.requestsPerSec | round) | \($over | count(. == "200")) | \($over | count(. == "429")) | \($over | count(. != "200" and . != "429")) | \($ok.p50 | ms) ms | \($ok.p99 | ms) ms | \($bound | ms) ms | \(($ok.p99 / $bound) * 100 | round / 100) |",
    "",
    "queue_capacity \($queue); delay bound = queue_capacity / capacity; shedding warnings in the server log: \($lines) (at most one a second)"
' "$RESULTS/capacity.json" "$RESULTS/overload.json" | tee "$RESULTS/table.md"
log "done; raw results in $RESULTS"
