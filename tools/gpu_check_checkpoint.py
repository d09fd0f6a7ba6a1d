#!/usr/bin/env python3
"""gpu-check's interop step: a checkpoint torchless saved from a GPU run,
loaded in PyTorch with torch.load(weights_only=True), against torchless's
own CPU copy of it (torchless convert --map-location cpu).

usage: gpu_check_checkpoint.py SAVED CPU_COPY [--expect-device cuda|cpu] [--allow-old-torch]

Checks: both load with weights_only=True; every tensor of SAVED is on the
expected device type (torch keeps the saved location, cuda:0); the two hold
the same keys and bit-equal values. The last line printed is a one-line
summary. --allow-old-torch lets a torch older than 2 (whose weights_only
loader cannot read floats) load with weights_only=False, for gpu-check's dry
run on machines with Debian's torch 1.13. Exit 0 when every check holds.
"""
import argparse
import sys

import torch


def tensors(obj, prefix=""):
    """(path, tensor) for every tensor in nested dicts/lists/tuples."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from tensors(v, f"{prefix}[{k!r}]")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from tensors(v, f"{prefix}[{i}]")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("saved")
    ap.add_argument("cpu_copy")
    ap.add_argument("--expect-device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--allow-old-torch", action="store_true")
    a = ap.parse_args()

    major = int(torch.__version__.split(".")[0])
    weights_only = True
    if major < 2:
        if not a.allow_old_torch:
            print(f"torch {torch.__version__}: weights_only loading needs torch >= 2")
            return 1
        weights_only = False
    saved = torch.load(a.saved, weights_only=weights_only)
    copy = torch.load(a.cpu_copy, weights_only=weights_only, map_location="cpu")
    got, want = dict(tensors(saved)), dict(tensors(copy))
    problems = []
    if got.keys() != want.keys():
        problems.append(f"keys differ: {sorted(got.keys() ^ want.keys())[:5]}")
    on_device = sum(t.device.type == a.expect_device for t in got.values())
    if on_device != len(got):
        problems.append(f"{len(got) - on_device} of {len(got)} tensors not on {a.expect_device}")
    for k in sorted(got.keys() & want.keys()):
        x, y = got[k].cpu(), want[k]
        if x.dtype != y.dtype or x.shape != y.shape or not torch.equal(x, y):
            problems.append(f"{k}: values differ")
    for p in problems[:20]:
        print(p)
    print(f"torch {torch.__version__}, weights_only={weights_only}: {len(got)} tensors, {on_device} on "
          f"{a.expect_device}, {'equal to the CPU copy' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
