#!/usr/bin/env bash
# The prediction log's cost on serving: the reference GBDT at one
# concurrency (64 by default), with the prediction log on and, as the
# control, off — two deployments of the same version in one Hangar process,
# driven in turns within each round (control first in odd rounds, log first
# in even ones), so both see the same
# machine. One process serves every round, as a live server would: the log
# (and its aggregates) grow from round to round, and the monitoring work
# that runs in the background (alert evaluation: a window report per
# deployment at most once a minute) falls where it falls. (Restarting the
# process every round, as this script once did, put one such report in
# every round's few seconds instead of one a minute.) This is the `mon-off` / `hangar-log` pair of
# bench/compare.sh on its own, for quick iterations on the log's cost.
#
# Usage: bench/monitoring-cost.sh
#        MON_DATABASE=postgres://postgres@127.0.0.1:5432/DB bench/monitoring-cost.sh
#
# With MON_DATABASE the server keeps its metadata and the prediction log in
# that database (`hangar serve --database`) instead of the data directory's
# SQLite file; give it a fresh, empty database (the script neither creates
# nor drops it).
#
# Settings (environment):
#   MON_DURATION     measured time per run, as oha's -z takes it   [10s]
#   MON_WARMUP       unmeasured warm-up before each run             [2s]
#   MON_ROUNDS       rounds; the table shows each run's median     [3]
#   MON_CONCURRENCY  connections                                    [64]
#   MON_DATABASE     the metadata database URL, passed as --database
#                    [none: the data directory's SQLite file]
#   HANGAR_BIN       the hangar binary [target/release/hangar, built if missing]
#   ORT_DYLIB_PATH   libonnxruntime.so [vendor/onnxruntime/libonnxruntime.so]
#
# Prints a markdown table on stdout, progress on stderr; oha's JSON, the
# server log and /metrics after each round go to
# ${TMPDIR:-/tmp}/hangar-moncost-<UTC timestamp>/. Traffic goes to 127.0.0.1
# only; every process the script starts is stopped on exit, by PID.
set -euo pipefail
# Hangar denies requests without a credential: the server starts with this
# administrator token and every request carries it.
BENCH_TOKEN="${BENCH_TOKEN:-bench-admin-token-0123456789}"
AUTH_HEADER="authorization: Bearer $BENCH_TOKEN"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${MON_DURATION:-10s}"
WARMUP="${MON_WARMUP:-2s}"
ROUNDS="${MON_ROUNDS:-3}"
C="${MON_CONCURRENCY:-64}"
ORT="${ORT_DYLIB_PATH:-$REPO/vendor/onnxruntime/libonnxruntime.so}"
BIN="${HANGAR_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/hangar}"
BODY="$REPO/bench/bodies/one_row.json"
OHA="$(command -v oha || echo "$HOME/.cargo/bin/oha")"
RESULTS="${TMPDIR:-/tmp}/hangar-moncost-$(date -u +%Y%m%dT%H%M%SZ)"
DATABASE_ARGS=()
if [ -n "${MON_DATABASE:-}" ]; then
    DATABASE_ARGS=(--database "$MON_DATABASE")
fi
mkdir -p "$RESULTS"
PID=""

log() { printf '[moncost %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
stop() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    PID=""
}
trap stop EXIT
trap 'exit 130' INT TERM

[ -x "$OHA" ] || die "oha not found (cargo install oha --locked)"
[ -f "$ORT" ] || die "no $ORT (run scripts/fetch-onnxruntime.sh)"
if [ ! -x "$BIN" ]; then
    log "building the release binary"
    (cd "$REPO" && cargo build --release -p hangar >&2)
fi

free_port() {
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "no free loopback port"
}
PORT="$(free_port)"
URL="http://127.0.0.1:$PORT"
up() {
    HANGAR_ADMIN_TOKEN="$BENCH_TOKEN" ORT_DYLIB_PATH="$ORT" "$BIN" serve --data-dir "$RESULTS/data" ${DATABASE_ARGS[@]+"${DATABASE_ARGS[@]}"} --addr "127.0.0.1:$PORT" \
        >>"$RESULTS/hangar.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 300); do
        kill -0 "$PID" 2>/dev/null || die "hangar exited (see $RESULTS/hangar.log)"
        curl -fsS -H "$AUTH_HEADER" -o /dev/null "$URL/v2/health/ready" 2>/dev/null && return 0
        sleep 0.1
    done
    die "hangar did not become ready"
}

up
curl -fsS -H "$AUTH_HEADER" -o /dev/null -X POST "$URL/api/v1/models" -H 'content-type: application/json' -d '{"name":"gbdt"}'
curl -fsS -H "$AUTH_HEADER" -o /dev/null -X POST "$URL/api/v1/models/gbdt/versions" \
    -F "artifact=@$REPO/testdata/reference/models/gbdt/model.onnx"
