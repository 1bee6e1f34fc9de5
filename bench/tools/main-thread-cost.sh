#!/bin/bash
# What one request costs each thread of a server at its closed-loop maximum (issue 17, the
# predict ratio to the uWS POST echo): wrk -t1 -c64 for 6 s (after 2 s of warm-up), and
# over 4 s of it `perf stat --per-thread` (CPU ms per thread: is the main thread the one
# that is saturated?) and `perf record` of the main thread alone (its samples per binary,
# as µs per request, and its heaviest JIT'd functions).
#
#   bash bench/tools/main-thread-cost.sh hello|DIR [predict|features]
#     hello: bench/uws-hello.mjs (POST parses the JSON body, GET answers a constant)
#     DIR: a built checkout, served with its hotpath.yaml and the standard data
# Run from the repository root, as root (perf), on an otherwise idle machine. Nothing is
# pinned (as in the floor scenario).
set -euo pipefail
TARGET=$1
SCENARIO=${2:-predict}
ROOT=$PWD
SCRIPT=$ROOT/bench/$([ "$SCENARIO" = predict ] && echo predict.lua || echo features.lua)
PORT=18799
OUT=$(mktemp -d)
trap 'kill $S 2>/dev/null || true; rm -rf "$OUT"' EXIT
S=
source bench/tools/start-target.sh
start_target "$TARGET" $PORT "$OUT"
wrk -t1 -c64 -d2s -s "$SCRIPT" http://127.0.0.1:$PORT > /dev/null
(
  sleep 1
  perf stat --per-thread -e task-clock -p "$S" -o "$OUT/stat.txt" -- sleep 4 > /dev/null 2>&1 &
  perf record -F 4999 -t "$S" -o "$OUT/perf.data" -- sleep 4 > /dev/null 2>&1
  wait
) &
P=$!
RPS=$(wrk -t1 -c64 -d6s -s "$SCRIPT" http://127.0.0.1:$PORT | awk '/Requests\/sec/ { print $2 }')
wait $P
echo "$TARGET $SCENARIO: $RPS req/s (wrk -t1 -c64, 6 s)"
echo "-- CPU per thread over 4 s (perf stat), µs per request:"
grep task-clock "$OUT/stat.txt" | awk -v rps="$RPS" -v pid="$S" '{ gsub(",", "", $2); if ($2 + 0 > 20) printf "   %-14s %7.1f ms  %5.2f us/request%s\n", $1, $2, $2 * 1000 / (rps * 4), ($1 ~ "-" pid "$") ? "  (main thread)" : "" }'
echo "-- the main thread's samples per binary, as µs per request of its CPU time:"
MAIN_MS=$(grep task-clock "$OUT/stat.txt" | awk -v pid="$S" '$1 ~ "-" pid "$" { gsub(",", "", $2); print $2 }')
perf report -i "$OUT/perf.data" --no-children --sort dso 2> /dev/null | grep -v '^#' | grep -v '^$' | head -8 |
  awk -v ms="$MAIN_MS" -v rps="$RPS" '{ p = $1; sub("%", "", p); printf "   %6.2f us  %s\n", p / 100 * ms * 1000 / (rps * 4), $0 }'
echo "-- the main thread's heaviest JIT'd functions (share of its samples):"
perf report -i "$OUT/perf.data" --no-children --sort sym 2> /dev/null | grep -v '^#' | grep 'JS:' | head -${TOP:-15} | sed -e 's#file://[^ ]*/dist/##' -e 's/^/   /'
