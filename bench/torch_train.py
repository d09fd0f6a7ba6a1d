#!/usr/bin/env python3
"""PyTorch reference for torchless's `train`: the tutorials' FashionClassifier
(784-512-256-128-64-10 MLP, ReLU, Dropout(0.2)) on Fashion-MNIST with
CrossEntropyLoss and Adam(lr=1e-3).

Data: read from the IDX .gz files with numpy, scaled to [-1, 1]
((x/255 - 0.5)/0.5); train = the first 50,000 images of the train file,
reshuffled every epoch with a seeded generator; test = t10k. The whole set
lives in one float32 tensor and batches are gathered by indexing, so there is
no loader cost. The last partial batch is kept (DataLoader's default), except
in CUDA graph mode whose captured step has a fixed batch size.

Timing: --warmup-epochs untimed epochs, then --epochs timed ones; each timed
epoch measures the training loop alone (batch gather, forward, loss, backward,
optimizer step). samples_per_s is the best epoch. Prints a JSON line with
--json. Warm-up epochs train a throwaway model, as `torchless train
--warmup-epochs` does: the timed epochs are epochs 1..N of the run.

CUDA (--device cuda): --mode eager uses Adam(fused=True); --mode graph
captures the whole training step in one CUDA graph (Adam(capturable=True)),
gathering each batch into the static inputs before replay. TF32 is off.
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise ValueError(f"{path}: bad IDX magic {raw[:4].hex()}")
    nd = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(nd))
    dt = np.dtype(IDX_DTYPES[raw[2]])
    off = 4 + 4 * nd
    need = int(np.prod(dims, dtype=np.int64)) * dt.itemsize
    if len(raw) - off != need:
        raise ValueError(f"{path}: expected {need} bytes of data, file has {len(raw) - off}")
    return np.frombuffer(raw, dtype=dt, offset=off).reshape(dims)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{stem}[.gz] not found in {data_dir}")


def load_split(data_dir, prefix):
    x = read_idx(find(data_dir, f"{prefix}-images-idx3-ubyte"))
    y = read_idx(find(data_dir, f"{prefix}-labels-idx1-ubyte"))
    x = torch.from_numpy(x.astype(np.float32)).div_(255.0).sub_(0.5).div_(0.5)
    x = x.reshape(-1, 1, 28, 28)  # as ToTensor + Normalize((0.5,), (0.5,)) would give
    y = torch.from_numpy(y.astype(np.int64))
    return x, y


class FashionClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, 128)
        self.fc4 = nn.Linear(128, 64)
        self.fc5 = nn.Linear(64, 10)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.2)

    def forward(self, x):
        x = x.view(x.shape[0], -1)
        x = self.dropout(self.relu(self.fc1(x)))
        x = self.dropout(self.relu(self.fc2(x)))
        x = self.dropout(self.relu(self.fc3(x)))
        x = self.dropout(self.relu(self.fc4(x)))
        return self.fc5(x)


def batches(n, batch_size, gen, device, drop_last):
    perm = torch.randperm(n, generator=gen).to(device)
    end = n - n % batch_size if drop_last else n
    return [perm[i:i + batch_size] for i in range(0, end, batch_size)]


def evaluate(model, x, y, chunk=10000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], chunk):
            correct += (model(x[i:i + chunk]).argmax(1) == y[i:i + chunk]).sum().item()
    model.train()
    return correct / x.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs")
    ap.add_argument("--warmup-epochs", type=int, default=1, help="untimed epochs first")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--mode", choices=["eager", "graph"], default="eager", help="CUDA only")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-size", type=int, default=50000)
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--json", action="store_true", help="print one JSON line at the end")
    ap.add_argument("--flush-denormal", action="store_true",
                    help="torch.set_flush_denormal(True): denormal floats become zero (torchless train's flag)")
    args = ap.parse_args()
    if args.device == "cpu" and args.mode != "eager":
        ap.error("--mode graph needs --device cuda")

    torch.set_num_threads(args.threads)
    if args.flush_denormal and not torch.set_flush_denormal(True):
        sys.exit("torch_train.py: --flush-denormal: torch.set_flush_denormal is not supported on this CPU")
    dev = torch.device(args.device)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("torch_train.py: --device cuda but torch.cuda.is_available() is False")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    def log(*a):
        print(*a, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    x_train, y_train = load_split(args.data_dir, "train")
    x_train, y_train = x_train[:args.train_size].contiguous(), y_train[:args.train_size].contiguous()
    x_test, y_test = load_split(args.data_dir, "t10k")
    x_train, y_train = x_train.to(dev), y_train.to(dev)
    x_test, y_test = x_test.to(dev), y_test.to(dev)
    n = x_train.shape[0]
    log(f"data: {n} train, {x_test.shape[0]} test, loaded in {time.perf_counter() - t0:.2f}s")

    def make_trainer(seed):
        """A fresh model, optimizer and shuffling generator from `seed`, and
        the function that trains them one epoch."""
        torch.manual_seed(seed)
        model = FashionClassifier().to(dev)
        loss_fn = nn.CrossEntropyLoss()
        graph = args.device == "cuda" and args.mode == "graph"
        if args.device == "cuda":
            if graph:
                opt = torch.optim.Adam(model.parameters(), lr=args.lr, capturable=True)
            else:
                opt = torch.optim.Adam(model.parameters(), lr=args.lr, fused=True)
        else:
            opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        gen = torch.Generator().manual_seed(seed)
        model.train()

        def sync():
            if args.device == "cuda":
                torch.cuda.synchronize()

        if graph:
            bs = args.batch_size
            static_x = torch.empty((bs, 1, 28, 28), device=dev)
            static_y = torch.empty((bs,), dtype=torch.int64, device=dev)
            torch.index_select(x_train, 0, torch.arange(bs, device=dev), out=static_x)
            torch.index_select(y_train, 0, torch.arange(bs, device=dev), out=static_y)
            # Warm up on a side stream (as PyTorch's CUDA graphs docs show) so
            # lazy initialisation and the optimizer state happen outside capture.
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    opt.zero_grad(set_to_none=True)
                    loss_fn(model(static_x), static_y).backward()
                    opt.step()
            torch.cuda.current_stream().wait_stream(s)
            cuda_graph = torch.cuda.CUDAGraph()
            opt.zero_grad(set_to_none=True)
            with torch.cuda.graph(cuda_graph):
                static_loss = loss_fn(model(static_x), static_y)
                static_loss.backward()
                opt.step()
            sync()

        def run_epoch():
            idxs = batches(n, args.batch_size, gen, dev, drop_last=graph)
            samples = sum(int(i.shape[0]) for i in idxs)
            sync()
            t = time.perf_counter()
            if graph:
                for idx in idxs:
                    torch.index_select(x_train, 0, idx, out=static_x)
                    torch.index_select(y_train, 0, idx, out=static_y)
                    cuda_graph.replay()
                last = static_loss
            else:
                for idx in idxs:
                    xb, yb = x_train[idx], y_train[idx]
                    opt.zero_grad(set_to_none=True)
                    last = loss_fn(model(xb), yb)
                    last.backward()
                    opt.step()
            sync()
            dt = time.perf_counter() - t
            return samples, dt, float(last.item())

        return model, run_epoch

    # Warm-up epochs train a throwaway model (as torchless train does), so
    # the timed epochs are those of a run without warm-up: the same losses,
    # accuracy and, since Adam's state turns denormal only after ~700 steps,
    # the same float work as epochs 1..N of a real run.
    if args.warmup_epochs:
        _, warm_epoch = make_trainer(args.seed + 1000003)
    for e in range(args.warmup_epochs):
        samples, dt, loss = warm_epoch()
        log(f"warm-up epoch {e + 1}: {samples / dt:,.0f} samples/s ({dt:.2f}s), last loss {loss:.4f}")
    model, run_epoch = make_trainer(args.seed)
    rates = []
    for e in range(args.epochs):
        samples, dt, loss = run_epoch()
        rates.append(samples / dt)
        log(f"epoch {e + 1}: {samples / dt:,.0f} samples/s ({dt:.2f}s), last loss {loss:.4f}")
    acc = evaluate(model, x_test, y_test)
    log(f"test accuracy {acc:.4f}")

    result = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "device": args.device,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "samples_per_s": max(rates) if rates else None,
        "epoch_samples_per_s": [round(r, 1) for r in rates],
        "test_accuracy": acc,
        "epochs": args.epochs,
        "warmup_epochs": args.warmup_epochs,
        "train_size": n,
        "flush_denormal": args.flush_denormal,
    }
    if args.device == "cuda":
        result["mode"] = args.mode
        result["gpu"] = torch.cuda.get_device_name()
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print(f"pytorch {torch.__version__} {args.device}"
              f"{'/' + args.mode if args.device == 'cuda' else ''} threads={args.threads} "
              f"batch={args.batch_size}: best {result['samples_per_s']:,.0f} samples/s, "
              f"test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
