#!/usr/bin/env bash
# Hangar beside MLServer and its own floors, on one machine in one go, with
# one load generator (oha) and the same V2 request body for every contender;
# then dynamic batching (on and off) and overload (load shedding with 429).
#
# Contenders, one-row V2 requests on the reference GBDT (bench/bodies/one_row.json):
#   hangar       target/release/hangar serve, GBDT deployed with the prediction log off
#   hangar-log   the same GBDT with the prediction log on (the default), at c=64
#                only, in a second Hangar process started just for its runs
#   mon-off      the GBDT with the log off in that second process, run just
#                before hangar-log: the same-process control
#   floor        target/release/hangar-http-floor: Hangar's wire parsing, a fixed answer
#   mlserver     MLServer (mlserver-sklearn) serving the reference model.joblib
#   criterion    the in-process floor (LoadedModel::infer, one row), no HTTP at all
# Batching, at c=64 (Hangar, prediction log off):
#   gbdt-b1 / gbdt-b64       GBDT, max_batch_size 1 / 64 with max_queue_delay_us 500
#   wide-b1 / wide-b64       a wide MLP (bench/make-wide-mlp.py), the same two settings
# Overload, at COMPARE_OVERLOAD_CONCURRENCY connections:
#   wide-shed                wide MLP, max_batch_size 1, queue_capacity 32
#
# Usage: bench/compare.sh
#
# Settings (environment):
#   COMPARE_DURATION     measured time per run, as oha's -z takes it      [10s]
#   COMPARE_WARMUP       unmeasured warm-up before each run                [2s]
#   COMPARE_ROUNDS       rounds; every run is repeated per round and the
#                        table shows each cell's median round              [3]
#   COMPARE_CONCURRENCY  connections for the contender runs                ["1 16 64"]
#   COMPARE_OVERLOAD_CONCURRENCY  connections for the overload run         [256]
#   COMPARE_CRITERION    quick | full | skip                               [quick]
#   COMPARE_MLSERVER     auto | skip (auto: skipped, with a message, when
#                        the reference model.joblib is missing)            [auto]
#   COMPARE_BUILD_WAIT   seconds to wait, over the whole script, for other
#                        people's rustc to end before measuring anyway
#                        (noted in the results)                            [600]
#   COMPARE_IDLE_WAIT    seconds to wait before each run for the machine to
#                        have fewer than COMPARE_IDLE_BUSY cores busy [60]
#   COMPARE_IDLE_BUSY    cores busy elsewhere that count as quiet         [0.5]
#   HANGAR_REFERENCE     reference folder holding models/gbdt/model.joblib [../shared/reference]
#   MLSERVER_VENV        MLServer's venv, created on first use and kept
#                        (pins in bench/mlserver/requirements.txt)         [$TMPDIR/hangar-compare-venv-mlserver]
#   ORT_DYLIB_PATH       libonnxruntime.so [vendor/onnxruntime/libonnxruntime.so,
#                        fetched by scripts/fetch-onnxruntime.sh when missing]
#
# The machine is shared: before every measured run (and before the criterion
# run) the script waits until no other benchmark is running (a process whose
# command line mentions bench/run.sh, oha or criterion that this script did
# not start), for up to COMPARE_BUILD_WAIT seconds until no rustc runs, and
# for up to COMPARE_IDLE_WAIT seconds until the machine is nearly idle.
#
# Prints a markdown table and the targets on stdout, progress on stderr; raw
# results (oha's JSON, server logs, CPU use, the machine) go to
# ${TMPDIR:-/tmp}/hangar-compare-<UTC timestamp>/. Traffic goes to 127.0.0.1
# only. Every process the script starts is stopped on exit, by PID.
set -euo pipefail
# Hangar denies requests without a credential: every server here starts with
# this administrator token and every request (to Hangar, and for equal
# request sizes to the floor and MLServer too) carries it.
BENCH_TOKEN="${BENCH_TOKEN:-bench-admin-token-0123456789}"
AUTH_HEADER="authorization: Bearer $BENCH_TOKEN"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${COMPARE_DURATION:-10s}"
WARMUP="${COMPARE_WARMUP:-2s}"
ROUNDS="${COMPARE_ROUNDS:-3}"
CONCURRENCY="${COMPARE_CONCURRENCY:-1 16 64}"
OVERLOAD_C="${COMPARE_OVERLOAD_CONCURRENCY:-256}"
CRITERION="${COMPARE_CRITERION:-quick}"
MLSERVER_MODE="${COMPARE_MLSERVER:-auto}"
BUILD_WAIT="${COMPARE_BUILD_WAIT:-600}"
IDLE_WAIT="${COMPARE_IDLE_WAIT:-60}"
IDLE_BUSY="${COMPARE_IDLE_BUSY:-0.5}"
REFERENCE="${HANGAR_REFERENCE:-$REPO/../shared/reference}"
TMP="${TMPDIR:-/tmp}"
VENV="${MLSERVER_VENV:-$TMP/hangar-compare-venv-mlserver}"
ORT="${ORT_DYLIB_PATH:-$REPO/vendor/onnxruntime/libonnxruntime.so}"
BODY="$REPO/bench/bodies/one_row.json"
CARGO_TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
# The concurrency the throughput, batching and monitoring targets are read at.
HIGH=64
# The overload run's deployment: one row per inference, at most this many waiting.
SHED_QUEUE=32

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$TMP/hangar-compare-$STAMP"
WORK="$(mktemp -d "$TMP/hangar-compare-work.XXXXXX")"
PIDS=()

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Every descendant of a PID (children first found, then theirs).
descendants() {
    local child
    for child in $(pgrep -P "$1" 2>/dev/null || true); do
        echo "$child"
        descendants "$child"
    done
}

