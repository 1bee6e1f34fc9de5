#!/usr/bin/env bash
# Builds and runs the C++ core tests (native/test/*.cc: core_test.cc, the store, models and
# row decoder through their APIs; store_parts_test.cc, the store's pieces one by one) with
# CMake, without Node.
#   scripts/test-native.sh              Release build in build-native/ (CUDA when nvcc is found)
#   scripts/test-native.sh --no-cuda    the same without the CUDA backend, in build-native-nocuda/
#   scripts/test-native.sh --sanitize   Debug + ASan/UBSan, CPU only, in build-sanitize/
# Each mode has its own build folder: CMake caches both HOTPATH_CUDA and the CUDA compiler
# it found, so one folder cannot switch between modes.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=0
cuda=1
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    --no-cuda) cuda=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "test-native.sh: unknown option '$arg' (use --sanitize, --no-cuda)" >&2; exit 2 ;;
  esac
done

cmake_args=(-DHOTPATH_TESTS=ON)
if [[ $sanitize == 1 ]]; then
  dir=build-sanitize
  cmake_args+=(
    -DCMAKE_BUILD_TYPE=Debug
    -DHOTPATH_CUDA=OFF
    "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
    "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined"
  )
elif [[ $cuda == 0 ]]; then
  dir=build-native-nocuda
  cmake_args+=(-DCMAKE_BUILD_TYPE=Release -DHOTPATH_CUDA=OFF)
else
  dir=build-native
  cmake_args+=(-DCMAKE_BUILD_TYPE=Release)
fi

cmake -S . -B "$dir" "${cmake_args[@]}"
cmake --build "$dir" --target core_test -j2

if [[ $sanitize == 1 ]]; then
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "$dir/core_test"
else
  "$dir/core_test"
fi
