#!/usr/bin/env python3
"""Checkpoints between torchless and PyTorch, in both directions.

The model, optimizer and checkpoint layout are the PyTorch tutorial's
("Saving and loading a general checkpoint"):

    {'epoch', 'valid_loss_min', 'state_dict', 'optimizer'}

torchless writes the same dict (plus 'rng_state', 'hparams', 'train_loss',
'valid_loss', 'valid_accuracy', which PyTorch simply ignores here), so:

  (a) continue a torchless run in PyTorch:
        torchless train --epochs 2 --checkpoint-dir ckpt
        python3 python_resume.py --from-torchless ckpt/current_checkpoint.pt --out py.pt

  (b) start in PyTorch, continue in torchless:
        python3 python_resume.py --train-and-save py.pt --epochs 1
        torchless train --resume py.pt --epochs 3

--steps N trains N minibatches instead of whole epochs, and --train-size /
--valid-size use only the first images of each split, to keep tests fast.
Works with torch 1.13 and 2.x; needs only torch and numpy.
"""
import argparse
import gzip
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class FashionClassifier(nn.Module):
    """The tutorial's classifier: 784-512-256-128-64-10, ReLU, dropout 0.2.

    forward() returns logits (trained with CrossEntropyLoss). The tutorial's
    log_softmax + NLLLoss variant trains the very same weights.
    """

    def __init__(self, dropout=0.2):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, 128)
        self.fc4 = nn.Linear(128, 64)
        self.fc5 = nn.Linear(64, 10)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        x = x.view(x.shape[0], -1)
        x = self.dropout(F.relu(self.fc1(x)))
        x = self.dropout(F.relu(self.fc2(x)))
        x = self.dropout(F.relu(self.fc3(x)))
        x = self.dropout(F.relu(self.fc4(x)))
        return self.fc5(x)


# ---------------------------------------------------------------- data

def read_idx(path):
    """An idx file (gzip-compressed or not) as a numpy uint8 array."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not a ubyte idx file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(data_dir, train):
    prefix = "train" if train else "t10k"
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    # ToTensor() then Normalize((0.5,), (0.5,)): (p/255 - 0.5)/0.5, in float32.
    x = torch.from_numpy(images.reshape(-1, 784).astype(np.float32) / np.float32(255))
    x = (x - 0.5) / 0.5
    return x, torch.from_numpy(labels.astype(np.int64))


def load_data(args):
    """Training and validation sets as torchless's default 'split' makes them:
    the last 10,000 training images validate, the rest train."""
    x, y = load_split(args.data, train=True)
    n_valid = min(10000, len(y) // 6)
    train = (x[:-n_valid], y[:-n_valid])
    valid = (x[-n_valid:], y[-n_valid:])
    if args.train_size:
        train = (train[0][:args.train_size], train[1][:args.train_size])
    if args.valid_size:
        valid = (valid[0][:args.valid_size], valid[1][:args.valid_size])
    return train, valid


# ---------------------------------------------------------------- training

def train_some(model, optimizer, train, batch_size, steps, generator):
    """One epoch (steps=0) or `steps` minibatches; returns the mean loss."""
    model.train()
    x, y = train
    criterion = nn.CrossEntropyLoss()
    total, seen, done = 0.0, 0, 0
    while True:
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = criterion(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            seen += len(idx)
            done += 1
            if steps and done >= steps:
                return total / seen
        if not steps:
            return total / seen


@torch.no_grad()
def evaluate(model, data):
    model.eval()
    x, y = data
    logits = model(x)
    loss = F.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(1) == y).float().mean().item()
    return loss, accuracy


def torch_at_least_2():
    return int(torch.__version__.split(".")[0]) >= 2


def load_checkpoint(path):
    """torch.load, in safe mode where the installed torch has it by default."""
    if torch_at_least_2():
        return torch.load(path, map_location="cpu", weights_only=True)
    print(f"note: torch {torch.__version__} < 2.0: plain torch.load (weights_only=True is the 2.x way)")
    return torch.load(path, map_location="cpu")


def save_checkpoint(path, epoch, valid_loss_min, model, optimizer):
    """The tutorial's checkpoint dict; `torchless train --resume` reads it."""
    torch.save({
        "epoch": epoch,
        "valid_loss_min": valid_loss_min,
        "state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict(),
    }, path)