# Stops a process this script started, and whatever it started in turn
# (MLServer's inference pool workers), by PID.
stop_tree() {
    local pid="$1" kids p
    kill -0 "$pid" 2>/dev/null || return 0
    kids="$(descendants "$pid")"
    log "stopping PID $pid${kids:+ and its children $(echo $kids)}"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in $kids; do
        kill -0 "$p" 2>/dev/null && kill "$p" 2>/dev/null || true
    done
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        stop_tree "$pid"
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

# wait_ready URL PID NAME [TRIES]: polls URL until it answers 200, while PID lives.
wait_ready() {
    local url="$1" pid="$2" name="$3" tries="${4:-300}"
    for _ in $(seq 1 "$tries"); do
        kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (see $RESULTS/$name.log)"
        if curl -fsS -H "$AUTH_HEADER" -o /dev/null "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$name did not become ready within $((tries / 10)) s (see $RESULTS/$name.log)"
}

# ---------------------------------------------------------------- sharing the machine
# This script and everything above it (the shell that started it may mention
# the same words) or below it is not "someone else's benchmark".
MINE=" $$ "
p=$$
while [ "$p" -gt 1 ] 2>/dev/null; do
    p="$(awk '{ print $4 }' "/proc/$p/stat" 2>/dev/null || echo 1)"
    MINE+="$p "
done
is_mine() {
    local p="$1"
    case "$MINE" in *" $p "*) return 0 ;; esac
    while [ "$p" -gt 1 ] 2>/dev/null; do
        p="$(awk '{ print $4 }' "/proc/$p/stat" 2>/dev/null || echo 1)"
        [ "$p" = "$$" ] && return 0
    done
    return 1
}
# Someone else's load generator or benchmark: bench/run.sh, oha, criterion
# (the criterion bench binary is target/release/deps/inference-<hash>).
OTHER_BENCH='bench/run\.sh|(^|/)oha( |$)|criterion|/deps/inference-[0-9a-f]+'
others() {
    local pid
    for pid in $(pgrep -f -- "$1" 2>/dev/null || true); do
        is_mine "$pid" || echo "$pid"
    done
}
NOTES="$RESULTS/notes.txt"
# Waits until the machine is free of other benchmarks (indefinitely: two
# benchmarks on 2 cores would both measure nonsense) and of compilers (for at
# most BUILD_WAIT seconds in all, then measures anyway and notes it).
wait_quiet() {
    local what="$1" others_now waited=0 seen=""
    while others_now="$(others "$OTHER_BENCH")"; [ -n "$others_now" ]; do
        if [ $((waited % 30)) -eq 0 ]; then
            log "waiting before $what: another benchmark is running (PIDs $(echo $others_now))"
            seen+="$(ps -o comm= -p "$(echo $others_now | tr ' ' ,)" 2>/dev/null | sort -u | paste -sd, -) "
        fi
        sleep 5
        waited=$((waited + 5))
    done
    while [ -n "$(pgrep -x rustc 2>/dev/null || true)" ]; do
        case "$seen" in *rustc*) ;; *) seen+="rustc " ;; esac
        if [ "$BUILD_SPENT" -ge "$BUILD_WAIT" ]; then
            log "warning: measuring $what while rustc runs (waited ${BUILD_WAIT}s in all already)"
            echo "$what: measured while rustc ran (load average $(cut -d' ' -f1-3 /proc/loadavg))" >>"$NOTES"
            break
        fi
        if [ $((BUILD_SPENT % 30)) -eq 0 ]; then
            log "waiting before $what: rustc is running ($BUILD_SPENT s of at most $BUILD_WAIT s)"
        fi
        sleep 5
        BUILD_SPENT=$((BUILD_SPENT + 5))
        waited=$((waited + 5))
    done
    # Then for the rest of the machine to calm down (other people's tests,
    # anything): up to IDLE_WAIT seconds, then measured anyway and noted.
    local busy idle_spent=0
    while busy="$(busy_cores)"; awk -v b="$busy" -v t="$IDLE_BUSY" 'BEGIN { exit !(b >= t) }'; do
        if [ "$idle_spent" -ge "$IDLE_WAIT" ]; then
            log "warning: measuring $what with $busy cores busy elsewhere"
            echo "$what: measured with $busy cores busy before it (waited ${IDLE_WAIT}s for less)" >>"$NOTES"
            break
        fi
        if [ $((idle_spent % 30)) -eq 0 ]; then
            log "waiting before $what: $busy cores busy elsewhere"
        fi
        idle_spent=$((idle_spent + 3))
        waited=$((waited + 3))
        case "$seen" in *load*) ;; *) seen+="load " ;; esac
    done
    if [ "$waited" -gt 0 ]; then
        echo "$what: waited ${waited}s for the machine (busy with: $(echo $seen))" >>"$NOTES"
    fi
}
BUILD_SPENT=0
# Cores busy over two seconds (the servers under test are idle meanwhile).
busy_cores() {
    local a b
    a="$(awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat)"
    sleep 2
    b="$(awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat)"
    awk -v d="$((b - a))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f\n", d / hz / 2 }'
}

