#!/usr/bin/env bash
# The serving benchmark: feature reads and predictions over HTTP, closed-loop with wrk on
# this machine, beside uWebSockets.js servers that do no work (bench/uws-hello.mjs)
# measured in the same run.
#   bench/serving.sh [duration, default 10s] [connections, default 64]
# Needs wrk (apt-get install wrk) and the built server (npm run prepare). Prints a markdown
# table; the server's own view (batch sizes, server-side predict latency) comes from /metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10s}
CONN=${2:-64}
HELLO_PORT=18090
HP_PORT=18091
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
npm run --silent prepare

node bench/uws-hello.mjs $HELLO_PORT &
HELLO=$!
node dist/cli/main.js serve --config hotpath.yaml --host 127.0.0.1 --port $HP_PORT >/tmp/hotpath-bench.log 2>&1 &
HP=$!
trap 'kill $HELLO $HP 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf localhost:$HP_PORT/readyz >/dev/null && break; sleep 0.1; done
curl -sf localhost:$HELLO_PORT/ >/dev/null

# Features for users 1..1000 and merchants 1..100: 20 events each, over the last 10 minutes
# (four requests of 5000: a body must stay under server.max_body_bytes, 1 MiB).
for part in 0 1 2 3; do
  node -e '
const now = Date.now(); const part = Number(process.argv[1]); const lines = [];
for (let i = part * 5000; i < (part + 1) * 5000; i++) lines.push(JSON.stringify({ user_id: `user-${i % 1000 + 1}`,
  merchant_id: `merchant-${i % 100 + 1}`, amount: 5 + (i % 97), country: ["FR", "DE", "US"][i % 3], channel: "web", ts: now - 600000 + i * 30 }));
process.stdout.write(lines.join("\n"));' $part > /tmp/hotpath-bench-events.ndjson
  curl -sf -XPOST "localhost:$HP_PORT/v1/events" -H 'content-type: application/x-ndjson' --data-binary @/tmp/hotpath-bench-events.ndjson >/dev/null
done

run() { # name url [script]
  local out
  if [ -n "${3:-}" ]; then out=$(wrk -t1 -c"$CONN" -d"$DUR" --latency -s "$3" "$2"); else out=$(wrk -t1 -c"$CONN" -d"$DUR" --latency "$2"); fi
  local rps p50 p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  printf '| %s | %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p99" "${non2xx:-0}"
}

echo "wrk -t1 -c$CONN -d$DUR, $(nproc) cores, $(node --version), $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| target | req/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
run "uWS GET hello world (ceiling for reads)" "http://127.0.0.1:$HELLO_PORT/"
run "hotpath GET /v1/features/user/{id}" "http://127.0.0.1:$HP_PORT/" bench/features.lua
run "uWS POST, JSON body parsed (ceiling for predict)" "http://127.0.0.1:$HELLO_PORT/" bench/predict.lua
run "hotpath POST /v1/predict/fraud" "http://127.0.0.1:$HP_PORT/" bench/predict.lua
run "uWS GET hello world, again (noise)" "http://127.0.0.1:$HELLO_PORT/"

echo
curl -s "localhost:$HP_PORT/metrics" | node -e '
const text = require("fs").readFileSync(0, "utf8");
const val = (re) => { const m = text.match(re); return m ? Number(m[1]) : NaN; };
const rows = val(/^hotpath_model_inference_count_total\{model="fraud"\} (\S+)/m);
const execs = val(/^hotpath_model_execution_count_total\{model="fraud"\} (\S+)/m);
const buckets = [...text.matchAll(/^hotpath_model_request_duration_seconds_bucket\{model="fraud",le="([^"]+)"\} (\S+)/gm)].map((m) => [Number(m[1]), Number(m[2])]);
const total = buckets.at(-1)[1];
const q = (p) => buckets.find(([, c]) => c >= p * total)[0];
console.log(`server side, fraud: ${rows} rows in ${execs} batches (mean batch ${(rows / execs).toFixed(1)}); ` +
  `request duration p50 <= ${q(0.5) * 1e6} us, p99 <= ${q(0.99) * 1e6} us (histogram bucket bounds)`);
console.log(buckets.map(([le, c]) => `${le}: ${c}`).join(", "));'
