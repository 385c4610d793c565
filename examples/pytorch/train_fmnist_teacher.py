#!/usr/bin/env python3
"""Trains a CNN teacher on Fashion-MNIST with plain PyTorch, for distill to import.

    python examples/pytorch/train_fmnist_teacher.py --out runs/pytorch-teacher/teacher.pth

Reads the four gz IDX files (train-images-idx3-ubyte.gz, ...) from --data, trains on the
60,000 training images and evaluates on the 10,000 test images after every epoch. Writes the
state dict (``torch.save(model.state_dict())``) to --out and, beside it, ``teacher.json`` with
the final test accuracy, the normalisation and the distill architecture and key-remapping rules
that load this network in distill.

Needs torch and numpy. On CPU, --threads sets the intra-op threads (default 2).
"""

import argparse
import gzip
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.2860, 0.3530
CLASSES = 10

# PyTorch key prefix -> distill name prefix, for this architecture.
DISTILL_REMAP = [
    [r"^features\.0\.", "blocks.0.units.0.conv."],
    [r"^features\.1\.", "blocks.0.units.0.norm."],
    [r"^features\.3\.", "blocks.0.units.1.conv."],
    [r"^features\.4\.", "blocks.0.units.1.norm."],
    [r"^features\.7\.", "blocks.1.units.0.conv."],
    [r"^features\.8\.", "blocks.1.units.0.norm."],
    [r"^features\.10\.", "blocks.1.units.1.conv."],
    [r"^features\.11\.", "blocks.1.units.1.norm."],
    [r"^classifier\.2\.", "hidden.0."],
    [r"^classifier\.5\.", "output."],
]
DISTILL_ARCHITECTURE = {
    "type": "cnn",
    "blocks": [[32, 32], [64, 64]],
    "hidden": [256],
    "kernel_size": 3,
    "batch_norm": True,
    "residual": False,
    "dropout": 0.3,
}


class Teacher(nn.Module):
    def __init__(self, dropout=0.3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(64 * 7 * 7, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, CLASSES),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip-compressed or not) as a uint8 array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:  # 0x08: unsigned byte
        raise ValueError(f"{path}: not a uint8 IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != math.prod(shape):
        raise ValueError(f"{path}: expected {shape} values, found {arr.size}")
    return arr.reshape(shape)


def load_split(data_dir: Path, prefix: str):
    def find(stem):
        for name in (stem + ".gz", stem):
            if (data_dir / name).exists():
                return data_dir / name
        raise FileNotFoundError(f"{data_dir / stem}(.gz) not found")

    images = read_idx(find(f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find(f"{prefix}-labels-idx1-ubyte"))
    if len(images) != len(labels):
        raise ValueError(f"{prefix}: {len(images)} images but {len(labels)} labels")
    x = torch.from_numpy(images.copy()).unsqueeze(1)  # [N, 1, 28, 28] uint8
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def normalise(x_uint8: torch.Tensor) -> torch.Tensor:
    return (x_uint8.float() / 255.0 - MEAN) / STD


def augment(x: torch.Tensor, gen: torch.Generator, crop: int) -> torch.Tensor:
    """Random horizontal flip and, if crop > 0, a random crop of the zero-padded image
    (padding with the normalised value of a black pixel)."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if crop > 0:
        background = (0.0 - MEAN) / STD
        padded = F.pad(x, (crop, crop, crop, crop), value=background)
        oy = torch.randint(0, 2 * crop + 1, (n,), generator=gen)
        ox = torch.randint(0, 2 * crop + 1, (n,), generator=gen)
        rows = (oy[:, None] + torch.arange(h))[:, :, None]  # [n, h, 1]
        cols = (ox[:, None] + torch.arange(w))[:, None, :]  # [n, 1, w]
        x = padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)
    return x


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        logits = model(normalise(x[i : i + batch]))
        correct += (logits.argmax(1) == y[i : i + batch]).sum().item()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser(description="Train a Fashion-MNIST CNN teacher.")
    ap.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--out", type=Path, default=Path("teacher.pth"))
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--crop", type=int, default=0, help="random-crop padding in pixels (0: off)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "t10k")
    print(f"train {tuple(x_train.shape)}, test {tuple(x_test.shape)}, threads {args.threads}")

    model = Teacher()
    # Weight decay on conv and linear weights only, not on biases or BatchNorm parameters.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD(
        [
            {"params": decay, "weight_decay": args.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=args.lr,
        momentum=args.momentum,
        nesterov=True,
    )
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=args.epochs * steps_per_epoch
    )

    history = []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train), generator=gen)
        total_loss, seen = 0.0, 0
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            x = augment(normalise(x_train[idx]), gen, args.crop)
            y = y_train[idx]
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += loss.item() * len(idx)
            seen += len(idx)
        train_loss = total_loss / seen
        accuracy = evaluate(model, x_test, y_test)
        seconds = time.perf_counter() - start
        history.append(
            {"epoch": epoch, "train_loss": train_loss, "test_accuracy": accuracy, "seconds": seconds}
        )
        print(
            f"epoch {epoch:2d}/{args.epochs}  train loss {train_loss:.4f}  "
            f"test accuracy {accuracy:.2%}  {seconds:.0f} s",
            flush=True,
        )

    final = evaluate(model, x_test, y_test)
    print(f"final test accuracy {final:.2%}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, args.out)
    info = {
        "weights": args.out.name,
        "test_accuracy": final,
        "normalize": {"mean": MEAN, "std": STD},
        "input": [1, 28, 28],
        "epochs": args.epochs,
        "seed": args.seed,
        "crop": args.crop,
        "history": history,
        "distill_architecture": DISTILL_ARCHITECTURE,
        "distill_remap": DISTILL_REMAP,
    }
    (args.out.parent / "teacher.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote {args.out} and {args.out.parent / 'teacher.json'}")

    print("distill remap rules for this architecture ([regex, replacement], JSON/TOML quoting):")
    for pattern, replacement in DISTILL_REMAP:
        print(f"  [{json.dumps(pattern)}, {json.dumps(replacement)}],")


if __name__ == "__main__":
    main()