# ---------------------------------------------------------------- prerequisites
command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
command -v jq >/dev/null || die "jq is needed to read oha's JSON (apt-get install jq)"
[ -f "$BODY" ] || die "request body $BODY is missing"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "COMPARE_ROUNDS must be a whole number of at least 1"
[[ "$OVERLOAD_C" =~ ^[1-9][0-9]*$ ]] || die "COMPARE_OVERLOAD_CONCURRENCY must be a whole number of at least 1"
[[ "$BUILD_WAIT" =~ ^[0-9]+$ ]] || die "COMPARE_BUILD_WAIT must be a whole number of seconds"
[[ "$IDLE_WAIT" =~ ^[0-9]+$ ]] || die "COMPARE_IDLE_WAIT must be a whole number of seconds"
[[ "$IDLE_BUSY" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "COMPARE_IDLE_BUSY must be a number of cores, such as 0.5"
case "$CRITERION" in quick | full | skip) ;; *) die "COMPARE_CRITERION must be quick, full or skip" ;; esac
case "$MLSERVER_MODE" in auto | skip) ;; *) die "COMPARE_MLSERVER must be auto or skip" ;; esac
for c in $CONCURRENCY; do
    [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "COMPARE_CONCURRENCY takes whole numbers, not \"$c\""
done
mkdir -p "$RESULTS"
: >"$NOTES"
log "raw results go to $RESULTS"

if [ ! -f "$ORT" ]; then
    [ -z "${ORT_DYLIB_PATH:-}" ] || die "ORT_DYLIB_PATH=$ORT does not exist"
    log "ONNX Runtime is missing: scripts/fetch-onnxruntime.sh"
    "$REPO/scripts/fetch-onnxruntime.sh" >&2
fi

WIDE=1
if ! python3 -c 'import onnx, numpy' 2>/dev/null; then
    WIDE=0
    log "python3 with the onnx and numpy packages is missing: the wide-MLP batching and overload runs are skipped"
    echo "wide MLP: skipped (python3 -c 'import onnx, numpy' failed)" >>"$NOTES"
fi

JOBLIB="$REFERENCE/models/gbdt/model.joblib"
MLSERVER=0
if [ "$MLSERVER_MODE" = skip ]; then
    log "MLServer skipped (COMPARE_MLSERVER=skip)"
elif [ ! -f "$JOBLIB" ]; then
    log "MLServer skipped: no reference model at $JOBLIB (set HANGAR_REFERENCE to the folder holding models/gbdt/model.joblib)"
    echo "MLServer: skipped, $JOBLIB not found" >>"$NOTES"
else
    MLSERVER=1
fi

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

if [ "$MLSERVER" = 1 ]; then
    if [ ! -x "$VENV/bin/mlserver" ]; then
        log "creating MLServer's venv in $VENV (pip install -r bench/mlserver/requirements.txt; a few minutes)"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet -r "$REPO/bench/mlserver/requirements.txt" >&2
    fi
    MLSERVER_VERSION="$("$VENV/bin/mlserver" --version 2>/dev/null | awk '{ print $NF }')"
    log "MLServer $MLSERVER_VERSION from $VENV"
fi

# ---------------------------------------------------------------- machine
{
    echo "date (UTC): $STAMP"
    echo "nproc: $(nproc)"
    lscpu | grep -E '^(Model name|Thread|Core|Socket|L2|L3|Hypervisor)' || true
    echo
    free -h
    echo
    rustc --version
    echo "oha: $("$OHA" --version)"
    # The library's version string (1.NN.N) is among its printable strings.
    echo "onnxruntime: $ORT (version $( (strings "$ORT" 2>/dev/null || true) | grep -m1 -xE '1\.[0-9]{2}\.[0-9]+' || echo unknown))"
    if [ "$MLSERVER" = 1 ]; then
        echo "mlserver: $MLSERVER_VERSION ($("$VENV/bin/python" --version); $("$VENV/bin/pip" list 2>/dev/null | grep -iE '^(mlserver-sklearn|scikit-learn|uvicorn|uvloop) ' | tr -s ' ' | paste -sd, -))"
    fi
    echo "git: $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$REPO" && git diff --quiet 2>/dev/null || echo ' (work tree has changes)')"
    echo "load average before runs: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "settings: duration=$DURATION warm-up=$WARMUP rounds=$ROUNDS concurrency=\"$CONCURRENCY\" overload=$OVERLOAD_C criterion=$CRITERION mlserver=$MLSERVER_MODE idle-wait=$IDLE_WAIT idle-busy=$IDLE_BUSY"
} >"$RESULTS/machine.txt"

# ---------------------------------------------------------------- Hangar
# start_hangar NAME DATA_DIR PORT: starts `hangar serve` (log appended to
# NAME.log) and waits until it is ready; its PID is left in STARTED_PID.
start_hangar() {
    local name="$1" data="$2" port="$3"
    log "starting $name on http://127.0.0.1:$port (data in $data)"
    HANGAR_ADMIN_TOKEN="$BENCH_TOKEN" ORT_DYLIB_PATH="$ORT" "$HANGAR_BIN" serve --data-dir "$data" --addr "127.0.0.1:$port" \
        >>"$RESULTS/$name.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    wait_ready "http://127.0.0.1:$port/v2/health/ready" "$STARTED_PID" "$name"
}
# stop_started PID: stops a server before the end and forgets it.
stop_started() {
    local pid="$1" kept=() p
    stop_tree "$pid"
    for p in "${PIDS[@]}"; do
        [ "$p" = "$pid" ] || kept+=("$p")
    done
    PIDS=("${kept[@]}")
}

