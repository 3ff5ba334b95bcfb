# Shared by the bench scripts (sourced, not run): logging, the processes a
# script started (stopped on exit, by PID), a free loopback port, and
# waiting for a server to be ready. The sourcing script sets LOG_TAG (the
# prefix of its progress lines) and WORK (a temporary directory removed on
# exit) before sourcing.

PIDS=()

log() { printf '[%s %s] %s\n' "${LOG_TAG:-bench}" "$(date +%H:%M:%S)" "$*" >&2; }
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
    [ -n "${WORK:-}" ] && rm -rf "$WORK"
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

# wait_ready URL PID NAME: polls URL until it answers 200 (30 s at most),
# while PID lives.
wait_ready() {
    local url="$1" pid="$2" name="$3"
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || die "$name exited during start-up"
        if curl -fsS -o /dev/null "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$name did not become ready within 30 s"
}

# The oha binary: on PATH, in ~/.cargo/bin, or installed now.
find_oha() {
    if command -v oha >/dev/null; then
        command -v oha
    elif [ -x "$HOME/.cargo/bin/oha" ]; then
        echo "$HOME/.cargo/bin/oha"
    else
        log "installing oha (cargo install oha --locked, a few minutes)"
        cargo install oha --locked >&2
        echo "$HOME/.cargo/bin/oha"
    fi
}

# Builds the release binary, unless BENCH_SKIP_BUILD=1 (measure the binary
# already in target/release, e.g. the build a previous run made).
build_release() {
    if [ "${BENCH_SKIP_BUILD:-0}" = 1 ]; then
        log "using the release binary already built (BENCH_SKIP_BUILD=1)"
    else
        log "building the release binary (cargo build --release -p hangar)"
        (cd "$REPO" && cargo build --release -p hangar) >&2
    fi
}

# start_hangar: serves target/release/hangar on a free loopback port with a
# fresh data directory under $WORK and the administrator token $BENCH_TOKEN,
# its log in $RESULTS/hangar.log; sets URL and PID, and defines `api` (a
# JSON call as the administrator).
start_hangar() {
    local port
    port="$(free_port)"
    URL="http://127.0.0.1:$port"
    log "starting Hangar on $URL"
    HANGAR_ADMIN_TOKEN="$BENCH_TOKEN" ORT_DYLIB_PATH="$ORT" "$CARGO_TARGET/release/hangar" serve \
        --data-dir "$WORK/data" --addr "127.0.0.1:$port" >"$RESULTS/hangar.log" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    wait_ready "$URL/v2/health/ready" "$PID" hangar
}

api() { curl -fsS -H "authorization: Bearer $BENCH_TOKEN" -H 'content-type: application/json' "$@"; }

# push_gbdt: registers model `gbdt` (once) and pushes the reference GBDT as
# a new version of it.
push_gbdt() {
    api -o /dev/null -X POST "$URL/api/v1/models" -d '{"name":"gbdt"}' 2>/dev/null || true
    curl -fsS -H "authorization: Bearer $BENCH_TOKEN" -o /dev/null -X POST "$URL/api/v1/models/gbdt/versions" \
        -F "artifact=@$REPO/testdata/reference/models/gbdt/model.onnx"
}
