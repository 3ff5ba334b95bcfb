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
#   BENCH_WARMUP       unmeasured warm-up before each run             [2s]
#   BENCH_ROUNDS       runs per target and concurrency; the median is shown [3]
#   BENCH_CONCURRENCY  connections per run, space-separated           ["1 16 64"]
#   BENCH_CRITERION    quick | full | skip (criterion's own defaults) [quick]
#   BENCH_NOLOG        1: also drive a GBDT deployment with the prediction
#                      log off ("settings": {"log_predictions": false})   [0]
#   BENCH_TOKEN        the administrator token the servers start with and
#                      every request carries       [bench-admin-token-0123456789]
#   ORT_DYLIB_PATH     libonnxruntime.so [vendor/onnxruntime/libonnxruntime.so]
#
# Prints a markdown table on stdout and progress on stderr; raw results go to
# bench/results/<UTC timestamp>/ (git-ignored), with bench/results/latest
# pointing at the newest. Traffic goes to 127.0.0.1 only. Every process the
# script starts is stopped on exit, by PID.
set -euo pipefail
# Hangar denies requests without a credential: every server here starts with
# this administrator token and every request (to Hangar, and for equal
# request sizes to the floor and MLServer too) carries it.
BENCH_TOKEN="${BENCH_TOKEN:-bench-admin-token-0123456789}"
AUTH_HEADER="authorization: Bearer $BENCH_TOKEN"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${BENCH_DURATION:-10s}"
WARMUP="${BENCH_WARMUP:-2s}"
ROUNDS="${BENCH_ROUNDS:-3}"
CONCURRENCY="${BENCH_CONCURRENCY:-1 16 64}"
CRITERION="${BENCH_CRITERION:-quick}"
NOLOG="${BENCH_NOLOG:-0}"
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
        if curl -fsS -H "$AUTH_HEADER" -o /dev/null "$url" 2>/dev/null; then
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
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a whole number of at least 1"
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
    echo "settings: duration=$DURATION warm-up=$WARMUP rounds=$ROUNDS concurrency=\"$CONCURRENCY\" criterion=$CRITERION nolog=$NOLOG"
} >"$RESULTS/machine.txt"

# ---------------------------------------------------------------- Hangar
HANGAR_PORT="$(free_port)"
HANGAR="http://127.0.0.1:$HANGAR_PORT"
log "starting Hangar on $HANGAR (data in $WORK/data)"
HANGAR_ADMIN_TOKEN="$BENCH_TOKEN" ORT_DYLIB_PATH="$ORT" "$HANGAR_BIN" serve --data-dir "$WORK/data" --addr "127.0.0.1:$HANGAR_PORT" \
    >"$RESULTS/hangar.log" 2>&1 &
HANGAR_PID=$!
PIDS+=("$HANGAR_PID")
wait_ready "$HANGAR/v2/health/ready" "$HANGAR_PID" hangar

for m in "${MODELS[@]}"; do
    log "registering and deploying $m"
    curl -fsS -H "$AUTH_HEADER" -o /dev/null -X POST "$HANGAR/api/v1/models" \
        -H 'content-type: application/json' -d "{\"name\":\"$m\"}"
    curl -fsS -H "$AUTH_HEADER" -o /dev/null -X POST "$HANGAR/api/v1/models/$m/versions" \
        -F "artifact=@$REPO/testdata/reference/models/$m/model.onnx"
    curl -fsS -H "$AUTH_HEADER" -o /dev/null -X PUT "$HANGAR/api/v1/deployments/$m" \
        -H 'content-type: application/json' -d "{\"model\":\"$m:1\"}"
    curl -fsS -H "$AUTH_HEADER" "$HANGAR/v2/models/$m/infer" -H 'content-type: application/json' --data-binary "@$BODY" \
        >"$RESULTS/sample-$m.response.json"
    jq -e '.outputs | length > 0' "$RESULTS/sample-$m.response.json" >/dev/null ||
        die "$m answered without outputs: $(cat "$RESULTS/sample-$m.response.json")"
done

if [ "$NOLOG" = 1 ]; then
    log "deploying gbdt:1 again as gbdt-nolog, with the prediction log off"
    curl -fsS -H "$AUTH_HEADER" -o /dev/null -X PUT "$HANGAR/api/v1/deployments/gbdt-nolog" \
        -H 'content-type: application/json' -d '{"model":"gbdt:1","settings":{"log_predictions":false}}'
fi