# The main instance serves every deployment with the prediction log off.
HANGAR_PORT="$(free_port)"
HANGAR="http://127.0.0.1:$HANGAR_PORT"
start_hangar hangar "$WORK/data" "$HANGAR_PORT"
HANGAR_PID=$STARTED_PID
API="$HANGAR"

register() {
    local model="$1" file="$2"
    log "registering $model from $file"
    curl -fsS -H "$AUTH_HEADER" -o /dev/null -X POST "$API/api/v1/models" \
        -H 'content-type: application/json' -d "{\"name\":\"$model\"}"
    curl -fsS -H "$AUTH_HEADER" -o /dev/null -X POST "$API/api/v1/models/$model/versions" -F "artifact=@$file"
}

# deploy NAME MODEL:VERSION SETTINGS: deploys, keeps what Hangar reports back,
# and checks that one request answers with outputs.
deploy() {
    local name="$1" model="$2" settings="$3"
    log "deploying $model as $name with settings $settings"
    curl -fsS -H "$AUTH_HEADER" -X PUT "$API/api/v1/deployments/$name" -H 'content-type: application/json' \
        -d "{\"model\":\"$model\",\"settings\":$settings}" >"$RESULTS/deployment-$name.json"
    curl -fsS -H "$AUTH_HEADER" "$API/v2/models/$name/infer" -H 'content-type: application/json' --data-binary "@$BODY" \
        >"$RESULTS/sample-$name.response.json"
    jq -e '.outputs | length > 0' "$RESULTS/sample-$name.response.json" >/dev/null ||
        die "$name answered without outputs: $(cat "$RESULTS/sample-$name.response.json")"
}

register gbdt "$REPO/testdata/reference/models/gbdt/model.onnx"
deploy hangar gbdt:1 '{"log_predictions":false}'
deploy gbdt-b1 gbdt:1 '{"log_predictions":false,"max_batch_size":1}'
deploy gbdt-b64 gbdt:1 '{"log_predictions":false,"max_batch_size":64,"max_queue_delay_us":500}'
if [ "$WIDE" = 1 ]; then
    python3 "$REPO/bench/make-wide-mlp.py" "$WORK/wide-mlp.onnx" 2>>"$RESULTS/make-wide-mlp.log"
    register wide-mlp "$WORK/wide-mlp.onnx"
    deploy wide-b1 wide-mlp:1 '{"log_predictions":false,"max_batch_size":1}'
    deploy wide-b64 wide-mlp:1 '{"log_predictions":false,"max_batch_size":64,"max_queue_delay_us":500}'
    deploy wide-shed wide-mlp:1 "{\"log_predictions\":false,\"max_batch_size\":1,\"queue_capacity\":$SHED_QUEUE}"
fi

# The monitoring row runs in a second instance of its own, started only for
# its runs: with the prediction log on, Hangar keeps working after the load
# stops (the log writer drains its buffer into SQLite, alert evaluation reads
# the newest rows every few seconds), and that work must not land on the
# other rows. Its data directory, and so its prediction log, persists from
# round to round, as a live deployment's would.
MON_PORT="$(free_port)"
MON="http://127.0.0.1:$MON_PORT"
mon_up() {
    start_hangar hangar-mon "$WORK/data-mon" "$MON_PORT"
    MON_PID=$STARTED_PID
}
mon_down() {
    curl -fsS -H "$AUTH_HEADER" "$MON/metrics" >"$RESULTS/hangar-mon-metrics-$1.txt" 2>/dev/null || true
    stop_started "$MON_PID"
}
mon_up
API="$MON"
register gbdt "$REPO/testdata/reference/models/gbdt/model.onnx"
deploy hangar-log gbdt:1 '{}'
deploy mon-off gbdt:1 '{"log_predictions":false}'
API="$HANGAR"
mon_down setup

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

# ---------------------------------------------------------------- MLServer
if [ "$MLSERVER" = 1 ]; then
    MLS_DIR="$WORK/mlserver"
    mkdir -p "$MLS_DIR/gbdt"
    cp "$REPO/bench/mlserver/model-settings.json" "$MLS_DIR/gbdt/model-settings.json"
    cp "$JOBLIB" "$MLS_DIR/gbdt/model.joblib"
    MLS_PORT="$(free_port)"
    MLS_GRPC_PORT="$(free_port)"
    MLS_METRICS_PORT="$(free_port)"
    # MLServer's defaults otherwise (one inference pool worker, metrics on).
    jq -n --argjson http "$MLS_PORT" --argjson grpc "$MLS_GRPC_PORT" --argjson metrics "$MLS_METRICS_PORT" \
        '{http_port: $http, grpc_port: $grpc, metrics_port: $metrics, host: "127.0.0.1"}' >"$MLS_DIR/settings.json"
    cp "$MLS_DIR/settings.json" "$RESULTS/mlserver-settings.json"
    MLS="http://127.0.0.1:$MLS_PORT"
    log "starting MLServer $MLSERVER_VERSION on $MLS"
    (cd "$MLS_DIR" && exec "$VENV/bin/mlserver" start .) >"$RESULTS/mlserver.log" 2>&1 &
    MLS_PID=$!
    PIDS+=("$MLS_PID")
    wait_ready "$MLS/v2/models/gbdt/ready" "$MLS_PID" mlserver 1200
    curl -fsS -H "$AUTH_HEADER" "$MLS/v2/models/gbdt/infer" -H 'content-type: application/json' --data-binary "@$BODY" \
        >"$RESULTS/sample-mlserver.response.json"
    jq -e '.outputs | length > 0' "$RESULTS/sample-mlserver.response.json" >/dev/null ||
        die "MLServer answered without outputs: $(cat "$RESULTS/sample-mlserver.response.json")"
