#!/usr/bin/env bash
# A large artifact through S3-compatible object storage: the push of a
# ~200 MB ONNX model to `hangar serve --artifacts s3://BUCKET/PREFIX`, then
# its first load by a second server process with an empty data directory
# (a cold artifact cache: the bytes come from the bucket), each with its
# wall time and the server's peak RSS (VmHWM in /proc/PID/status). The
# upload streams (multipart) and the cache fill streams, so the server's
# peak RSS should not grow with the artifact beyond what ONNX Runtime holds
# of the model itself once loaded.
#
# The S3 server is a real one on loopback: s3s-fs (`cargo install s3s-fs
# --version 0.14.1 --features binary --locked`), with SigV4 credentials
# checked. Both Hangar processes share one metadata database (a SQLite file
# outside either data directory by default, or S3_DATABASE), as two
# replicas would, so the second one knows the version but has none of its
# bytes.
#
# Usage: bench/s3-push.sh [MODEL.onnx]
#   Without MODEL.onnx the script writes one with bench/make-wide-mlp.py
#   --hidden 7000,7000 (49.2 million FP32 weights, 197 MB; needs the onnx
#   and numpy Python packages).
#
# Settings (environment):
#   S3_DATABASE     metadata database URL for both servers (e.g. a fresh
#                   postgres://postgres@127.0.0.1:5432/DB; not created or
#                   dropped here)  [sqlite://RESULTS/meta/hangar.db]
#   S3FS_BIN        the s3s-fs binary        [s3s-fs on PATH or ~/.cargo/bin]
#   HANGAR_BIN      the hangar binary        [target/release/hangar]
#   ORT_DYLIB_PATH  libonnxruntime.so        [vendor/onnxruntime/libonnxruntime.so]
#
# Prints a markdown table on stdout, progress on stderr; server logs and the
# bucket's directory go to ${TMPDIR:-/tmp}/hangar-s3push-<UTC timestamp>/
# (the bucket and data directories, ~3 copies of the model, are removed on
# exit). Binds 127.0.0.1 only; every process the script starts is stopped
# on exit, by PID.
set -euo pipefail
BENCH_TOKEN="${BENCH_TOKEN:-bench-admin-token-0123456789}"
AUTH_HEADER="authorization: Bearer $BENCH_TOKEN"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ORT="${ORT_DYLIB_PATH:-$REPO/vendor/onnxruntime/libonnxruntime.so}"
BIN="${HANGAR_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/hangar}"
S3FS="${S3FS_BIN:-$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")}"
BODY="$REPO/bench/bodies/one_row.json"
RESULTS="${TMPDIR:-/tmp}/hangar-s3push-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RESULTS/meta" "$RESULTS/s3/bench"
DATABASE="${S3_DATABASE:-sqlite://$RESULTS/meta/hangar.db}"
PID="" S3PID=""

