#!/usr/bin/env bash
# The device check of the CUDA paths, for a lent GPU machine (no network there, probably no
# Node.js): prepared here, run there in one go (about 3 minutes).
#
#   scripts/gpu-check.sh --prepare   here: the CUDA addon (cmake-js), dist/, the C++ tests
#                                    and gpu_bench built against CUDA, a Node.js binary and
#                                    the production node_modules (without onnxruntime-node,
#                                    which a native-only config never loads) packed into
#                                    .gpu/kit.tar.xz (git-ignored; carry `.gpu` to the device)
#   scripts/gpu-check.sh [OUTDIR]    there: unpacks the kit over the tree and runs
#     1. nvidia-smi;
#     2. the C++ core tests, which compare CUDA with the CPU (dense chain fp32/fp16/bf16 with
#        and without graphs, with cuBLASLt and with the project's kernels, the memory
#        refusal, a lost device answered on the CPU; top-k), once with cuBLASLt from the
#        nvidia-cublas wheel and once with HOTPATH_CUBLASLT=off;
#     3. native/bench/gpu_bench.cc: the 256 -> 512 -> 512 -> 1 MLP at batch 1..4096 on the
#        CPU and the device, and exact top-k over 1M x 64 embeddings;
#     4. scripts/gpu/torch_mlp.py: PyTorch's time for the same MLP on the same GPU;
#     5. scripts/gpu/server-check.mjs: the server answering predicts with device cuda, and
#        a device loss answered on the CPU.
#   Everything goes to OUTDIR (default $OUT, else .gpu/out): gpu-check.md and one log per step.
#   Targets (issue 14): >= 10x the CPU at batch >= 256, within 1.5x of PyTorch's time.
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--prepare" ]]; then
  set -e
  mkdir -p .gpu
  npm run build:cuda
  npx tsc -p tsconfig.build.json
  cmake -S . -B build-native -DHOTPATH_TESTS=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build-native --target core_test gpu_bench -j2
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/bin" "$stage/build/Release" "$stage/build-native" "$stage/node_modules"
  cp "$(command -v node)" "$stage/bin/node"
  cp build/Release/hotpath.node "$stage/build/Release/"
  cp build-native/core_test build-native/gpu_bench "$stage/build-native/"
  # dist/ without the single executable and its parts (dist/hotpath, dist/sea), not needed there
  tar -cf - --exclude=dist/hotpath --exclude=dist/sea --exclude='*.map' dist | tar -xf - -C "$stage"
  # The production dependency closure, less onnxruntime-node (loaded only for onnx models)
  # and the uWebSockets.js builds for other Node.js versions.
  abi=$(node -p process.versions.modules)
  npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | sed "s|^$PWD/||" | sort -u |
    grep -v -e '^node_modules/onnxruntime-node$' -e '^node_modules/onnxruntime-common$' |
    while read -r d; do
      mkdir -p "$stage/$(dirname "$d")"
      tar -cf - --exclude='binaries/*' --exclude='uWebSockets.js/dist/*.node' --exclude='*/test/perf' "$d" | tar -xf - -C "$stage"
    done
  mkdir -p "$stage/node_modules/uWebSockets.js/binaries"
  cp node_modules/uWebSockets.js/binaries/uws_linux_x64_"$abi".node "$stage/node_modules/uWebSockets.js/binaries/"
  git describe --always --dirty >"$stage/.gpu-commit" 2>/dev/null || true
  XZ_OPT=-6T2 tar -cJf .gpu/kit.tar.xz -C "$stage" .
  du -h .gpu/kit.tar.xz
  echo "ready: carry .gpu and run scripts/gpu-check.sh on the device"
  exit 0
fi

out="${1:-${OUT:-.gpu/out}}"
mkdir -p "$out"
report="$out/gpu-check.md"
step() { echo "== $1" | tee -a "$report"; }
t0=$(date +%s)
{
  echo "# scripts/gpu-check.sh, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
} >"$report"

if [[ ! -f .gpu/kit.tar.xz ]]; then
  echo "no .gpu/kit.tar.xz: run scripts/gpu-check.sh --prepare here first, and carry .gpu" | tee -a "$report"
  exit 2
fi
py=python3
[[ -x /opt/torch/.venv/bin/python3 ]] && py=/opt/torch/.venv/bin/python3
# xz may be absent there; Python's tarfile reads it too
tar -xJf .gpu/kit.tar.xz -C . 2>/dev/null || "$py" -c 'import tarfile; tarfile.open(".gpu/kit.tar.xz").extractall(".")'
echo "kit built at $(cat .gpu-commit 2>/dev/null || echo unknown); tree at $(git describe --always --dirty 2>/dev/null || echo unknown)" | tee -a "$report"
export PATH="$PWD/bin:$PATH"

step "1. the device"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee -a "$report"

# cuBLASLt from the nvidia-cublas wheel, else anywhere on the disk (bounded)
lt=$("$py" -c 'import glob, os, site
for p in site.getsitepackages() + [site.getusersitepackages()]:
    f = sorted(glob.glob(os.path.join(p, "nvidia", "cu*", "lib", "libcublasLt.so.*")))
    if f:
        print(f[-1]); break' 2>/dev/null)
[[ -z "$lt" ]] && lt=$(timeout 30 find / -xdev -name 'libcublasLt.so.1[0-9]*' -not -path '/proc/*' 2>/dev/null | sort | tail -1)
echo "cuBLASLt: ${lt:-not found}" | tee -a "$report"

step "2. C++ tests, CUDA against the CPU (cuBLASLt: ${lt:-absent})"
HOTPATH_CUBLASLT="${lt:-off}" timeout 90 build-native/core_test >"$out/core_test.log" 2>&1
echo "rc $? ; $(grep -E 'passed|SKIP|FAIL' "$out/core_test.log" | tail -5 | tr '\n' ';')" | tee -a "$report"
grep -E '^  (fp32|fp16|bf16)' "$out/core_test.log" | tee -a "$report"
step "2b. the same with HOTPATH_CUBLASLT=off (the project's kernels)"
HOTPATH_CUBLASLT=off timeout 90 build-native/core_test >"$out/core_test_kernels.log" 2>&1
echo "rc $? ; $(grep -E 'passed|FAIL' "$out/core_test_kernels.log" | tail -3 | tr '\n' ';')" | tee -a "$report"

step "3. gpu_bench: MLP 256-512-512-1 and top-k over 1M x 64"
HOTPATH_CUBLASLT="${lt:-off}" timeout 150 build-native/gpu_bench >"$out/gpu_bench.md" 2>&1
echo "rc $?" >>"$report"
cat "$out/gpu_bench.md" >>"$report"

step "4. PyTorch, the same MLP"
timeout 90 "$py" scripts/gpu/torch_mlp.py >"$out/torch.md" 2>&1
echo "rc $?" >>"$report"
cat "$out/torch.md" >>"$report"

step "5. the server with device cuda"
HOTPATH_CUBLASLT="${lt:-off}" timeout 120 node scripts/gpu/server-check.mjs >"$out/server.md" 2>&1
echo "rc $?" >>"$report"
cat "$out/server.md" >>"$report"

echo "done in $(( $(date +%s) - t0 )) s" | tee -a "$report"