fi

# ---------------------------------------------------------------- load
# CPU time in clock ticks: the whole machine's busy time, and a process tree's.
HZ="$(getconf CLK_TCK)"
machine_ticks() { awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
tree_ticks() {
    local total=0 p t
    for p in "$@"; do
        t="$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)"
        total=$((total + t))
    done
    echo "$total"
}
server_pid() {
    case "$1" in
        floor) echo "$FLOOR_PID" ;;
        mlserver) echo "$MLS_PID" ;;
        hangar-log | mon-off) echo "$MON_PID" ;;
        *) echo "$HANGAR_PID" ;;
    esac
}
url_of() {
    case "$1" in
        floor) echo "$FLOOR/v2/models/floor/infer" ;;
        mlserver) echo "$MLS/v2/models/gbdt/infer" ;;
        hangar-log | mon-off) echo "$MON/v2/models/$1/infer" ;;
        *) echo "$HANGAR/v2/models/$1/infer" ;;
    esac
}

# oha_run NAME CONCURRENCY ROUND: a warm-up, then the measured run as JSON
# (with latencies split by successful and not), and where the CPU went
# meanwhile, in cores: the server under test (with its child processes), oha,
# and everything else on the machine. -w lets requests in flight at the
# deadline finish, so they are neither dropped nor counted as errors.
oha_run() {
    local name="$1" c="$2" r="$3"
    local run="$name-c$c-r$r" url pids
    url="$(url_of "$name")"
    local common=(--no-tui -m POST -H 'content-type: application/json' -H "$AUTH_HEADER" -D "$BODY" -c "$c" -w --stats-success-breakdown)
    wait_quiet "$run"
    "$OHA" "${common[@]}" -z "$WARMUP" --output-format json "$url" >"$RESULTS/warmup-$run.json"
    log "round $r/$ROUNDS: $name c=$c for $DURATION (load average $(cut -d' ' -f1 /proc/loadavg))"
    pids="$(server_pid "$name") $(descendants "$(server_pid "$name")")"
    local t0 m0 s0 t1 m1 s1 oha_cpu
    # shellcheck disable=SC2086
    t0="$(date +%s.%N)" m0="$(machine_ticks)" s0="$(tree_ticks $pids)"
    oha_cpu="$({ TIMEFORMAT='%U %S'; time "$OHA" "${common[@]}" -z "$DURATION" --output-format json "$url" \
        >"$RESULTS/oha-$run.json" 2>"$RESULTS/oha-$run.stderr"; } 2>&1)"
    # shellcheck disable=SC2086
    t1="$(date +%s.%N)" m1="$(machine_ticks)" s1="$(tree_ticks $pids)"
    awk -v t0="$t0" -v t1="$t1" -v hz="$HZ" -v m="$((m1 - m0))" -v s="$((s1 - s0))" -v oha="$oha_cpu" 'BEGIN {
        t = t1 - t0; split(oha, o, " "); oha_s = o[1] + o[2]; server = s / hz / t; client = oha_s / t;
        other = m / hz / t - server - client; if (other < 0) other = 0;
        printf "%.2f %.2f %.2f\n", server, client, other
    }' >"$RESULTS/cpu-$run.txt"
}

CONTENDERS=(hangar floor)
[ "$MLSERVER" = 1 ] && CONTENDERS+=(mlserver)
EXTRAS=(hangar-log gbdt-b1 gbdt-b64)
[ "$WIDE" = 1 ] && EXTRAS+=(wide-b1 wide-b64)

# Everything takes turns within each round, so a change in background load
# touches every contender alike; the table reports each cell's median round.
for r in $(seq 1 "$ROUNDS"); do
    for c in $CONCURRENCY; do
        for name in "${CONTENDERS[@]}"; do
            oha_run "$name" "$c" "$r"
        done
    done
    for name in "${EXTRAS[@]}"; do
        if [ "$name" = hangar-log ]; then
            mon_up
            oha_run mon-off "$HIGH" "$r"
            oha_run hangar-log "$HIGH" "$r"
            mon_down "r$r"
        else
            oha_run "$name" "$HIGH" "$r"
        fi
    done
    if [ "$WIDE" = 1 ]; then
        oha_run wide-shed "$OVERLOAD_C" "$r"
    fi
done

# Hangar's own account of the batches it formed (over warm-ups and rounds alike).
curl -fsS -H "$AUTH_HEADER" "$HANGAR/metrics" >"$RESULTS/hangar-metrics.txt" 2>/dev/null || true
awk -F'[{}" ]+' '/^hangar_batch_size_rows_(sum|count)\{/ {
        for (i = 2; i < NF; i++) if ($i == "deployment=") d = $(i + 1)
        if ($1 ~ /_sum$/) sum[d] = $NF; else count[d] = $NF
    } END { for (d in count) if (count[d] > 0) printf "%s %.1f\n", d, sum[d] / count[d] }' \
    "$RESULTS/hangar-metrics.txt" | sort >"$RESULTS/hangar-batch-sizes.txt" || true

# Stopped before the criterion run so idle servers take nothing from it.
log "stopping the servers"
for pid in "${PIDS[@]}"; do
    stop_tree "$pid"
done
PIDS=()

