#!/usr/bin/env bash
# Builds bench/tools/slot-scan.cc twice (the compact ring's scans as SSE2 bit masks, and
# the scalar loops: HOTPATH_SLOT_MASKS=0) with the addon's flags, and runs them
# alternately on one core: bash bench/tools/slot-scan.sh [entities] [reads] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
src="bench/tools/slot-scan.cc native/core/feature_store.cc native/core/windows.cc native/core/row_layout.cc native/core/hll.cc native/core/shard_index.cc native/core/region.cc native/core/snapshot.cc native/core/crc32c.cc"
flags="-std=c++17 -O3 -fno-math-errno -fno-trapping-math -fno-exceptions -pthread"
g++ $flags -o "$out/masks" $src &
g++ $flags -DHOTPATH_SLOT_MASKS=0 -o "$out/scalar" $src &
wait
for i in $(seq 1 "${3:-5}"); do
  taskset -c 1 "$out/masks" "${1:-20000}" "${2:-50}"
  taskset -c 1 "$out/scalar" "${1:-20000}" "${2:-50}"
done
rm -rf "$out"
