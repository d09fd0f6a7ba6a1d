#!/usr/bin/env python3
"""PyTorch's side of the checkpoint I/O benchmark: torch.save / torch.load of
a state dict of N 4096x4096 float32 tensors (N=16: 1 GiB) in DIR (page cache).
Prints one JSON line with the best-of-REPEAT GB/s for save, load and (torch
>= 2.1) load with mmap=True."""
import argparse, json, os, time
from collections import OrderedDict

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--mib", type=int, default=1024)
ap.add_argument("--dir", default="/dev/shm")
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)
n = a.mib // 64
sd = OrderedDict((f"layer{i}.weight", torch.full((4096, 4096), float(i))) for i in range(n))
path = os.path.join(a.dir, "torch_bench.pt")
nbytes = n * 64 * 2**20


def best(fn):
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return nbytes / min(times) / 1e9


out = {"framework": "pytorch", "torch": torch.__version__, "mib": a.mib}
out["save_GBps"] = best(lambda: torch.save(sd, path))
out["load_GBps"] = best(lambda: torch.load(path))
try:
    out["mmap_load_GBps"] = best(lambda: torch.load(path, mmap=True))
except TypeError:
    out["mmap_load_GBps"] = None  # torch < 2.1 has no mmap load
os.remove(path)
print(json.dumps(out))