# What Hangar logged under load: each distinct warning or error, counted.
for instance in hangar hangar-mon; do
    sed -E 's/\x1b\[[0-9;]*m//g' "$RESULTS/$instance.log" | grep -E '^[^ ]+ +(WARN|ERROR) ' |
        sed -E 's/^[^ ]+ +(WARN|ERROR) (.*: )?([a-z_]+(::[a-z_]+)*): /\1 \3: /; s/ [a-z_]+=[^ ]*( [a-z_]+=[^ ]*)*$//' |
        sort | uniq -c | sort -rn >"$RESULTS/$instance-warnings.txt" || true
done
# How much of the monitoring row's prediction log was kept: the counters of
# its last instance (the data directory and so the rows persist, the
# counters start again with each start).
LOG_DROPPED="$(awk '/^hangar_prediction_log_dropped(_total)? / { print $2 }' "$RESULTS/hangar-mon-metrics-r$ROUNDS.txt" 2>/dev/null | head -n1)"
LOG_SERVED="$(awk '/^hangar_inference_requests_total\{deployment="hangar-log"/ { s += $2 } END { print s + 0 }' "$RESULTS/hangar-mon-metrics-r$ROUNDS.txt" 2>/dev/null || echo 0)"

# ---------------------------------------------------------------- criterion
CRIT_US=""
if [ "$CRITERION" != skip ]; then
    crit_args=()
    if [ "$CRITERION" = quick ]; then
        crit_args=(--warm-up-time 1 --measurement-time 3)
    fi
    wait_quiet criterion
    touch "$WORK/criterion-start"
    log "running the in-process floor ($CRITERION): cargo bench -p hangar-runtime --bench inference -- ^infer/gbdt/rows/1\$"
    (cd "$REPO" && ORT_DYLIB_PATH="$ORT" cargo bench -p hangar-runtime --bench inference -- \
        "${crit_args[@]}" '^infer/gbdt/rows/1$') >"$RESULTS/criterion.txt" 2>"$RESULTS/criterion.stderr"
    est="$CARGO_TARGET/criterion/infer_gbdt/rows/1/new/estimates.json"
    if [ -f "$est" ] && [ "$est" -nt "$WORK/criterion-start" ]; then
        cp "$est" "$RESULTS/criterion-infer_gbdt-rows-1.json"
        # Criterion's headline figure is the slope estimate (the mean when there is none).
        CRIT_US="$(jq '(.slope // .mean).point_estimate / 1000' "$est")"
    else
        log "warning: criterion left no fresh estimate at $est"
    fi
fi

# ---------------------------------------------------------------- figures
# Each (name, concurrency) cell is read from its median round by requests/s.
rps_of() { jq '.summary.requestsPerSec' "$RESULTS/oha-$1.json"; }
median_round() {
    local name="$1" c="$2" r
    for r in $(seq 1 "$ROUNDS"); do
        echo "$(rps_of "$name-c$c-r$r") $r"
    done | sort -g | sed -n "$(((ROUNDS + 1) / 2))p" | cut -d' ' -f2
}
# get NAME C JQ: a figure from the median round ("null" if never measured).
get() {
    local f
    [ -f "$RESULTS/oha-$1-c$2-r1.json" ] || { echo null; return; }
    f="$RESULTS/oha-$1-c$2-r$(median_round "$1" "$2").json"
    jq "$3" "$f"
}
rps() { get "$1" "$2" '.summary.requestsPerSec'; }
p50() { get "$1" "$2" '.latencyPercentiles.p50'; }
p99() { get "$1" "$2" '.latencyPercentiles.p99'; }
# Answers that were not 2xx, plus client-side errors (refused, reset,
# timed out), summed over every round.
errors() {
    local name="$1" c="$2" r
    for r in $(seq 1 "$ROUNDS"); do
        jq '([.statusCodeDistribution // {} | to_entries[] | select((.key | tonumber) < 200 or (.key | tonumber) >= 300) | .value] | add // 0)
            + ([.errorDistribution // {} | to_entries[] | .value] | add // 0)' "$RESULTS/oha-$name-c$c-r$r.json"
    done | awk '{ s += $1 } END { print s + 0 }'
}
# Status codes (and client errors) over every round, as "200: n, 429: m".
statuses() {
    local name="$1" c="$2"
    jq -s -r '(map(.statusCodeDistribution // {} | to_entries[]) + map(.errorDistribution // {} | to_entries[]))
        | group_by(.key) | map("\(.[0].key): \(map(.value) | add)") | join(", ")' \
        "$RESULTS"/oha-"$name"-c"$c"-r*.json
}

# Arithmetic and formatting, null-safe: "–" for what was not measured.
calc() { jq -n -r "$1"; }
ms() { calc "$1 as \$s | if \$s == null then \"–\" else (\$s * 1000000 | round) as \$us | \"\(\$us / 1000 | floor).\(\"00\(\$us % 1000)\" | .[-3:]) ms\" end"; }
num() { calc "$1 as \$x | if \$x == null then \"–\" else (\$x | round | tostring) end"; }

describe() {
    case "$1" in
        hangar) echo "Hangar, GBDT, prediction log off" ;;
        hangar-log) echo "Hangar, GBDT, prediction log on (default); second process" ;;
        mon-off) echo "Hangar, GBDT, prediction log off; second process (control)" ;;
        floor) echo "HTTP floor (wire parsing, fixed answer)" ;;
        mlserver) echo "MLServer ${MLSERVER_VERSION:-}, sklearn GBDT" ;;
        gbdt-b1) echo "Hangar, GBDT, batching off (max_batch_size 1)" ;;
        gbdt-b64) echo "Hangar, GBDT, batching on (64, 500 µs)" ;;
        wide-b1) echo "Hangar, wide MLP, batching off (max_batch_size 1)" ;;
        wide-b64) echo "Hangar, wide MLP, batching on (64, 500 µs)" ;;
        wide-shed) echo "Hangar, wide MLP, batching off, queue_capacity $SHED_QUEUE" ;;
    esac
}

