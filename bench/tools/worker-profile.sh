#!/bin/bash
# The inference worker thread at the closed-loop predict maximum (issue 17): a built
# checkout serving its hotpath.yaml with the standard data, wrk -t1 -c64 on
# bench/predict.lua for 6 s (after 2 s of warm-up), `perf record` of the worker thread
# alone (the busiest thread that is not the main one) over 4 s of it, then its symbols
# with their samples and, per symbol, µs per request (samples / 4999 Hz / requests in the 4 s).
#
#   bash bench/tools/worker-profile.sh [DIR] [ROWS]     (DIR: a built checkout, default .)
# Run from the repository root, as root (perf). The profiler slows the server (fewer
# requests), so compare shares between builds, not the req/s.
set -euo pipefail
TARGET=${1:-$PWD}
ROWS=${2:-40}
PORT=18796
OUT=$(mktemp -d)
S=
trap 'kill $S 2>/dev/null || true; rm -rf "$OUT"' EXIT
source bench/tools/start-target.sh
start_target "$TARGET" $PORT "$OUT"
wrk -t1 -c64 -d2s -s bench/predict.lua http://127.0.0.1:$PORT > /dev/null
W=$(ps -L -o tid=,pcpu= -p "$S" | awk -v m="$S" '$1 != m' | sort -k2 -nr | head -1 | awk '{ print $1 }')
(sleep 1 && perf record -F 4999 -t "$W" -o "$OUT/w.data" -- sleep 4 > /dev/null 2>&1) &
P=$!
RPS=$(wrk -t1 -c64 -d6s -s bench/predict.lua http://127.0.0.1:$PORT | awk '/Requests\/sec/ { print $2 }')
wait $P
kill "$S"
wait "$S" 2> /dev/null || true
S=
perf report -i "$OUT/w.data" --no-children -n --sort dso,sym 2> /dev/null | grep -v '^#' | grep -v '^$' > "$OUT/syms"
python3 - "$OUT/syms" "$RPS" "$ROWS" << 'PY'
import re, sys
path, rps, rows = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
per = 1e6 / 4999 / (rps * 4)
line_re = re.compile(r'\s*([\d.]+)%\s+(\d+)\s+(.+?)\s+\[(.)\]\s+(.*)$')
got = [(float(m.group(1)), int(m.group(2)), re.sub(r'tid \d+', '', m.group(3)).strip(), re.sub(r'file://\S*/(dist|bench)/', '', m.group(5).strip()))
       for m in map(line_re.match, open(path)) if m]
total = sum(n for _, n, _, _ in got)
print(f'{rps:.0f} predicts/s under the profiler; worker thread {total * per:.2f} us/request ({total} samples)')
print('| share | us/request | binary | symbol |')
print('|---|---|---|---|')
for share, n, dso, sym in got[:rows]:
    print(f'| {share:.2f} % | {n * per:.3f} | {dso} | {sym[:90]} |')
PY
