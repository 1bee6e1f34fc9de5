#!/bin/bash
# Where two servers' main threads differ, function by function, at their closed-loop maximum
# (issue 17, the predict ratio): for each TARGET, wrk -t1 -c64 for 6 s (after 2 s of
# warm-up) and `perf record` of the main thread alone over 4 s of it; then every symbol's
# samples as µs per request of that target (samples / 4999 Hz / requests in the 4 s), the
# totals per binary, and the symbols that differ most, A minus B. JIT'd functions are named
# by file:line:column, so a function moved by an edit shows as two rows.
#
#   bash bench/tools/main-thread-diff.sh A B [predict|features] [ROWS]
#     A, B: hello (bench/uws-hello.mjs) or a built checkout's DIR, as main-thread-cost.sh takes
# Run from the repository root, as root (perf), on an otherwise idle machine; the two are
# measured one after the other, so run it twice, in both orders, before trusting a row.
set -euo pipefail
A=$1
B=$2
SCENARIO=${3:-predict}
ROWS=${4:-40}
ROOT=$PWD
SCRIPT=$ROOT/bench/$([ "$SCENARIO" = predict ] && echo predict.lua || echo features.lua)
PORT=18794
OUT=$(mktemp -d)
trap 'kill $S 2>/dev/null || true; rm -rf "$OUT"' EXIT
S=
source bench/tools/start-target.sh
for side in a b; do
  TARGET=$([ $side = a ] && echo "$A" || echo "$B")
  start_target "$TARGET" $PORT "$OUT"
  wrk -t1 -c64 -d2s -s "$SCRIPT" http://127.0.0.1:$PORT > /dev/null
  (sleep 1 && perf record -F 4999 -t "$S" -o "$OUT/$side.data" -- sleep 4 > /dev/null 2>&1) &
  P=$!
  wrk -t1 -c64 -d6s -s "$SCRIPT" http://127.0.0.1:$PORT | awk '/Requests\/sec/ { print $2 }' > "$OUT/$side.rps"
  wait $P
  kill $S
  wait $S 2> /dev/null || true
  S=
  perf report -i "$OUT/$side.data" --no-children -n --sort dso,sym 2> /dev/null | grep -v '^#' | grep -v '^$' > "$OUT/$side.syms"
  sleep 1
done
python3 - "$OUT" "$A" "$B" "$ROWS" << 'EOF'
import re, sys
out, names, rows = sys.argv[1], sys.argv[2:4], int(sys.argv[4])
line_re = re.compile(r'\s*[\d.]+%\s+(\d+)\s+(.+?)\s+\[(.)\]\s+(.*)$')
def load(side):
    rps = float(open(f'{out}/{side}.rps').read())
    per = 1e6 / 4999 / (rps * 4)  # µs of one sample, per request
    syms, dsos = {}, {}
    for line in open(f'{out}/{side}.syms'):
        m = line_re.match(line)
        if not m:
            continue
        dso = re.sub(r'tid \d+', '', m.group(2)).strip()
        sym = re.sub(r'file://\S*/(dist|bench)/', '', m.group(4).strip())
        us = int(m.group(1)) * per
        syms[(dso, sym)] = syms.get((dso, sym), 0) + us
        dsos[dso] = dsos.get(dso, 0) + us
    return rps, syms, dsos
(ra, a, da), (rb, b, db) = load('a'), load('b')
print(f'A {names[0]}: {ra:.0f} req/s, main thread {sum(a.values()):.2f} us/request')
print(f'B {names[1]}: {rb:.0f} req/s, main thread {sum(b.values()):.2f} us/request')
print('per binary, us/request: A, B, A - B')
for d in sorted(set(da) | set(db), key=lambda d: -(da.get(d, 0) + db.get(d, 0))):
    print(f'  {d[:28]:28s} {da.get(d, 0):6.2f} {db.get(d, 0):6.2f} {da.get(d, 0) - db.get(d, 0):+6.2f}')
keys = sorted(set(a) | set(b), key=lambda k: -abs(a.get(k, 0) - b.get(k, 0)))
print(f'the {rows} symbols that differ most, us/request: A, B, A - B')
for k in keys[:rows]:
    print(f'  {a.get(k, 0):6.3f} {b.get(k, 0):6.3f} {a.get(k, 0) - b.get(k, 0):+6.3f}  {k[0][:14]:14s} {k[1][:100]}')
EOF