row() {
    local name="$1" c="$2" r lo hi server client other
    r="$(median_round "$name" "$c")"
    read -r lo hi < <(for i in $(seq 1 "$ROUNDS"); do rps_of "$name-c$c-r$i"; done |
        sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f %.0f\n", lo, hi }')
    read -r server client other <"$RESULTS/cpu-$name-c$c-r$r.txt"
    echo "| $name | $(describe "$name") | $c | $(num "$(rps "$name" "$c")") | $lo–$hi | $(ms "$(p50 "$name" "$c")") | $(ms "$(p99 "$name" "$c")") | $(errors "$name" "$c") | $server | $client | $other |"
}

{
    echo "| run | what | c | requests/s | range | p50 | p99 | errors | server CPU | oha CPU | other CPU |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for name in "${CONTENDERS[@]}"; do
        for c in $CONCURRENCY; do
            row "$name" "$c"
        done
    done
    for name in "${EXTRAS[@]}"; do
        row "$name" "$HIGH"
        if [ "$name" = hangar-log ]; then
            row mon-off "$HIGH"
        fi
    done
    if [ "$WIDE" = 1 ]; then
        row wide-shed "$OVERLOAD_C"
    fi
} >"$RESULTS/table.md"

# ---------------------------------------------------------------- targets
# verdict CONDITION TEXT: one line of the Targets list. CONDITION is a jq
# expression that is true, false, or null (not measured).
verdict() {
    local ok
    ok="$(calc "$1")"
    case "$ok" in
        true) echo "- **met**: $2" ;;
        false) echo "- **not met**: $2" ;;
        *) echo "- **not measured**: $2" ;;
    esac
}
ratio() { calc "($1) as \$a | ($2) as \$b | if \$a == null or \$b == null or \$b == 0 then null else \$a / \$b end"; }
fmt() { calc "($1) as \$x | if \$x == null then \"–\" else (\$x * $2 | round / $3 | tostring) end"; }
# A change as a signed percentage with one decimal: 0.95 → "-5 %".
change() { calc "($1) as \$x | if \$x == null then \"–\" else ((\$x - 1) * 1000 | round / 10) as \$p | \"\(if \$p > 0 then \"+\" else \"\" end)\(\$p) %\" end"; }
nn() { calc "($1) as \$x | if \$x == null then null else \$x end"; }

H_RPS="$(rps hangar $HIGH)"
H_P99="$(p99 hangar $HIGH)"
F_RPS="$(rps floor $HIGH)"
M_RPS="$(rps mlserver $HIGH)"
X_MLS="$(ratio "$H_RPS" "$M_RPS")"
X_FLOOR="$(ratio "$H_RPS" "$F_RPS")"
H_P50_1="$(p50 hangar 1)"
F_P50_1="$(p50 floor 1)"
GAP_US="$(calc "($H_P50_1) as \$h | ($F_P50_1) as \$f | if \$h == null or \$f == null then null else (\$h - \$f) * 1000000 end")"
WIDE_X="$(ratio "$(rps wide-b64 $HIGH)" "$(rps wide-b1 $HIGH)")"
GBDT_X="$(ratio "$(rps gbdt-b64 $HIGH)" "$(rps gbdt-b1 $HIGH)")"
LOG_X="$(ratio "$(rps hangar-log $HIGH)" "$H_RPS")"
LOG_CONTROL_X="$(ratio "$(rps hangar-log $HIGH)" "$(rps mon-off $HIGH)")"

# Below the shedding point: every run but the overload one.
BELOW_ERRORS=0
for name in "${CONTENDERS[@]}"; do
    for c in $CONCURRENCY; do
        BELOW_ERRORS=$((BELOW_ERRORS + $(errors "$name" "$c")))
    done
done
for name in "${EXTRAS[@]}" mon-off; do
    BELOW_ERRORS=$((BELOW_ERRORS + $(errors "$name" "$HIGH")))
done

