#!/usr/bin/env bash
# LearnMany of two versions of native/core/learner.cc in one process, interleaved, without
# Node: min and median ns per row of 64K rows (batches of 4096) per case, and whether both
# learned the same loss bits. On a shared, noisy machine the min of many interleaved reps is
# steadier than bench/learner-micro.ts's medians of 3.
#   bench/learner-ab/run.sh [BASE_REV] [DIM] [REPS]     (defaults: HEAD~1 10 31)
# "old" is learner.cc/.h at BASE_REV (its namespace renamed), "new" the working tree's.
# Compiled with binding.gyp's flags (-O3 -fno-math-errno -fno-trapping-math, SSE2 baseline).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rev=${1:-HEAD~1}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/old"
git -C "$root" show "$rev:native/core/learner.cc" >"$out/old/learner.cc"
git -C "$root" show "$rev:native/core/learner.h" >"$out/old/learner.h"
core=$root/native/core
F=(-std=c++17 -O3 -fno-math-errno -fno-trapping-math -fno-exceptions)
old=(-Dhotpath=hpold "-I$out/old" "-I$core")
g++ "${F[@]}" "${old[@]}" -DFN=run_old -c "$here/impl.cc" -o "$out/impl_old.o"
g++ "${F[@]}" "${old[@]}" -c "$out/old/learner.cc" -o "$out/learner_old.o"
g++ "${F[@]}" "${old[@]}" -c "$core/crc32c.cc" -o "$out/crc_old.o"
g++ "${F[@]}" "-I$core" -DFN=run_new -c "$here/impl.cc" -o "$out/impl_new.o"
g++ "${F[@]}" "-I$core" -c "$core/learner.cc" -o "$out/learner_new.o"
g++ "${F[@]}" "-I$core" -c "$core/crc32c.cc" -o "$out/crc_new.o"
g++ "${F[@]}" "$here/main.cc" "$out"/*.o -o "$out/ab"
pin=()
if command -v taskset >/dev/null && [[ $(nproc) -gt 1 ]]; then pin=(taskset -c 1); fi
echo "base $rev ($(git -C "$root" rev-parse --short "$rev")) vs working tree; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
"${pin[@]}" "$out/ab" "${2:-10}" "${3:-31}"
