# Sourced by bench/tools/open-loop-cost.sh and main-thread-cost.sh (run from the repository
# root): start_target TARGET PORT OUT [CPUS] starts TARGET on 127.0.0.1:PORT under
# `node --perf-basic-prof`, pinned to CPUS when given, and sets S to the pid of its node
# process (while it starts, S is the launcher's, so that an EXIT trap can stop it).
#   TARGET hello: bench/uws-hello.mjs (GET answers a constant, POST parses the JSON body)
#   TARGET DIR: a built checkout, serving its hotpath.yaml (its log in OUT/server.log),
#               gated on /readyz and loaded with the standard data
start_target() {
  local target=$1 port=$2 out=$3 cpus=${4:-}
  local pin=()
  if [ -n "$cpus" ]; then pin=(taskset -c "$cpus"); fi
  if [ "$target" = hello ]; then
    "${pin[@]}" node --perf-basic-prof bench/uws-hello.mjs "$port" &
    S=$!
    for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  else
    (cd "$target" && exec "${pin[@]}" node --perf-basic-prof dist/cli/main.js serve --config hotpath.yaml --host 127.0.0.1 --port "$port" > "$out/server.log" 2>&1) &
    S=$!
    for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break; sleep 0.2; done
    node -e "import('$PWD/dist/bench/harness.js').then((m) => m.loadStandardData('http://127.0.0.1:$port'))"
  fi
  sleep 0.5
  # the node process itself (taskset and the subshell exec it, so its pid is the listener's)
  S=$(ss -ltnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
}
