#!/usr/bin/env bash
# A/B of two builds in alternating rounds (A, B, A, B, ...), so that the machine's drift
# hits both alike. Each directory is a checkout with dist/ built (npm run prepare) and the
# addon in build/Release; each round starts its server fresh, runs wrk, and stops it.
#   bench/tools/ab.sh DIR_A DIR_B [predict.lua|features.lua] [rounds=3] [seconds=6]
# e.g. git worktree add /tmp/base HEAD~1 && (cd /tmp/base && ln -s "$PWD/../main/node_modules" . ...)
set -euo pipefail
A=$1; B=$2; SCRIPT=${3:-predict.lua}; ROUNDS=${4:-3}; SECS=${5:-6}
LUA="$(cd "$(dirname "$0")/.." && pwd)/$SCRIPT"
PORT=18300
for r in $(seq 1 "$ROUNDS"); do
  for d in "$A" "$B"; do
    (cd "$d" && exec node dist/cli/main.js serve --config hotpath.yaml --host 127.0.0.1 --port $PORT >/dev/null 2>&1) &
    pid=$!
    for _ in $(seq 1 50); do curl -sf localhost:$PORT/readyz >/dev/null && break; sleep 0.1; done
    out=$(wrk -t1 -c64 -d"${SECS}s" --latency -s "$LUA" http://127.0.0.1:$PORT/)
    echo "round $r $d $(echo "$out" | awk '/Requests\/sec/ {print $2}') req/s p99 $(echo "$out" | awk '$1=="99%" {print $2}')"
    kill $pid; wait $pid 2>/dev/null || true
  done
done
