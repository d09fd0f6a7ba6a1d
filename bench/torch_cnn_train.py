#!/usr/bin/env python3
"""PyTorch reference for `torchless train --model SPEC` with a flat spec
(layers separated by spaces, as torch's constructors; a bare name means no
arguments): builds the same nn.Sequential, trains it on Fashion-MNIST with
CrossEntropyLoss and Adam(lr=1e-3) exactly as bench/torch_train.py trains the
FashionClassifier (same data preparation, split, shuffling and timing), and
prints one JSON line: samples/s of the best timed epoch and test accuracy.

  python3 bench/torch_cnn_train.py --threads 2 --epochs 3 \\
      --model "Conv2d(1, 16, 3, padding=1) ReLU MaxPool2d(2) Conv2d(16, 32, 3, padding=1) ReLU MaxPool2d(2) Flatten Linear(1568, 128) ReLU Linear(128, 10)"
"""
import argparse
import json
import os
import re
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_train import DEFAULT_DATA, find, read_idx  # noqa: E402


def build(spec):
    layers = []
    for tok in re.findall(r"\w+(?:\([^()]*(?:\([^()]*\)[^()]*)*\))?", spec):
        layers.append(eval("nn." + (tok if "(" in tok else tok + "()")))
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--warmup-epochs", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-size", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flush-denormal", action="store_true", help="torch.set_flush_denormal(True)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.flush_denormal:
        torch.set_flush_denormal(True)
    torch.manual_seed(a.seed)
    norm = lambda x: (torch.from_numpy(x.astype("float32")) / 255 - 0.5) / 0.5
    xtr = norm(read_idx(find(a.data, "train-images-idx3-ubyte"))).reshape(-1, 1, 28, 28)[:a.train_size]
    ytr = torch.from_numpy(read_idx(find(a.data, "train-labels-idx1-ubyte")).astype("int64"))[:a.train_size]
    xte = norm(read_idx(find(a.data, "t10k-images-idx3-ubyte"))).reshape(-1, 1, 28, 28)
    yte = torch.from_numpy(read_idx(find(a.data, "t10k-labels-idx1-ubyte")).astype("int64"))
    first = build(a.model)[0]
    if not isinstance(first, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.BatchNorm2d)):
        xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    loss_fn = nn.CrossEntropyLoss()

    def epoch(model, opt, gen):
        model.train()
        order = torch.randperm(len(xtr), generator=gen)
        t0 = time.perf_counter()
        for s in range(0, len(xtr), a.batch_size):
            idx = order[s:s + a.batch_size]
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return len(xtr) / (time.perf_counter() - t0)

    for w in range(a.warmup_epochs):
        m = build(a.model)
        epoch(m, torch.optim.Adam(m.parameters(), lr=1e-3), torch.Generator().manual_seed(1000 + w))
    model = build(a.model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(a.seed)
    sps = [epoch(model, opt, gen) for _ in range(a.epochs)]
    model.eval()
    with torch.no_grad():
        correct = sum((model(xte[s:s + 1000]).argmax(1) == yte[s:s + 1000]).sum().item() for s in range(0, len(xte), 1000))
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "epochs": a.epochs,
                      "samples_per_s": max(sps), "epoch_samples_per_s": sps, "test_accuracy": correct / len(xte)}))


if __name__ == "__main__":
    main()