# Above it: only 200 and 429, and the accepted requests' p99 bounded by the
# queue: a request admitted behind at most queue_capacity others waits for
# them to drain at the rate measured without shedding (wide-b1 at c=64), plus
# its own inference; twice that is the bound.
SHED_OK=null SHED_P99=null SHED_BOUND=null SHED_STATUS="–"
if [ "$WIDE" = 1 ]; then
    SHED_STATUS="$(statuses wide-shed "$OVERLOAD_C")"
    SHED_OK="$(jq -s '[.[] | ((.statusCodeDistribution // {}) | keys | all(. == "200" or . == "429"))
        and ((.errorDistribution // {}) | length == 0)] | all' "$RESULTS"/oha-wide-shed-c"$OVERLOAD_C"-r*.json)"
    SHED_P99="$(get wide-shed "$OVERLOAD_C" '.latencyPercentilesSuccessful.p99 // null')"
    SHED_BOUND="$(calc "($(rps wide-b1 $HIGH)) as \$r | if \$r == null or \$r == 0 then null else 2 * ($SHED_QUEUE + $(nproc)) / \$r end")"
fi

{
    verdict "($X_MLS) as \$x | if \$x == null then null else \$x >= 50 end" \
        "throughput at c=$HIGH ≥ 50× MLServer's: Hangar $(num "$H_RPS") req/s, MLServer $(num "$M_RPS") req/s, $(fmt "$X_MLS" 10 10)×"
    verdict "($X_FLOOR) as \$x | ($H_P99) as \$p | if \$x == null or \$p == null then null else \$x >= 0.6 and \$p < 0.005 end" \
        "throughput at c=$HIGH ≥ 60% of the HTTP floor's with p99 < 5 ms: $(num "$H_RPS") of $(num "$F_RPS") req/s = $(fmt "$X_FLOOR" 100 1) %, p99 $(ms "$H_P99")"
    verdict "($GAP_US) as \$g | if \$g == null then null else \$g <= 50 end" \
        "p50 at c=1 within 50 µs of the floor's: Hangar $(ms "$H_P50_1"), floor $(ms "$F_P50_1"), gap $(fmt "$GAP_US" 1 1) µs"
    verdict "($WIDE_X) as \$x | if \$x == null then null else \$x >= 2 end" \
        "batching ≥ 2× on the wide MLP at c=$HIGH: $(num "$(rps wide-b64 $HIGH)") vs $(num "$(rps wide-b1 $HIGH)") req/s, $(fmt "$WIDE_X" 100 100)×"
    verdict "($GBDT_X) as \$x | if \$x == null then null else \$x >= 0.95 end" \
        "batching costs ≤ 5% on the GBDT at c=$HIGH: on $(num "$(rps gbdt-b64 $HIGH)") vs off $(num "$(rps gbdt-b1 $HIGH)") req/s, $(change "$GBDT_X") (p99 $(ms "$(p99 gbdt-b64 $HIGH)") vs $(ms "$(p99 gbdt-b1 $HIGH)"))"
    verdict "$BELOW_ERRORS == 0" \
        "zero errors below the shedding point: $BELOW_ERRORS errors over every other run and round"
    verdict "($SHED_OK) as \$ok | ($SHED_P99) as \$p | ($SHED_BOUND) as \$b | if \$ok == null or \$p == null or \$b == null then null else \$ok and \$p <= \$b end" \
        "only 429s above the shedding point with bounded p99 (c=$OVERLOAD_C, queue_capacity $SHED_QUEUE): statuses over all rounds $SHED_STATUS; p99 of the 200s $(ms "$SHED_P99") (bound $(ms "$SHED_BOUND") = 2 × ($SHED_QUEUE + $(nproc) workers) / the unshed rate)"
    verdict "($LOG_X) as \$x | if \$x == null then null else \$x >= 0.9 end" \
        "monitoring on within 10% of off at c=$HIGH: $(num "$(rps hangar-log $HIGH)") vs $(num "$H_RPS") req/s, $(change "$LOG_X") (p99 $(ms "$(p99 hangar-log $HIGH)") vs $(ms "$H_P99")); against the same-process control $(num "$(rps mon-off $HIGH)") req/s: $(change "$LOG_CONTROL_X")"
} >"$RESULTS/targets.md"

# ---------------------------------------------------------------- report
log "done; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
echo "## One-row V2 requests over HTTP (oha $("$OHA" --version | awk '{ print $2 }'); median of $ROUNDS rounds of $DURATION, each after $WARMUP warm-up)"
echo
cat "$RESULTS/table.md"
echo
if [ -n "$CRIT_US" ]; then
    echo "In process (criterion, $CRITERION): LoadedModel::infer on one GBDT row takes $(calc "$CRIT_US * 100 | round / 100") µs."
else
    echo "In process (criterion): not measured."
fi
if [ "$WIDE" = 1 ]; then
    echo
    per_round="$(for r in $(seq 1 "$ROUNDS"); do
        ms "$(jq '.latencyPercentilesSuccessful.p99 // null' "$RESULTS/oha-wide-shed-c$OVERLOAD_C-r$r.json")"
    done | paste -sd, - | sed 's/,/, /g')"
    echo "Overload (wide-shed, c=$OVERLOAD_C): status codes over all rounds $SHED_STATUS; in the median round p50/p99 of the 200s $(ms "$(get wide-shed "$OVERLOAD_C" '.latencyPercentilesSuccessful.p50 // null')")/$(ms "$SHED_P99"), of the 429s $(ms "$(get wide-shed "$OVERLOAD_C" '.latencyPercentilesNotSuccessful.p50 // null')")/$(ms "$(get wide-shed "$OVERLOAD_C" '.latencyPercentilesNotSuccessful.p99 // null')"); p99 of the 200s per round: $per_round."
fi
if [ -s "$RESULTS/hangar-batch-sizes.txt" ]; then
    echo
    echo "Mean rows per executed batch (Hangar's hangar_batch_size_rows, warm-ups included): $(awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }' "$RESULTS/hangar-batch-sizes.txt")."
fi
for instance in hangar hangar-mon; do
    if [ -s "$RESULTS/$instance-warnings.txt" ]; then
        echo
        echo "What $instance logged during the runs (count, level, source: message):"
        echo
        sed 's/^ */    /' "$RESULTS/$instance-warnings.txt" | head -n 10
    fi
done
if [ -n "$LOG_DROPPED" ]; then
    echo
    echo "Prediction log (hangar-mon, round $ROUNDS, warm-up included): $LOG_DROPPED of $LOG_SERVED logged requests' rows dropped (buffer full)."
fi
echo
echo "### Targets"
echo
cat "$RESULTS/targets.md"
if [ -s "$NOTES" ]; then
    echo
    echo "Notes:"
    sed 's/^/- /' "$NOTES"
fi
echo
echo "Raw results: $RESULTS"