for d in log-on:true log-off:false; do
    curl -fsS -H "$AUTH_HEADER" -o /dev/null -X PUT "$URL/api/v1/deployments/${d%%:*}" -H 'content-type: application/json' \
        -d "{\"model\":\"gbdt:1\",\"settings\":{\"log_predictions\":${d#*:}}}"
done
stop

HZ="$(getconf CLK_TCK)"
run() {
    local name="$1" r="$2" s0 s1 t0 t1
    "$OHA" --no-tui -m POST -H 'content-type: application/json' -H "$AUTH_HEADER" -D "$BODY" -c "$C" -z "$WARMUP" \
        --output-format json "$URL/v2/models/$name/infer" >/dev/null
    log "round $r: $name c=$C for $DURATION (load average $(cut -d' ' -f1 /proc/loadavg))"
    t0="$(date +%s.%N)" s0="$(awk '{ print $14 + $15 }' "/proc/$PID/stat")"
    "$OHA" --no-tui -m POST -H 'content-type: application/json' -H "$AUTH_HEADER" -D "$BODY" -c "$C" -z "$DURATION" -w \
        --output-format json "$URL/v2/models/$name/infer" >"$RESULTS/oha-$name-r$r.json"
    t1="$(date +%s.%N)" s1="$(awk '{ print $14 + $15 }' "/proc/$PID/stat")"
    awk -v t="$(echo "$t1 - $t0" | bc)" -v s="$((s1 - s0))" -v hz="$HZ" 'BEGIN { printf "%.2f\n", s / hz / t }' \
        >"$RESULTS/cpu-$name-r$r.txt"
}
up
for r in $(seq 1 "$ROUNDS"); do
    # Odd rounds run the control first, even rounds the log first, so a
    # drift of the machine's speed within a round does not favour one side.
    if [ $((r % 2)) -eq 1 ]; then
        run log-off "$r"
        run log-on "$r"
    else
        run log-on "$r"
        run log-off "$r"
    fi
    curl -fsS -H "$AUTH_HEADER" "$URL/metrics" >"$RESULTS/metrics-r$r.txt" || true
done
stop

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.9g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
stat() { # stat NAME JQ: the median over rounds
    for r in $(seq 1 "$ROUNDS"); do jq -r "$2" "$RESULTS/oha-$1-r$r.json"; done | median
}
cpu() { for r in $(seq 1 "$ROUNDS"); do cat "$RESULTS/cpu-$1-r$r.txt"; done | median; }
# Server CPU time per request (µs), median over rounds.
cpu_per_request() {
    for r in $(seq 1 "$ROUNDS"); do
        echo "$(cat "$RESULTS/cpu-$1-r$r.txt") $(jq -r '.summary.requestsPerSec' "$RESULTS/oha-$1-r$r.json")" |
            awk '{ printf "%.2f\n", $1 / $2 * 1e6 }'
    done | median
}
# The log's cost within each round (log on against the control of the same
# round and process), in percent.
ratios() {
    for r in $(seq 1 "$ROUNDS"); do
        echo "$(jq -r '.summary.requestsPerSec' "$RESULTS/oha-log-on-r$r.json") $(jq -r '.summary.requestsPerSec' "$RESULTS/oha-log-off-r$r.json")" |
            awk '{ printf "%+.1f\n", ($1 / $2 - 1) * 100 }'
    done
}
each() { for r in $(seq 1 "$ROUNDS"); do jq -r '.summary.requestsPerSec | floor' "$RESULTS/oha-$1-r$r.json"; done | paste -sd/; }
echo "| deployment | c | requests/s (median) | each round | p50 | p99 | server CPU (cores) | CPU per request |"
echo "|---|---|---|---|---|---|---|---|"
for name in log-off log-on; do
    printf '| %s | %s | %.0f | %s | %.3f ms | %.3f ms | %s | %s µs |\n' "$name" "$C" \
        "$(stat "$name" '.summary.requestsPerSec')" "$(each "$name")" \
        "$(echo "$(stat "$name" '.latencyPercentiles.p50') * 1000" | bc -l)" \
        "$(echo "$(stat "$name" '.latencyPercentiles.p99') * 1000" | bc -l)" "$(cpu "$name")" "$(cpu_per_request "$name")"
done
ON="$(stat log-on '.summary.requestsPerSec')" OFF="$(stat log-off '.summary.requestsPerSec')"
DROPPED="$(awk '/^hangar_prediction_log_dropped/ { s += $2 } END { print s + 0 }' "$RESULTS/metrics-r$ROUNDS.txt")"
echo
echo "log on against off${MON_DATABASE:+ (metadata and prediction log on ${MON_DATABASE%%://*})}: $(echo "($ON / $OFF - 1) * 100" | bc -l | xargs printf '%+.1f') % (median rounds); within each round: $(ratios | paste -sd' ') % (median $(ratios | median) %); rows dropped by the full buffer: $DROPPED; raw results in $RESULTS"