def run_epochs(args, model, optimizer, train, valid, first_epoch, valid_loss_min):
    """Trains epochs first_epoch..first_epoch+epochs-1 (or --steps minibatches
    as one epoch) and returns (last epoch, valid_loss_min)."""
    generator = torch.Generator().manual_seed(args.seed)
    n = 1 if args.steps else args.epochs
    epoch = first_epoch - 1
    for epoch in range(first_epoch, first_epoch + n):
        train_loss = train_some(model, optimizer, train, args.batch_size, args.steps, generator)
        valid_loss, accuracy = evaluate(model, valid)
        print(f"Epoch {epoch}  train loss {train_loss:.6f}  valid loss {valid_loss:.6f}  "
              f"valid accuracy {accuracy:.4f}")
        if valid_loss <= valid_loss_min:
            print(f"Validation loss decreased ({valid_loss_min:.6f} --> {valid_loss:.6f}).")
            valid_loss_min = valid_loss
    return epoch, valid_loss_min


def from_torchless(args):
    ck = load_checkpoint(args.from_torchless)
    print(f"{args.from_torchless}: epoch {ck['epoch']}, valid_loss_min {float(ck['valid_loss_min']):.6f}, "
          f"keys {sorted(ck.keys())}")
    hparams = ck.get("hparams", {})
    model = FashionClassifier(float(hparams.get("dropout", 0.2)))
    state_dict = ck["state_dict"]
    if all(k.startswith("module.") for k in state_dict):  # saved from DataParallel
        state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
    model.load_state_dict(state_dict)
    # Modules torchless trained frozen stay frozen here too.
    for name in hparams.get("frozen", []):
        for p in getattr(model, name).parameters():
            p.requires_grad_(False)
    optimizer = optim.Adam(model.parameters(), lr=float(hparams.get("lr", args.lr)))
    optimizer.load_state_dict(ck["optimizer"])
    train, valid = load_data(args)
    epoch, valid_loss_min = run_epochs(args, model, optimizer, train, valid, int(ck["epoch"]) + 1,
                                       float(ck["valid_loss_min"]))
    save_checkpoint(args.out, epoch, valid_loss_min, model, optimizer)
    print(f"saved {args.out} (epoch {epoch})")


def train_and_save(args):
    torch.manual_seed(args.seed)
    model = FashionClassifier()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    train, valid = load_data(args)
    epoch, valid_loss_min = run_epochs(args, model, optimizer, train, valid, 1, math.inf)
    save_checkpoint(args.train_and_save, epoch, valid_loss_min, model, optimizer)
    print(f"saved {args.train_and_save} (epoch {epoch}); continue with: "
          f"torchless train --resume {args.train_and_save} --epochs {epoch + 1}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--from-torchless", metavar="CKPT", help="resume a torchless checkpoint in PyTorch")
    mode.add_argument("--train-and-save", metavar="OUT", help="train from scratch, save a tutorial checkpoint")
    p.add_argument("--out", default="python_checkpoint.pt", help="where --from-torchless saves")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=1, help="epochs to train (default 1)")
    p.add_argument("--steps", type=int, default=0, help="train N minibatches (counted as one epoch) instead")
    p.add_argument("--train-size", type=int, default=0, help="use only the first N training images")
    p.add_argument("--valid-size", type=int, default=0, help="use only the first N validation images")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: torch's)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.from_torchless:
        from_torchless(args)
    else:
        train_and_save(args)


if __name__ == "__main__":
    sys.exit(main())
