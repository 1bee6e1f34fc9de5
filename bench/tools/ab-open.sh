#!/usr/bin/env bash
# Open-loop A/B of two builds in alternating rounds: each round starts the server fresh
# (demo config), drives it with `hotpath bench --scenario predict --rate R --connections 256`
# and prints the latency percentiles, the send lag, the server's voluntary context
# switches over the run (all its threads) and the CPU seconds of its three busiest
# threads (the main thread and the inference worker first), from /proc.
#   bench/tools/ab-open.sh DIR_A DIR_B [rate=25000] [rounds=3] [seconds=5]
set -euo pipefail
A=$1; B=$2; RATE=${3:-25000}; ROUNDS=${4:-3}; SECS=${5:-5}
GEN="$(cd "$(dirname "$0")/../.." && pwd)/dist/cli/main.js"
PORT=18310
switches() { cat /proc/"$1"/task/*/status | awk '/^voluntary_ctxt_switches/ {s += $2} END {print s}'; }
ticks() { for t in /proc/"$1"/task/*; do echo "$(basename "$t") $(awk '{print $14 + $15}' "$t"/stat)"; done; }
HZ=$(getconf CLK_TCK)
for r in $(seq 1 "$ROUNDS"); do
  for d in "$A" "$B"; do
    (cd "$d" && exec node dist/cli/main.js serve --config hotpath.yaml --host 127.0.0.1 --port $PORT >/dev/null 2>&1) &
    pid=$!
    for _ in $(seq 1 50); do curl -sf localhost:$PORT/readyz >/dev/null && break; sleep 0.1; done
    sw0=$(switches $pid); ticks $pid > /tmp/ab-open.t0
    out=$(node "$GEN" bench --url http://127.0.0.1:$PORT --scenario predict --rate "$RATE" --connections 256 --duration "$SECS" --warmup 1 2>/dev/null)
    sw1=$(switches $pid); ticks $pid > /tmp/ab-open.t1
    cpu=$(join /tmp/ab-open.t0 /tmp/ab-open.t1 | awk -v hz="$HZ" '{print ($3 - $2) / hz}' | sort -rn | head -3 | xargs printf '%.2f ' )
    echo "round $r $d |$(echo "$out" | grep '^  latency' | tr -s ' ' | cut -d' ' -f3-14) | send lag $(echo "$out" | grep 'send lag' | tr -s ' ' | cut -d' ' -f4-9) | context switches $((sw1 - sw0)) | busiest threads, CPU s: $cpu"
    kill $pid; wait $pid 2>/dev/null || true
  done
done
