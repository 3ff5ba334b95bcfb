#!/usr/bin/env bash
# Hangar's foundation benchmark: one-row V2 inference over HTTP against Hangar
# (reference GBDT and MLP) and against the HTTP floor (bench/http-floor: the
# same wire parsing, a fixed answer, no model), then the in-process criterion
# floor (crates/hangar-runtime/benches/inference.rs).
#
# Usage: bench/run.sh
#
# Settings (environment):
#   BENCH_DURATION     measured time per run, as oha's -z takes it   [10s]
#   BENCH_WARMUP       unmeasured warm-up before each run             [3s]
#   BENCH_CONCURRENCY  connections per run, space-separated           ["1 16 64"]
#   BENCH_CRITERION    quick | full | skip (criterion's own defaults) [quick]
#   ORT_DYLIB_PATH     libonnxruntime.so [vendor/onnxruntime/libonnxruntime.so]
#
# Prints a markdown table on stdout and progress on stderr; raw results go to
# bench/results/<UTC timestamp>/ (git-ignored), with bench/results/latest
# pointing at the newest. Traffic goes to 127.0.0.1 only. Every process the
# script starts is stopped on exit, by PID.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${BENCH_DURATION:-10s}"
WARMUP="${BENCH_WARMUP:-3s}"
CONCURRENCY="${BENCH_CONCURRENCY:-1 16 64}"
CRITERION="${BENCH_CRITERION:-quick}"
ORT="${ORT_DYLIB_PATH:-$REPO/vendor/onnxruntime/libonnxruntime.so}"
BODY="$REPO/bench/bodies/one_row.json"
CARGO_TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
MODELS=(gbdt mlp)

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$REPO/bench/results/$STAMP"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hangar-bench.XXXXXX")"
PIDS=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            log "stopping PID $pid"
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    PIDS=()
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A loopback port nobody is listening on.
free_port() {
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "no free loopback port found"
}

# wait_ready URL PID NAME: polls URL until it answers 200, while PID lives.
wait_ready() {
    local url="$1" pid="$2" name="$3"
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (see $RESULTS/$name.log)"
        if curl -fsS -o /dev/null "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$name did not become ready within 30 s (see $RESULTS/$name.log)"
}

load_1m() { cut -d' ' -f1 /proc/loadavg; }

# ---------------------------------------------------------------- prerequisites
command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
command -v jq >/dev/null || die "jq is needed to read oha's JSON (apt-get install jq)"
[ -f "$ORT" ] || die "ONNX Runtime not found at $ORT: run \`make setup\` or set ORT_DYLIB_PATH"
[ -f "$BODY" ] || die "request body $BODY is missing"
case "$CRITERION" in quick | full | skip) ;; *) die "BENCH_CRITERION must be quick, full or skip" ;; esac
mkdir -p "$RESULTS"
ln -sfn "$STAMP" "$REPO/bench/results/latest"
log "raw results go to $RESULTS"

# ---------------------------------------------------------------- build
log "building release binaries (cargo build --release -p hangar -p hangar-http-floor)"
(cd "$REPO" && cargo build --release -p hangar -p hangar-http-floor) >&2
if [ "$CRITERION" != skip ]; then
    # Built now so no compiler competes for the CPU while HTTP runs are measured.
    log "building the criterion bench (cargo bench -p hangar-runtime --bench inference --no-run)"
    (cd "$REPO" && cargo bench -p hangar-runtime --bench inference --no-run) >&2
fi
HANGAR_BIN="$CARGO_TARGET/release/hangar"
FLOOR_BIN="$CARGO_TARGET/release/hangar-http-floor"

if command -v oha >/dev/null; then
    OHA="$(command -v oha)"
elif [ -x "$HOME/.cargo/bin/oha" ]; then
    OHA="$HOME/.cargo/bin/oha"
else
    log "oha is not on PATH: installing it with \`cargo install oha --locked\` (a few minutes)"
    cargo install oha --locked >&2
    OHA="$HOME/.cargo/bin/oha"
