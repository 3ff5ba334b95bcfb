#!/usr/bin/env bash
# Hangar's fuzzing run: every fuzz target of crates/hangar-server/tests/fuzz/
# (the decoders of outside bytes: V2 JSON and binary bodies, gRPC ModelInfer,
# named-feature instances, baseline CSV, the prediction log buffer, stored
# monitoring aggregates, model-format sniffing, the ONNX guard) for a set time
# each, instead of the bounded number of cases `cargo test` runs.
#
# Usage: bench/fuzz.sh [FILTER]      FILTER: run only targets whose test name
#                                    contains it (e.g. `v2`, `guard`)
#
# Settings (environment):
#   FUZZ_SECONDS   time per target, in seconds                        [600]
#   FUZZ_THREADS   targets run at once (cargo test's --test-threads)  [2]
#   FUZZ_SEED      first seed (default: from the clock); a failure prints
#                  the seed and case count that replay it
#
# Runs the same test binary as `make test` (debug build: integer overflow and
# debug assertions are checked), so nothing else is built. Prints a markdown
# table of the cases each target ran on stdout and progress on stderr; the
# whole log goes to bench/results/fuzz-<UTC timestamp>/ (git-ignored). Exits
# non-zero if a target failed: its shrunk input and seed are in the log.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-600}"
THREADS="${FUZZ_THREADS:-2}"
FILTER="${1:-fuzz_}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$REPO/bench/results/fuzz-$STAMP"
CARGO="${CARGO:-cargo}"

log() { printf '[fuzz %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

case "$SECONDS_PER_TARGET" in
    '' | *[!0-9]*) log "error: FUZZ_SECONDS must be a whole number of seconds"; exit 2 ;;
esac
mkdir -p "$RESULTS"
cd "$REPO"

log "building the fuzz test binary"
"$CARGO" test -p hangar-server --features grpc --test fuzz --no-run >&2

targets="$("$CARGO" test -q -p hangar-server --features grpc --test fuzz -- --list 2>/dev/null |
    sed -n 's/^\(.*\): test$/\1/p' | grep -- "$FILTER" | grep 'fuzz_' || true)"
if [ -z "$targets" ]; then
    log "error: no fuzz target matches '$FILTER'"
    exit 2
fi
count="$(printf '%s\n' "$targets" | wc -l)"
log "$count targets, ${SECONDS_PER_TARGET} s each, $THREADS at a time: about $(( (count + THREADS - 1) / THREADS * SECONDS_PER_TARGET / 60 )) min"

status=0
started="$(date +%s)"
# shellcheck disable=SC2086
HANGAR_FUZZ_SECONDS="$SECONDS_PER_TARGET" HANGAR_FUZZ_SEED="${FUZZ_SEED:-}" \
    "$CARGO" test -p hangar-server --features grpc --test fuzz -- \
    --exact $targets --test-threads="$THREADS" --nocapture \
    >"$RESULTS/fuzz.log" 2>&1 || status=$?
elapsed=$(( $(date +%s) - started ))

echo "| target | cases | seconds | most memory held / input (share of the target's cap) |"
echo "| --- | ---: | ---: | --- |"
sed -n 's/^.*fuzz \([a-z0-9_]*\): \([0-9]*\) cases in \([0-9.]*\) s (seed [0-9]*)\(; closest to the cap: \(.*\)\)\{0,1\}$/| \1 | \2 | \3 | \5 |/p' \
    "$RESULTS/fuzz.log" | sort
echo
echo "Total: ${elapsed} s, $THREADS targets at a time. Log: ${RESULTS#"$REPO"/}/fuzz.log"
if [ "$status" -ne 0 ]; then
    log "a target failed; see $RESULTS/fuzz.log"
    grep -E '^(thread .* panicked|fuzz .*:|minimal failing case|replay with)' "$RESULTS/fuzz.log" | cut -c1-400 >&2 || true
fi
exit "$status"
