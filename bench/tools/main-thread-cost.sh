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
if [ "$TARGET" = hello ]; then
  node --perf-basic-prof bench/uws-hello.mjs $PORT &
  S=$!
  for i in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:$PORT/ && break; sleep 0.1; done
else
  (cd "$TARGET" && exec node --perf-basic-prof dist/cli/main.js serve --config hotpath.yaml --host 127.0.0.1 --port $PORT > "$OUT/server.log" 2>&1) &
  S=$!
  for i in $(seq 1 150); do curl -sf http://127.0.0.1:$PORT/readyz > /dev/null && break; sleep 0.2; done
  node -e "import('$ROOT/dist/bench/harness.js').then((m) => m.loadStandardData('http://127.0.0.1:$PORT'))"
fi
S=$(ss -ltnpH "sport = :$PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
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
