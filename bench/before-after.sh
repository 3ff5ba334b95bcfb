#!/usr/bin/env bash
# Two builds of Hangar side by side, in alternating rounds on one machine:
# one-row V2 inference on the reference GBDT (prediction log on, the
# default) at each concurrency, with oha. For "no slower" checks of a
# change: build the commit before it and the commit after it, then
#
#   bench/before-after.sh /tmp/hangar-before target/release/hangar
#
# Each round starts each binary fresh (its own data directory), pushes and
# deploys the GBDT, warms up, measures every concurrency, and stops it; the
# order of the two alternates from round to round. The table shows each
# cell's median round and every round's figure.
#
# Settings (environment):
#   BA_DURATION     measured time per run, as oha's -z takes it   [8s]
#   BA_WARMUP       unmeasured warm-up before each run             [2s]
#   BA_ROUNDS       rounds                                         [4]
#   BA_CONCURRENCY  connections per run, space-separated           ["1 64"]
#   BENCH_TOKEN     the administrator token the servers start with
#   ORT_DYLIB_PATH  libonnxruntime.so [vendor/onnxruntime/libonnxruntime.so]
#
# Prints a markdown table on stdout and progress on stderr; raw oha JSON
# goes to bench/results/before-after-<UTC timestamp>/. Traffic goes to
# 127.0.0.1 only; every process the script starts is stopped, by PID.
set -euo pipefail

[ $# -eq 2 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
BEFORE="$(realpath "$1")"
AFTER="$(realpath "$2")"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_TOKEN="${BENCH_TOKEN:-bench-admin-token-0123456789}"
DURATION="${BA_DURATION:-8s}"
WARMUP="${BA_WARMUP:-2s}"
ROUNDS="${BA_ROUNDS:-4}"
CONCURRENCY="${BA_CONCURRENCY:-1 64}"
ORT="${ORT_DYLIB_PATH:-$REPO/vendor/onnxruntime/libonnxruntime.so}"
BODY="$REPO/bench/bodies/one_row.json"
RESULTS="$REPO/bench/results/before-after-$(date -u +%Y%m%dT%H%M%SZ)"
LOG_TAG=before-after
WORK="$(mktemp -d)"
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

for bin in "$BEFORE" "$AFTER"; do [ -x "$bin" ] || die "$bin is not an executable"; done
[ -f "$ORT" ] || die "no ONNX Runtime library at $ORT (make setup)"
command -v jq >/dev/null || die "jq is needed to read oha's JSON"
OHA="$(find_oha)"
mkdir -p "$RESULTS"

# run_side NAME BINARY ROUND: one fresh server, every concurrency measured.
run_side() {
    local name="$1" bin="$2" round="$3" port c
    port="$(free_port)"
    URL="http://127.0.0.1:$port"
    rm -rf "$WORK/data"
    HANGAR_ADMIN_TOKEN="$BENCH_TOKEN" ORT_DYLIB_PATH="$ORT" "$bin" serve \
        --data-dir "$WORK/data" --addr "127.0.0.1:$port" >"$RESULTS/$name-r$round.log" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    wait_ready "$URL/v2/health/ready" "$PID" "$name"
    push_gbdt
    api -o /dev/null -X PUT "$URL/api/v1/deployments/gbdt-api" -d '{"model":"gbdt:1"}'
    for c in $CONCURRENCY; do
        log "round $round: $name, c=$c"
        "$OHA" --no-tui -z "$WARMUP" -c "$c" -m POST -H "authorization: Bearer $BENCH_TOKEN" \
            -H 'content-type: application/json' -D "$BODY" "$URL/v2/models/gbdt-api/infer" >/dev/null
        "$OHA" --no-tui --output-format json -z "$DURATION" -w -c "$c" -m POST \
            -H "authorization: Bearer $BENCH_TOKEN" -H 'content-type: application/json' -D "$BODY" \
            "$URL/v2/models/gbdt-api/infer" >"$RESULTS/$name-c$c-r$round.json"
    done
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PIDS=()
}

for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then
        run_side before "$BEFORE" "$r"
        run_side after "$AFTER" "$r"
    else
        run_side after "$AFTER" "$r"
        run_side before "$BEFORE" "$r"
    fi
done

median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
figure() { # SIDE C JQ-EXPRESSION
    for r in $(seq 1 "$ROUNDS"); do jq -r "$3" "$RESULTS/$1-c$2-r$r.json"; done
}
failed() { for r in $(seq 1 "$ROUNDS"); do jq -r '[.statusCodeDistribution | to_entries[] | select(.key != "200") | .value] | add // 0' "$RESULTS/$1-c$2-r$r.json"; done | paste -sd+ | bc; }

echo "| build | c | requests/s (median) | each round | p50 ms | p99 ms | non-200 |"
echo "|---|---:|---:|---|---:|---:|---:|"
for c in $CONCURRENCY; do
    for side in before after; do
        printf '| %s | %s | %.0f | %s | %.3f | %.3f | %s |\n' "$side" "$c" \
            "$(figure "$side" "$c" '.summary.requestsPerSec' | median)" \
            "$(figure "$side" "$c" '.summary.requestsPerSec | floor' | paste -sd/)" \
            "$(figure "$side" "$c" '.latencyPercentiles.p50 * 1000' | median)" \
            "$(figure "$side" "$c" '.latencyPercentiles.p99 * 1000' | median)" \
            "$(failed "$side" "$c")"
    done
done
log "raw results in $RESULTS"