log() { printf '[s3push %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
stop() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    PID=""
}
cleanup() {
    stop
    if [ -n "$S3PID" ] && kill -0 "$S3PID" 2>/dev/null; then
        kill "$S3PID" 2>/dev/null || true
        wait "$S3PID" 2>/dev/null || true
    fi
    rm -rf "$RESULTS/s3" "$RESULTS/data1" "$RESULTS/data2" "$RESULTS/generated.onnx"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$S3FS" ] || die "s3s-fs not found (cargo install s3s-fs --version 0.14.1 --features binary --locked)"
[ -f "$ORT" ] || die "no $ORT (run scripts/fetch-onnxruntime.sh)"
[ -x "$BIN" ] || die "no $BIN (cargo build --release -p hangar)"

MODEL="${1:-}"
if [ -z "$MODEL" ]; then
    MODEL="$RESULTS/generated.onnx"
    log "writing a 7000x7000 wide MLP to $MODEL"
    python3 "$REPO/bench/make-wide-mlp.py" "$MODEL" --hidden 7000,7000
fi
SIZE="$(stat -c %s "$MODEL")"
MB="$(echo "$SIZE / 1000000" | bc -l)"

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

S3PORT="$(free_port)"
"$S3FS" --host 127.0.0.1 --port "$S3PORT" --access-key bench-key --secret-key bench-secret-0123456789 \
    "$RESULTS/s3" >"$RESULTS/s3s-fs.log" 2>&1 &
S3PID=$!
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$S3PORT") 2>/dev/null && break
    kill -0 "$S3PID" 2>/dev/null || die "s3s-fs exited (see $RESULTS/s3s-fs.log)"
    sleep 0.1
done

PORT="$(free_port)"
URL="http://127.0.0.1:$PORT"
up() { # up DATA_DIR LOG
    AWS_ENDPOINT_URL="http://127.0.0.1:$S3PORT" AWS_ACCESS_KEY_ID=bench-key \
        AWS_SECRET_ACCESS_KEY=bench-secret-0123456789 AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true \
        HANGAR_ADMIN_TOKEN="$BENCH_TOKEN" ORT_DYLIB_PATH="$ORT" \
        "$BIN" serve --data-dir "$1" --database "$DATABASE" --artifacts s3://bench/hangar \
        --addr "127.0.0.1:$PORT" >>"$2" 2>&1 &
    PID=$!
    for _ in $(seq 1 300); do
        kill -0 "$PID" 2>/dev/null || die "hangar exited (see $2)"
        curl -fsS -H "$AUTH_HEADER" -o /dev/null "$URL/v2/health/ready" 2>/dev/null && return 0
        sleep 0.1
    done
    die "hangar did not become ready"
}
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$PID/status"; }   # kB
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$PID/status"; }   # kB
now() { date +%s.%N; }
mib() { echo "$1 / 1024" | bc -l | xargs printf '%.0f'; }

export HANGAR_SERVER="$URL" HANGAR_TOKEN="$BENCH_TOKEN"

log "push: $(printf '%.1f' "$MB") MB to s3://bench/hangar (s3s-fs on 127.0.0.1:$S3PORT)"
up "$RESULTS/data1" "$RESULTS/hangar-1.log"
PUSH_HWM0="$(hwm)"
t0="$(now)"
"$BIN" model push "$MODEL" --name big >"$RESULTS/push.out" 2>"$RESULTS/push.err" || die "push failed: $(cat "$RESULTS/push.err")"
t1="$(now)"
PUSH_S="$(echo "$t1 - $t0" | bc -l)"
PUSH_HWM1="$(hwm)" PUSH_RSS1="$(rss)"
STORED="$(find "$RESULTS/s3/bench" -type f -printf '%s %p\n' | sort -n | tail -1)"
log "push: $(printf '%.2f' "$PUSH_S") s; VmHWM $(mib "$PUSH_HWM0") -> $(mib "$PUSH_HWM1") MiB; largest object in the bucket: ${STORED:-none}"
stop

log "cold load: a second process, empty data directory, same database and bucket"
up "$RESULTS/data2" "$RESULTS/hangar-2.log"
LOAD_HWM0="$(hwm)"
t0="$(now)"
"$BIN" deploy big --model big:1 >"$RESULTS/deploy.out" 2>"$RESULTS/deploy.err" || die "deploy failed: $(cat "$RESULTS/deploy.err")"
t1="$(now)"
for _ in $(seq 1 600); do
    curl -fsS -H "$AUTH_HEADER" -H 'content-type: application/json' -d "@$BODY" -o "$RESULTS/infer.json" \
        "$URL/v2/models/big/infer" 2>/dev/null && break
    sleep 0.1
done
t2="$(now)"
[ -s "$RESULTS/infer.json" ] || die "no answer from the deployed model"
LOAD_S="$(echo "$t1 - $t0" | bc -l)" FIRST_S="$(echo "$t2 - $t0" | bc -l)"
LOAD_HWM1="$(hwm)" LOAD_RSS1="$(rss)"
CACHED="$(find "$RESULTS/data2/artifacts" -type f -printf '%s\n' 2>/dev/null | sort -n | tail -1)"
log "cold load: deploy $(printf '%.2f' "$LOAD_S") s, first answer at $(printf '%.2f' "$FIRST_S") s; VmHWM $(mib "$LOAD_HWM0") -> $(mib "$LOAD_HWM1") MiB; cached ${CACHED:-0} bytes"
stop

echo "| step | artifact | time | throughput | server VmHWM before | VmHWM after | VmRSS after | peak growth / artifact |"
echo "|---|---|---|---|---|---|---|---|"
printf '| push (`hangar model push`) to S3 | %.1f MB | %.2f s | %.1f MB/s | %s MiB | %s MiB | %s MiB | %.2f× |\n' \
    "$MB" "$PUSH_S" "$(echo "$MB / $PUSH_S" | bc -l)" "$(mib "$PUSH_HWM0")" "$(mib "$PUSH_HWM1")" "$(mib "$PUSH_RSS1")" \
    "$(echo "($PUSH_HWM1 - $PUSH_HWM0) * 1024 / $SIZE" | bc -l)"
printf '| cold load (`hangar deploy`, empty cache) | %.1f MB | %.2f s (first answer %.2f s) | %.1f MB/s | %s MiB | %s MiB | %s MiB | %.2f× |\n' \
    "$MB" "$LOAD_S" "$FIRST_S" "$(echo "$MB / $LOAD_S" | bc -l)" "$(mib "$LOAD_HWM0")" "$(mib "$LOAD_HWM1")" "$(mib "$LOAD_RSS1")" \
    "$(echo "($LOAD_HWM1 - $LOAD_HWM0) * 1024 / $SIZE" | bc -l)"
echo
echo "database: ${DATABASE%%://*}; object store: s3s-fs on loopback; logs in $RESULTS"
