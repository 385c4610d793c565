#!/usr/bin/env python3
"""Decoding a folder of JPEGs: PyTorch's ImageFolder + DataLoader against `distill bench --decode`.

  # 1. 10,000 JPEGs in 9 class folders, made from the emoji folders (emoji_folders.py), each
  #    scaled to a seeded size between 64 and 160 pixels and saved at quality 90.
  python bench_decode.py make data/images/emoji/train /tmp/jpeg10k --count 10000
  # 2. One epoch of torchvision's ImageFolder (Resize(32) + CenterCrop(32) + ToTensor, the
  #    evaluation transform) through a DataLoader with 2 workers, batch 256.
  python bench_decode.py torch /tmp/jpeg10k --workers 2
  # 3. distill decoding the same folder to 32x32 RGB (and writing / reading its cache).
  distill bench --decode /tmp/jpeg10k --image-size 32,32

Needs Pillow for `make`, and torch + torchvision for `torch`.
"""
import argparse
import os
import random
import sys
import time


def make(src, out, count, seed):
    from PIL import Image

    classes = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    files = [(c, os.path.join(src, c, f)) for c in classes
             for f in sorted(os.listdir(os.path.join(src, c)))]
    rng = random.Random(seed)
    for i in range(count):
        c, path = files[i % len(files)]
        side = rng.randint(64, 160)
        aspect = rng.uniform(0.75, 1.33)
        img = Image.open(path).convert("RGB").resize((side, max(8, int(side * aspect))), Image.BILINEAR)
        d = os.path.join(out, c)
        os.makedirs(d, exist_ok=True)
        img.save(os.path.join(d, f"{i:05d}.jpg"), quality=90)
    print(f"wrote {count} JPEGs in {len(classes)} class folders under {out}")


def torch_epoch(root, workers, batch, size):
    import torch
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    torch.set_num_threads(1)
    tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor()])
    start = time.perf_counter()
    ds = datasets.ImageFolder(root, transform=tf)
    loader = DataLoader(ds, batch_size=batch, num_workers=workers, shuffle=False)
    n = 0
    for x, _ in loader:
        n += x.shape[0]
    s = time.perf_counter() - start
    print(f"torchvision ImageFolder + DataLoader ({workers} workers, batch {batch}), {size}x{size}: "
          f"{n} images in {s:.2f} s ({n / s:.0f} images/s); torch {torch.__version__}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("src")
    m.add_argument("out")
    m.add_argument("--count", type=int, default=10000)
    m.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("torch")
    t.add_argument("root")
    t.add_argument("--workers", type=int, default=2)
    t.add_argument("--batch", type=int, default=256)
    t.add_argument("--size", type=int, default=32)
    a = p.parse_args()
    if a.cmd == "make":
        make(a.src, a.out, a.count, a.seed)
    else:
        torch_epoch(a.root, a.workers, a.batch, a.size)


if __name__ == "__main__":
    sys.exit(main())
