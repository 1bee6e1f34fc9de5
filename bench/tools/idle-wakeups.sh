#!/usr/bin/env bash
# An idle server's own activity: starts `hotpath serve` (shipped hotpath.yaml, no demo, no
# requests) of each built checkout given, waits 6 s, then counts over 10 s the main thread's
# voluntary context switches (its wake-ups) and the whole process's CPU ticks (utime +
# stime, 10 ms each), from /proc.
#   bash bench/tools/idle-wakeups.sh /work/base /work/main
set -euo pipefail
port=${PORT:-18555}
for dir in "$@"; do
  (cd "$dir" && exec node dist/cli/main.js serve --config hotpath.yaml --port "$port" >/dev/null 2>&1) &
  pid=$!
  sleep 6
  w0=$(awk '/^voluntary_ctxt_switches/ {print $2}' /proc/$pid/task/$pid/status)
  c0=$(awk '{print $14 + $15}' /proc/$pid/stat)
  sleep 10
  w1=$(awk '/^voluntary_ctxt_switches/ {print $2}' /proc/$pid/task/$pid/status)
  c1=$(awk '{print $14 + $15}' /proc/$pid/stat)
  echo "$dir: main-thread wake-ups $(( (w1 - w0) / 10 ))/s, CPU ticks in 10 s $(( c1 - c0 ))"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
