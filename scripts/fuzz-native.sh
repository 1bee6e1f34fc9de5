#!/usr/bin/env bash
# Builds the libFuzzer targets of native/fuzz/ with clang (-fsanitize=fuzzer,address,undefined)
# and runs each for a fixed time from its committed seed corpus (native/fuzz/corpus/<target>/,
# copied to build-fuzz/corpus/ so that what the fuzzer learns never lands in the tree).
# Fails on any crash, leak, UB report, timeout or out-of-memory; the input that caused it
# is left in build-fuzz/artifacts/ (replay: build-fuzz/fuzz_<target> <file>).
#   scripts/fuzz-native.sh                  every target, FUZZ_SECONDS (default 20) each
#   scripts/fuzz-native.sh event_rows       one target
#   FUZZ_SECONDS=300 scripts/fuzz-native.sh longer runs
#   FUZZ_REPORT=file                        also append a markdown row per target to file
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
targets=("$@")
if [[ ${#targets[@]} == 0 ]]; then
  targets=()
  for f in native/fuzz/fuzz_*.cc; do t=${f#native/fuzz/fuzz_}; targets+=("${t%.cc}"); done
fi
CXX=${FUZZ_CXX:-clang++}
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "fuzz-native.sh: $CXX not found (apt-get install -y clang)" >&2
  exit 2
fi

dir=build-fuzz
mkdir -p "$dir/artifacts"
# The core's sources as CMakeLists.txt lists them (HOTPATH_CORE_SOURCES), and the CPU-only CUDA stub.
mapfile -t core < <(sed -n '/set(HOTPATH_CORE_SOURCES/,/)/p' CMakeLists.txt | grep -oE 'native/core/[a-z0-9_]+\.cc')
core+=(native/cuda/cuda_none.cc)
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)

# The core once (objects with sanitizer coverage, no libFuzzer main), then each target.
mkdir -p "$dir/obj"
objs=()
for src in "${core[@]}"; do
  obj="$dir/obj/$(basename "${src%.cc}").o"
  # Rebuilt when any core file (headers included) is newer than it.
  if [[ ! -f $obj ]] || [[ -n $(find native/core "$src" -newer "$obj" -print -quit) ]]; then
    "$CXX" "${flags[@]/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,}" -c "$src" -o "$obj" &
  fi
  objs+=("$obj")
done
wait
for t in "${targets[@]}"; do
  "$CXX" "${flags[@]}" "native/fuzz/fuzz_$t.cc" "${objs[@]}" -o "$dir/fuzz_$t"
done

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for t in "${targets[@]}"; do
  corpus="$dir/corpus/$t"
  mkdir -p "$corpus"
  cp -n native/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  log="$dir/fuzz_$t.log"
  # Inputs up to 4 KiB, or the largest seed (a snapshot of a few hundred entities is ~16 KiB).
  maxlen=$(find native/fuzz/corpus/"$t" -type f -printf '%s\n' 2>/dev/null | sort -n | tail -1)
  maxlen=$(( ${maxlen:-0} > 4096 ? maxlen : 4096 ))
  echo "== fuzz_$t: ${seconds}s from $(ls "$corpus" | wc -l) corpus inputs"
  if "$dir/fuzz_$t" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$maxlen" \
      -print_final_stats=1 -artifact_prefix="$dir/artifacts/$t-" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
    grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -20 || true
  fi
  # The last status line: "#N DONE cov: C ft: F corp: K/... exec/s: E rss: R".
  line=$(grep -E "^#[0-9]+" "$log" | tail -1 || true)
  runs=$(grep -oE "stat::number_of_executed_units: [0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
  cov=$(grep -oE "cov: [0-9]+" <<<"$line" | grep -oE "[0-9]+" || echo "?")
  ft=$(grep -oE "ft: [0-9]+" <<<"$line" | grep -oE "[0-9]+" || echo "?")
  corp=$(grep -oE "corp: [0-9]+" <<<"$line" | grep -oE "[0-9]+" || echo "?")
  eps=$(grep -oE "exec/s: [0-9]+" <<<"$line" | grep -oE "[0-9]+" || echo "?")
  rss=$(grep -oE "rss: [0-9]+Mb" <<<"$line" | grep -oE "[0-9]+" || echo "?")
  echo "   $result: $runs runs in ${seconds}s ($eps/s), coverage $cov edges, $ft features, corpus $corp, rss ${rss} MB (log: $log)"
  if [[ -n ${FUZZ_REPORT:-} ]]; then
    echo "| fuzz_$t | $seconds | $runs | $eps | $cov | $ft | $corp | $rss | $result |" >>"$FUZZ_REPORT"
  fi
done
exit $status
