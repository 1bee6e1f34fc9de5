#!/bin/bash
# What a server pays per request under open-loop load, and whether its CPU is saturated
# (issue 17, the predict tail): the server pinned to CPU 0, our generator (hotpath bench,
# open loop) pinned to CPU 1 for 13 s at RATE predicts/s, and three windows of it:
#   3-6 s   perf stat: task-clock, context switches, syscalls (all the server's threads)
#   6-9 s   perf sched on CPU 0: run time per thread, the main thread's scheduling delays,
#           and the stretches in which CPU 0 never went idle (20 ms or longer)
#   9-12 s  perf record: the server's samples per binary (kernel, node, JIT'd JS, addon, uWS)
#
#   bash bench/tools/open-loop-cost.sh TARGET RATE [SCENARIO]
#     TARGET: hello (bench/uws-hello.mjs, the server that does no work) or a built checkout
#     SCENARIO: predict (default) or features
# Run from the repository root, as root (perf), on an otherwise idle machine.
set -euo pipefail
TARGET=$1
RATE=$2
SCENARIO=${3:-predict}
PORT=18797
OUT=$(mktemp -d)
trap 'kill $S 2>/dev/null || true; rm -rf "$OUT"' EXIT
S=
source bench/tools/start-target.sh
start_target "$TARGET" $PORT "$OUT" 0
(
  sleep 3
  perf stat -e task-clock,context-switches,raw_syscalls:sys_enter -p "$S" -o "$OUT/stat.txt" -- sleep 3 > /dev/null 2>&1
  perf sched record -C 0 -o "$OUT/sched.data" -- sleep 3 > /dev/null 2>&1
  perf record -g -F 1999 -p "$S" -o "$OUT/perf.data" -- sleep 3 > /dev/null 2>&1
) &
P=$!
CONN=$(node -e "console.log(Math.max(64, Math.ceil(($RATE * 0.01) / 64) * 64))")
taskset -c 1 node dist/cli/main.js bench --url http://127.0.0.1:$PORT --scenario "$SCENARIO" --rate "$RATE" --connections "$CONN" --duration 12s --warmup 1s 2>&1 |
  grep -E 'throughput|latency|send lag|server CPU|batches' || true
wait $P
echo "-- perf stat, 3 s ($((RATE * 3)) requests due):"
awk -v n=$((RATE * 3)) '/task-clock/ { gsub(",", "", $1); printf "   CPU %.1f us/request (%.2f CPUs)\n", $1 * 1000 / n, $1 / 3000 }
  /context-switches/ { gsub(",", "", $1); printf "   context switches %.2f/request\n", $1 / n }
  /sys_enter/ { gsub(",", "", $1); printf "   syscalls %.2f/request\n", $1 / n }' "$OUT/stat.txt"
echo "-- perf sched on CPU 0, 3 s:"
perf sched timehist -i "$OUT/sched.data" 2> /dev/null | awk -v pid="$S" 'NR > 3 {
    t = $1 + 0; task = $3; run = $6 + 0
    who = (task == "node[" pid "]") ? "main" : (index(task, "/" pid "]") ? "other threads of the server" : (task == "<idle>" ? "idle" : "other tasks"))
    ms[who] += run
    if (who == "main") { n++; if ($5 + 0 > 1) d1++; if ($5 + 0 > 3) d3++; if (run > 3) r3++ }
    # timehist: t is when the task left the CPU (s), run how long it ran (ms); an idle entry
    # of more than 50 us ends a busy stretch that began where the previous one left off
    if (who == "idle" && run > 0.05) { b = t - run / 1000 - last; if (last && b >= 0.020) { long++; if (b > max) max = b }; last = t }
    else if (!last) last = t
  }
  END {
    for (w in ms) printf "   %-28s %7.1f ms\n", w, ms[w]
    printf "   main thread: %d runs; scheduling delay > 1 ms: %d, > 3 ms: %d; runs > 3 ms: %d\n", n, d1, d3, r3
    printf "   CPU 0 never idle (> 50 us) for 20 ms or more: %d times, the longest %.1f ms\n", long, max * 1000
  }'
echo "-- perf record, 3 s: samples per binary"
perf report -i "$OUT/perf.data" --no-children --sort dso -g none 2> /dev/null | grep -v '^#' | grep -v '^$' | head -8 | sed 's/^/   /'