fi
log "load generator: $("$OHA" --version)"

# ---------------------------------------------------------------- machine
{
    echo "date (UTC): $STAMP"
    echo "nproc: $(nproc)"
    lscpu | grep -v '^Flags' | head -n 20
    echo
    free -h
    echo
    rustc --version
    echo "oha: $("$OHA" --version)"
    echo "onnxruntime: $ORT"
    echo "git: $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$REPO" && git diff --quiet 2>/dev/null || echo ' (work tree has changes)')"
    echo "load average before runs: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "settings: duration=$DURATION warm-up=$WARMUP concurrency=\"$CONCURRENCY\" criterion=$CRITERION"
} >"$RESULTS/machine.txt"

# ---------------------------------------------------------------- Hangar
HANGAR_PORT="$(free_port)"
HANGAR="http://127.0.0.1:$HANGAR_PORT"
log "starting Hangar on $HANGAR (data in $WORK/data)"
ORT_DYLIB_PATH="$ORT" "$HANGAR_BIN" serve --data-dir "$WORK/data" --addr "127.0.0.1:$HANGAR_PORT" \
    >"$RESULTS/hangar.log" 2>&1 &
HANGAR_PID=$!
PIDS+=("$HANGAR_PID")
wait_ready "$HANGAR/v2/health/ready" "$HANGAR_PID" hangar

for m in "${MODELS[@]}"; do
    log "registering and deploying $m"
    curl -fsS -o /dev/null -X POST "$HANGAR/api/v1/models" \
        -H 'content-type: application/json' -d "{\"name\":\"$m\"}"
    curl -fsS -o /dev/null -X POST "$HANGAR/api/v1/models/$m/versions" \
        -F "artifact=@$REPO/testdata/reference/models/$m/model.onnx"
    curl -fsS -o /dev/null -X PUT "$HANGAR/api/v1/deployments/$m" \
        -H 'content-type: application/json' -d "{\"model\":\"$m:1\"}"
    curl -fsS "$HANGAR/v2/models/$m/infer" -H 'content-type: application/json' --data-binary "@$BODY" \
        >"$RESULTS/sample-$m.response.json"
    jq -e '.outputs | length > 0' "$RESULTS/sample-$m.response.json" >/dev/null ||
        die "$m answered without outputs: $(cat "$RESULTS/sample-$m.response.json")"
done

# ---------------------------------------------------------------- HTTP floor
FLOOR_PORT="$(free_port)"
FLOOR="http://127.0.0.1:$FLOOR_PORT"
log "starting the HTTP floor on $FLOOR"
"$FLOOR_BIN" --addr "127.0.0.1:$FLOOR_PORT" >"$RESULTS/floor.log" 2>&1 &
FLOOR_PID=$!
PIDS+=("$FLOOR_PID")
wait_ready "$FLOOR/v2/health/ready" "$FLOOR_PID" floor
curl -fsS "$FLOOR/v2/models/floor/infer" -H 'content-type: application/json' --data-binary "@$BODY" \
    >"$RESULTS/sample-floor.response.json"

# ---------------------------------------------------------------- load
# oha_run NAME URL CONCURRENCY: a warm-up, then the measured run as JSON.
# -w lets requests in flight at the deadline finish, so they are neither
# dropped from the latencies nor counted as errors.
oha_run() {
    local name="$1" url="$2" c="$3"
    local common=(--no-tui -m POST -H 'content-type: application/json' -D "$BODY" -c "$c" -w)
    log "$name c=$c: warm-up $WARMUP"
    "$OHA" "${common[@]}" -z "$WARMUP" --output-format json "$url" >"$RESULTS/warmup-$name-c$c.json"
    local load
    load="$(load_1m)"
    log "$name c=$c: measuring $DURATION (load average $load)"
    "$OHA" "${common[@]}" -z "$DURATION" --output-format json "$url" >"$RESULTS/oha-$name-c$c.json"
    echo "$load" >"$RESULTS/load-$name-c$c.txt"
}

