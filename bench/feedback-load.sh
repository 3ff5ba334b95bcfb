#!/usr/bin/env bash
# A large feedback upload against other writers: the reference GBDT deployed,
# REQUESTS requests of ROWS rows logged (ids fb-0, fb-1, ...), then one CSV
# upload of a label for every logged row (REQUESTS x ROWS lines) while,
# until it finishes, models are created, versions pushed, deployments
# changed and predictions made, one after the other. Reports how long the
# upload took and how many of the other writes failed (any answer but
# 2xx) or were slow.
#
# Usage: bench/feedback-load.sh
#
# Settings (environment):
#   FB_REQUESTS  requests logged                         [200]
#   FB_ROWS      rows per request                        [1000]
#   HANGAR_BIN   the hangar binary [target/release/hangar, built if missing]
#   ORT_DYLIB_PATH libonnxruntime.so [vendor/onnxruntime/libonnxruntime.so]
#
# Prints a summary on stdout, progress on stderr; the server log, the upload's
# answer and every other write's status and time go to
# ${TMPDIR:-/tmp}/hangar-feedback-<UTC timestamp>/. Traffic goes to 127.0.0.1
# only; the server the script starts is stopped on exit, by PID.
set -euo pipefail
BENCH_TOKEN="${BENCH_TOKEN:-bench-admin-token-0123456789}"
AUTH_HEADER="authorization: Bearer $BENCH_TOKEN"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUESTS="${FB_REQUESTS:-200}"
ROWS="${FB_ROWS:-1000}"
ORT="${ORT_DYLIB_PATH:-$REPO/vendor/onnxruntime/libonnxruntime.so}"
BIN="${HANGAR_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/hangar}"
RESULTS="${TMPDIR:-/tmp}/hangar-feedback-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RESULTS"
PID=""
UPLOAD=""

log() { printf '[feedback %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
stop() {
    if [ -n "$UPLOAD" ] && kill -0 "$UPLOAD" 2>/dev/null; then
        kill "$UPLOAD" 2>/dev/null || true
    fi
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
}
trap stop EXIT
trap 'exit 130' INT TERM

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
HANGAR_ADMIN_TOKEN="$BENCH_TOKEN" ORT_DYLIB_PATH="$ORT" "$BIN" serve --data-dir "$RESULTS/data" --addr "127.0.0.1:$PORT" \
    >>"$RESULTS/hangar.log" 2>&1 &
PID=$!
for _ in $(seq 1 300); do
    kill -0 "$PID" 2>/dev/null || die "hangar exited (see $RESULTS/hangar.log)"
    curl -fsS -H "$AUTH_HEADER" -o /dev/null "$URL/v2/health/ready" 2>/dev/null && break
    sleep 0.1
done

api() { # api METHOD PATH [curl args...]: prints "status seconds"
    local method="$1" path="$2"
    shift 2
    curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' -H "$AUTH_HEADER" -X "$method" "$URL$path" "$@"
}

api POST /api/v1/models -H 'content-type: application/json' -d '{"name":"gbdt"}' >/dev/null
api POST /api/v1/models/gbdt/versions -F "artifact=@$REPO/testdata/reference/models/gbdt/model.onnx" >/dev/null
api PUT /api/v1/deployments/fb -H 'content-type: application/json' -d '{"model":"gbdt:1"}' >/dev/null

# ROWS copies of the first reference row, one body for every request (the
# request id comes from X-Request-Id), and a label for every logged row.
python3 - "$REPO" "$ROWS" "$REQUESTS" "$RESULTS" <<'EOF'
import json, sys
repo, rows, requests, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
first = json.load(open(f"{repo}/testdata/reference/fixed_inputs_200.request.json"))["inputs"][0]["data"][:22]
with open(f"{out}/request.json", "w") as f:
    json.dump({"inputs": [{"name": "input", "shape": [rows, 22], "datatype": "FP32", "data": first * rows}]}, f)
with open(f"{out}/feedback.csv", "w") as f:
    f.write("request_id,row,label\n")
    for i in range(requests):
        f.write("".join(f"fb-{i},{r},{r % 2}\n" for r in range(rows)))
EOF
log "logging $REQUESTS requests of $ROWS rows"
for i in $(seq 0 $((REQUESTS - 1))); do
    read -r status _ < <(api POST /v2/models/fb/infer -H 'content-type: application/json' -H "x-request-id: fb-$i" \
        --data-binary "@$RESULTS/request.json")
    [ "$status" = 200 ] || die "inference $i answered $status"
done

LINES=$((REQUESTS * ROWS))
log "uploading $LINES lines of feedback ($(du -h "$RESULTS/feedback.csv" | cut -f1)) while other writers run"
T0="$(date +%s.%N)"
curl -sS -o "$RESULTS/feedback-answer.json" -w '%{http_code}\n' -H "$AUTH_HEADER" -H 'content-type: text/csv' \
    --data-binary "@$RESULTS/feedback.csv" "$URL/api/v1/deployments/fb/feedback" >"$RESULTS/feedback-status.txt" &
UPLOAD=$!
ONE_ROW='{"inputs":[{"name":"input","shape":[1,22],"datatype":"FP32","data":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]}'
n=0
: >"$RESULTS/writes.txt"
while kill -0 "$UPLOAD" 2>/dev/null; do
    n=$((n + 1))
    {
        echo "create-model $(api POST /api/v1/models -H 'content-type: application/json' -d "{\"name\":\"m$n\"}")"
        echo "push $(api POST "/api/v1/models/m$n/versions" -F "artifact=@$REPO/testdata/reference/models/logreg/model.onnx")"
        echo "deploy $(api PUT "/api/v1/deployments/d$n" -H 'content-type: application/json' -d "{\"model\":\"m$n:1\"}")"
        echo "redeploy $(api PUT /api/v1/deployments/fb -H 'content-type: application/json' -d "{\"model\":\"gbdt:1\",\"message\":\"round $n\"}")"
        echo "infer $(api POST /v2/models/fb/infer -H 'content-type: application/json' -d "$ONE_ROW")"
    } >>"$RESULTS/writes.txt"
done
wait "$UPLOAD" || true
UPLOAD=""
T1="$(date +%s.%N)"
STATUS="$(cat "$RESULTS/feedback-status.txt")"
SECS="$(echo "$T1 - $T0" | bc -l)"
FAILED="$(awk '$2 !~ /^2/' "$RESULTS/writes.txt" | wc -l)"
TOTAL="$(wc -l <"$RESULTS/writes.txt")"
SLOWEST="$(sort -k3 -g "$RESULTS/writes.txt" | tail -1)"
LOCKED="$(grep -c 'database is locked' "$RESULTS/hangar.log" || true)"
printf 'feedback: HTTP %s, %d lines in %.1f s (%.0f lines/s): %s\n' "$STATUS" "$LINES" "$SECS" \
    "$(echo "$LINES / $SECS" | bc -l)" "$(jq -c '{received, updated, unknown_count, rejected_count}' "$RESULTS/feedback-answer.json")"
printf 'other writes meanwhile: %d, failed %d; slowest: %s s (%s)\n' "$TOTAL" "$FAILED" "$(echo "$SLOWEST" | cut -d' ' -f3)" \
    "$(echo "$SLOWEST" | cut -d' ' -f1)"
echo "'database is locked' in the server log: $LOCKED; raw results in $RESULTS"