# ---------------------------------------------------------------- HTTP floor
FLOOR_PORT="$(free_port)"
FLOOR="http://127.0.0.1:$FLOOR_PORT"
log "starting the HTTP floor on $FLOOR"
"$FLOOR_BIN" --addr "127.0.0.1:$FLOOR_PORT" >"$RESULTS/floor.log" 2>&1 &
FLOOR_PID=$!
PIDS+=("$FLOOR_PID")
wait_ready "$FLOOR/v2/health/ready" "$FLOOR_PID" floor
curl -fsS -H "$AUTH_HEADER" "$FLOOR/v2/models/floor/infer" -H 'content-type: application/json' --data-binary "@$BODY" \
    >"$RESULTS/sample-floor.response.json"

# ---------------------------------------------------------------- load
# CPU time in clock ticks: the whole machine's busy time, and one process's.
HZ="$(getconf CLK_TCK)"
machine_ticks() { awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
process_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
servers_ticks() { echo $(($(process_ticks "$HANGAR_PID") + $(process_ticks "$FLOOR_PID"))); }

# oha_run NAME URL CONCURRENCY ROUND: a warm-up, then the measured run as
# JSON, and where the CPU went meanwhile (in cores: the servers, oha, and
# everything else on the machine, e.g. other people's builds). -w lets
# requests in flight at the deadline finish, so they are neither dropped from
# the latencies nor counted as errors.
oha_run() {
    local name="$1" url="$2" c="$3" r="$4"
    local run="$name-c$c-r$r"
    local common=(--no-tui -m POST -H 'content-type: application/json' -H "$AUTH_HEADER" -D "$BODY" -c "$c" -w)
    "$OHA" "${common[@]}" -z "$WARMUP" --output-format json "$url" >"$RESULTS/warmup-$run.json"
    log "round $r/$ROUNDS: $name c=$c for $DURATION (load average $(load_1m))"
    local t0 m0 s0 t1 m1 s1 oha_cpu
    t0="$(date +%s.%N)" m0="$(machine_ticks)" s0="$(servers_ticks)"
    oha_cpu="$({ TIMEFORMAT='%U %S'; time "$OHA" "${common[@]}" -z "$DURATION" --output-format json "$url" \
        >"$RESULTS/oha-$run.json" 2>"$RESULTS/oha-$run.stderr"; } 2>&1)"
    t1="$(date +%s.%N)" m1="$(machine_ticks)" s1="$(servers_ticks)"
    awk -v t0="$t0" -v t1="$t1" -v hz="$HZ" -v m="$((m1 - m0))" -v s="$((s1 - s0))" -v oha="$oha_cpu" 'BEGIN {
        t = t1 - t0; split(oha, o, " "); oha_s = o[1] + o[2]; server = s / hz / t; client = oha_s / t;
        other = m / hz / t - server - client; if (other < 0) other = 0;
        printf "%.2f %.2f %.2f\n", server, client, other
    }' >"$RESULTS/cpu-$run.txt"
}

busy="$(pgrep -c -x rustc || true)"
if [ "${busy:-0}" -gt 0 ]; then
    log "warning: $busy rustc process(es) running on this machine; the 'other CPU' column shows what they took"
fi

TARGETS=("hangar-gbdt|$HANGAR/v2/models/gbdt/infer" "hangar-mlp|$HANGAR/v2/models/mlp/infer")
if [ "$NOLOG" = 1 ]; then
    TARGETS+=("hangar-gbdt-nolog|$HANGAR/v2/models/gbdt-nolog/infer")
fi
TARGETS+=("floor|$FLOOR/v2/models/floor/infer")
# Targets take turns within each round, so a change in background load
# touches Hangar and the floor alike; the table reports each cell's median
# round.
for r in $(seq 1 "$ROUNDS"); do
    for c in $CONCURRENCY; do
        for t in "${TARGETS[@]}"; do
            oha_run "${t%%|*}" "${t#*|}" "$c" "$r"
        done
    done
done

# Stopped before the criterion run so idle servers take nothing from it.
log "stopping the servers"
for pid in "$HANGAR_PID" "$FLOOR_PID"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
PIDS=()

# What Hangar complained about under load: each distinct warning or error,
# counted (a flooded log takes a while).
log "summarising Hangar's warnings ($(du -h "$RESULTS/hangar.log" | cut -f1) of log)"
LC_ALL=C sed -E 's/\x1b\[[0-9;]*m//g' "$RESULTS/hangar.log" | LC_ALL=C grep -E '^[^ ]+ +(WARN|ERROR) ' |
    LC_ALL=C sed -E 's/^[^ ]+ +(WARN|ERROR) (.*: )?([a-z_]+(::[a-z_]+)*): /\1 \3: /; s/ [a-z_]+=[^ ]*( [a-z_]+=[^ ]*)*$//' |
    LC_ALL=C sort | uniq -c | sort -rn >"$RESULTS/hangar-warnings.txt" || true

