#!/usr/bin/env bash
# Soak: Hangar under steady load for a long time, with the changes real
# operations make. Measures the server's capacity first (one-row V2 requests
# to the reference GBDT, oha at 64 connections), then for SOAK_DURATION sends
# half of it at a fixed rate, deploys a new revision every minute and uploads
# feedback every five minutes, and samples the server once a minute: resident
# memory, open file descriptors, threads, and the p99 / errors of that
# minute's requests. Ends with the slopes after warm-up (RSS and descriptors
# per hour), which should be flat.
#
# Usage: bench/soak.sh
#
# Settings (environment):
#   SOAK_DURATION   minutes of load                                  [30]
#   SOAK_WARMUP     minutes left out of the slopes                   [5]
#   SOAK_RATE       requests/s to send (default: half the measured capacity)
#   BENCH_SKIP_BUILD 1: measure target/release/hangar as it is, without building  [0]
#   BENCH_TOKEN     the administrator token the server starts with   [bench-admin-token-0123456789]
#   ORT_DYLIB_PATH  libonnxruntime.so [vendor/onnxruntime/libonnxruntime.so]
#
# Prints a markdown table and the slopes on stdout, progress on stderr; raw
# results go to bench/results/soak-<UTC timestamp>/ (git-ignored). Traffic
# goes to 127.0.0.1 only; the server started here is stopped on exit, by PID.
set -euo pipefail
BENCH_TOKEN="${BENCH_TOKEN:-bench-admin-token-0123456789}"
AUTH_HEADER="authorization: Bearer $BENCH_TOKEN"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MINUTES="${SOAK_DURATION:-30}"
WARMUP_MIN="${SOAK_WARMUP:-5}"
ORT="${ORT_DYLIB_PATH:-$REPO/vendor/onnxruntime/libonnxruntime.so}"
BODY="$REPO/bench/bodies/one_row.json"
CARGO_TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$REPO/bench/results/soak-$STAMP"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hangar-soak.XXXXXX")"
LOG_TAG=soak
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

command -v curl >/dev/null || die "curl is needed"
command -v jq >/dev/null || die "jq is needed to read oha's JSON"
[ -f "$ORT" ] || die "ONNX Runtime not found at $ORT: run \`make setup\` or set ORT_DYLIB_PATH"
[[ "$MINUTES" =~ ^[1-9][0-9]*$ ]] || die "SOAK_DURATION must be a whole number of minutes"
[[ "$WARMUP_MIN" =~ ^[0-9]+$ ]] && [ "$WARMUP_MIN" -lt "$MINUTES" ] || die "SOAK_WARMUP must be a whole number below SOAK_DURATION"
mkdir -p "$RESULTS"

build_release
OHA="$(find_oha)"

start_hangar
push_gbdt
push_gbdt
api -o /dev/null -X PUT "$URL/api/v1/deployments/gbdt" -d '{"model":"gbdt:1"}'

OHA_ARGS=(--no-tui -m POST -H 'content-type: application/json' -H "$AUTH_HEADER" -D "$BODY" -w --output-format json)
if [ -n "${SOAK_RATE:-}" ]; then
    RATE="$SOAK_RATE"
else
    log "measuring capacity: 64 connections for 15 s"
    "$OHA" "${OHA_ARGS[@]}" -c 64 -z 15s "$URL/v2/models/gbdt/infer" >"$RESULTS/capacity.json"
    CAPACITY="$(jq '.summary.requestsPerSec | floor' "$RESULTS/capacity.json")"
    RATE=$((CAPACITY / 2))
    log "capacity $CAPACITY requests/s; the soak sends $RATE"
fi

sample() { # minute: rss_kib fds threads
    local rss threads fds
    rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status")"
    threads="$(awk '/^Threads:/ { print $2 }' "/proc/$PID/status")"
    fds="$(find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 | wc -l)"
    echo "$rss $fds $threads"
}

echo "minute rss_kib fds threads requests p99_ms errors deploy_ok feedback_ok" >"$RESULTS/samples.txt"
for minute in $(seq 1 "$MINUTES"); do
    # The load for this minute, in the background while the changes happen.
    "$OHA" "${OHA_ARGS[@]}" -c 32 -q "$RATE" -z 60s "$URL/v2/models/gbdt/infer" >"$RESULTS/minute-$minute.json" &
    LOAD=$!
    sleep 20
    # A deploy every minute: alternate the version and a setting.
    v=$((minute % 2 + 1))
    deploy_ok=0
    api -o /dev/null -X PUT "$URL/api/v1/deployments/gbdt" \
        -d "{\"model\":\"gbdt:$v\",\"settings\":{\"max_batch_size\":$((16 + minute % 3 * 16))}}" && deploy_ok=1
    # Feedback every five minutes: label the rows of a request made for it.
    feedback_ok=-
    if [ $((minute % 5)) -eq 0 ]; then
        feedback_ok=0
        id="soak-$minute"
        api -o /dev/null -H "x-request-id: $id" "$URL/v2/models/gbdt/infer" --data-binary "@$BODY" &&
            sleep 1 &&
            api -o /dev/null -X POST "$URL/api/v1/deployments/gbdt/feedback" \
                -d "{\"feedback\":[{\"request_id\":\"$id\",\"row\":0,\"label\":1}]}" && feedback_ok=1
    fi
    wait "$LOAD"
    read -r rss fds threads < <(sample)
    read -r requests p99 errors < <(jq -r '[
        ([.statusCodeDistribution // {} | to_entries[] | .value] | add // 0),
        ((.latencyPercentiles.p99 // 0) * 1000),
        (([.statusCodeDistribution // {} | to_entries[] | select(.key != "200") | .value] | add // 0)
          + ([.errorDistribution // {} | to_entries[] | .value] | add // 0))
      ] | "\(.[0] | floor) \(.[1] * 100 | round / 100) \(.[2])"' "$RESULTS/minute-$minute.json")
    echo "$minute $rss $fds $threads $requests $p99 $errors $deploy_ok $feedback_ok" >>"$RESULTS/samples.txt"
    log "minute $minute/$MINUTES: rss ${rss} KiB, $fds fds, $threads threads, p99 ${p99} ms, $errors errors"
done

# Least-squares slope per hour of a column after the warm-up.
slope() {
    awk -v col="$1" -v skip="$WARMUP_MIN" 'NR > 1 && $1 > skip {
        n++; x = $1 / 60; y = $col; sx += x; sy += y; sxx += x * x; sxy += x * y
    } END { if (n < 2) { print "n/a"; exit } printf "%.1f\n", (n * sxy - sx * sy) / (n * sxx - sx * sx) }' "$RESULTS/samples.txt"
}

echo "## Soak: $MINUTES min at $RATE requests/s (one-row GBDT), a deploy every minute, feedback every 5 min"
echo
echo "| minute | RSS (MiB) | open fds | threads | requests | p99 (ms) | errors | deploy | feedback |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk 'NR > 1 { printf "| %s | %.1f | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2 / 1024, $3, $4, $5, $6, $7, $8, $9 }' "$RESULTS/samples.txt"
echo
echo "After the first $WARMUP_MIN minutes: RSS $(slope 2) KiB/hour, open fds $(slope 3)/hour, threads $(slope 4)/hour."
log "done; raw results in $RESULTS"
