#!/usr/bin/env python3
"""PyTorch's time for the MLP of native/bench/gpu_bench.cc (256 -> 512 relu -> 512 relu ->
1 sigmoid) on the same GPU, for scripts/gpu-check.sh: median µs per forward at batch 1 to
4096, host tensor in and host tensor out (as hotpath's forward is timed), and the same with
the tensors already on the device; fp32 (TF32 off) and fp16. Markdown on stdout.
  torch_mlp.py [--quick] [--cpu]   (--cpu: the same on the CPU, a smoke test where no GPU is)"""
import copy
import statistics
import sys
import time

import torch

quick = "--quick" in sys.argv
dev = "cpu" if "--cpu" in sys.argv else "cuda"
sync = (lambda: None) if dev == "cpu" else torch.cuda.synchronize
if dev == "cuda" and not torch.cuda.is_available():
    print("PyTorch sees no CUDA device: nothing to measure")
    sys.exit(2)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.manual_seed(1)
model = torch.nn.Sequential(
    torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 1), torch.nn.Sigmoid()
).eval()
gpu32 = model.to(dev)
gpu16 = copy.deepcopy(gpu32).half()


def median_us(fn, budget_s):
    for _ in range(5):
        fn()
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    one = max(time.perf_counter() - t0, 1e-6)
    reps = max(5, min(2000, int(budget_s / one)))
    ts = []
    for _ in range(reps):
        s = time.perf_counter()
        fn()
        sync()
        ts.append((time.perf_counter() - s) * 1e6)
    return statistics.median(ts)


budget = 0.03 if quick else 0.3
print(f"# PyTorch {torch.__version__} on {torch.cuda.get_device_name(0) if dev == 'cuda' else 'the CPU'}\n")
print("| batch | fp32 host→host | fp32 on device | fp16 host→host | fp16 on device |")
print("|---|---|---|---|---|")
with torch.inference_mode():
    for b in (1, 8, 64, 256, 1024, 4096):
        xh = torch.randn(b, 256)
        if dev == "cuda":
            xh = xh.pin_memory()
        xd = xh.to(dev)
        xd16 = xd.half()
        row = [
            median_us(lambda: gpu32(xh.to(dev, non_blocking=True)).to("cpu"), budget),
            median_us(lambda: gpu32(xd), budget),
        ]
        if dev == "cuda":  # fp16 matrix products need the GPU (the CPU build has none)
            row += [
                median_us(lambda: gpu16(xh.to(dev, non_blocking=True).half()).float().to("cpu"), budget),
                median_us(lambda: gpu16(xd16), budget),
            ]
        print(f"| {b} | " + " | ".join(f"{v:.1f}" for v in row) + " |" + (" n/a | n/a |" if dev == "cpu" else ""))
        sys.stdout.flush()