# ---------------------------------------------------------------- table
rps_of() { jq '.summary.requestsPerSec' "$RESULTS/oha-$1.json"; }

# The round with the median requests/s (the lower middle one for an even count).
median_round() {
    local name="$1" c="$2" r
    for r in $(seq 1 "$ROUNDS"); do
        echo "$(rps_of "$name-c$c-r$r") $r"
    done | sort -g | sed -n "$(((ROUNDS + 1) / 2))p" | cut -d' ' -f2
}

# One table row from the median round. Latencies in oha's JSON are seconds.
# Errors are non-2xx answers plus connection and other client-side errors,
# summed over every round. CPU columns are average cores busy in that round.
row() {
    local name="$1" c="$2" floor_rps="$3" r lo hi errors server client other
    r="$(median_round "$name" "$c")"
    read -r lo hi < <(for i in $(seq 1 "$ROUNDS"); do rps_of "$name-c$c-r$i"; done | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f %.0f\n", lo, hi }')
    errors="$(for i in $(seq 1 "$ROUNDS"); do
        jq '([.statusCodeDistribution // {} | to_entries[] | select((.key | tonumber) < 200 or (.key | tonumber) >= 300) | .value] | add // 0)
            + ([.errorDistribution // {} | to_entries[] | .value] | add // 0)' "$RESULTS/oha-$name-c$c-r$i.json"
    done | awk '{ s += $1 } END { print s + 0 }')"
    read -r server client other <"$RESULTS/cpu-$name-c$c-r$r.txt"
    jq -r --arg name "$name" --arg c "$c" --arg range "$lo–$hi" --arg errors "$errors" \
        --arg cpu "$server | $client | $other" --argjson floor "$floor_rps" '
        def ms: if . == null then "–" else (. * 1000000 | round) as $us
            | "\($us / 1000 | floor).\("00\($us % 1000)" | .[-3:]) ms" end;
        .summary.requestsPerSec as $rps |
        "| \($name) | \($c) | \($rps | round) | \($range) | \(if $floor > 0 then (($rps / $floor * 100) | round | tostring) + " %" else "–" end) | \(.latencyPercentiles.p50 | ms) | \(.latencyPercentiles.p99 | ms) | \($errors) | \($cpu) |"
    ' "$RESULTS/oha-$name-c$c-r$r.json"
}

{
    echo "| target | concurrency | requests/s | range ($ROUNDS rounds) | of floor | p50 | p99 | errors | server CPU | oha CPU | other CPU |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for t in "${TARGETS[@]}"; do
        name="${t%%|*}"
        for c in $CONCURRENCY; do
            floor_rps="$(rps_of "floor-c$c-r$(median_round floor "$c")")"
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
        echo "| benchmark | time (95 % CI) | median | rows/s |"
        echo "|---|---:|---:|---:|"
        for m in "${MODELS[@]}"; do
            for n in 1 64; do
                est="$CARGO_TARGET/criterion/infer_$m/rows/$n/new/estimates.json"
                [ -f "$est" ] || continue
                # Criterion's headline figure is the slope estimate (the mean when there is none).
                jq -r --arg name "infer/$m/rows/$n" --argjson n "$n" '
                    def us: (. / 10 | round / 100 | tostring) + " µs";
                    (.slope // .mean) as $t |
                    "| \($name) | \($t.point_estimate | us) [\($t.confidence_interval.lower_bound | us) – \($t.confidence_interval.upper_bound | us)] | \(.median.point_estimate | us) | \($n * 1e9 / $t.point_estimate | round) |"
                ' "$est"
            done
        done
    } >"$RESULTS/criterion.md"
fi

# ---------------------------------------------------------------- report
log "done; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
echo "## HTTP: one-row V2 requests (median of $ROUNDS rounds of $DURATION, each after $WARMUP warm-up; oha $("$OHA" --version | awk '{print $2}'))"
echo
cat "$RESULTS/table.md"
if [ -f "$RESULTS/criterion.md" ]; then
    echo
    echo "## In process: LoadedModel::infer (criterion, $CRITERION)"
    echo
    cat "$RESULTS/criterion.md"
fi
if [ -s "$RESULTS/hangar-warnings.txt" ]; then
    echo
    echo "Hangar's log during the runs (count, level, source: message):"
    echo
    sed 's/^ */    /' "$RESULTS/hangar-warnings.txt" | head -n 10
fi
echo
echo "Raw results: $RESULTS"