TARGETS=("hangar-gbdt|$HANGAR/v2/models/gbdt/infer" "hangar-mlp|$HANGAR/v2/models/mlp/infer" "floor|$FLOOR/v2/models/floor/infer")
for t in "${TARGETS[@]}"; do
    for c in $CONCURRENCY; do
        oha_run "${t%%|*}" "${t#*|}" "$c"
    done
done

# Stopped before the criterion run so idle servers take nothing from it.
log "stopping the servers"
for pid in "$HANGAR_PID" "$FLOOR_PID"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
PIDS=()

# ---------------------------------------------------------------- table
# Latencies in oha's JSON are seconds; errors are non-2xx answers plus
# connection and other client-side errors.
row() {
    local name="$1" c="$2" floor_rps="$3"
    jq -r --arg name "$name" --arg c "$c" --arg load "$(cat "$RESULTS/load-$name-c$c.txt")" --argjson floor "$floor_rps" '
        def ms: if . == null then "–" else (. * 1000000 | round / 1000 | tostring) + " ms" end;
        ([.statusCodeDistribution // {} | to_entries[] | select((.key | tonumber) < 200 or (.key | tonumber) >= 300) | .value] | add // 0) as $non2xx |
        ([.errorDistribution // {} | to_entries[] | .value] | add // 0) as $errs |
        .summary.requestsPerSec as $rps |
        "| \($name) | \($c) | \($rps | round) | \(if $floor > 0 then (($rps / $floor * 100) | round | tostring) + " %" else "–" end) | \(.latencyPercentiles.p50 | ms) | \(.latencyPercentiles.p99 | ms) | \($non2xx + $errs) | \($load) |"
    ' "$RESULTS/oha-$name-c$c.json"
}

{
    echo "| target | concurrency | requests/s | of floor | p50 | p99 | errors | load (1 min) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for t in "${TARGETS[@]}"; do
        name="${t%%|*}"
        for c in $CONCURRENCY; do
            floor_rps="$(jq '.summary.requestsPerSec' "$RESULTS/oha-floor-c$c.json")"
            row "$name" "$c" "$floor_rps"
        done
    done
} >"$RESULTS/table.md"

# ---------------------------------------------------------------- criterion
if [ "$CRITERION" != skip ]; then
    crit_args=()
    if [ "$CRITERION" = quick ]; then
        crit_args=(--warm-up-time 1 --measurement-time 3)
    fi
    log "running the criterion floor ($CRITERION): cargo bench -p hangar-runtime --bench inference"
    (cd "$REPO" && ORT_DYLIB_PATH="$ORT" cargo bench -p hangar-runtime --bench inference -- "${crit_args[@]}") \
        >"$RESULTS/criterion.txt" 2>"$RESULTS/criterion.stderr"
    {
        echo "| benchmark | median | mean | rows/s |"
        echo "|---|---:|---:|---:|"
        for m in "${MODELS[@]}"; do
            for n in 1 64; do
                est="$CARGO_TARGET/criterion/infer_$m/rows/$n/new/estimates.json"
                [ -f "$est" ] || continue
                jq -r --arg name "infer/$m/rows/$n" --argjson n "$n" '
                    def us: (. / 10 | round / 100 | tostring) + " µs";
                    "| \($name) | \(.median.point_estimate | us) | \(.mean.point_estimate | us) | \($n * 1e9 / .median.point_estimate | round) |"
                ' "$est"
            done
        done
    } >"$RESULTS/criterion.md"
fi

# ---------------------------------------------------------------- report
log "done; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
echo "## HTTP: one-row V2 requests ($DURATION per run after $WARMUP warm-up; oha $("$OHA" --version | awk '{print $2}'))"
echo
cat "$RESULTS/table.md"
if [ -f "$RESULTS/criterion.md" ]; then
    echo
    echo "## In process: LoadedModel::infer (criterion, $CRITERION)"
    echo
    cat "$RESULTS/criterion.md"
fi
echo
echo "Raw results: $RESULTS"
