"""Writes a synthetic colour image folder (torchvision's ImageFolder layout) of any size.

Used to measure training under a memory budget (docs/RESULTS.md, "Images larger than the memory
budget"): 10 classes, each a colour and a stripe orientation, with noise.

    python3 python/images/synthetic_folders.py --out /tmp/big --train 18000 --test 200 --side 32

writes /tmp/big/train/class0..class9 (18,000 PNGs each) and /tmp/big/test. Needs numpy, Pillow.
"""
import argparse
import os

import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--train", type=int, default=18000, help="training images per class")
    ap.add_argument("--test", type=int, default=200, help="test images per class")
    ap.add_argument("--side", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    colours = rng.integers(40, 216, size=(10, 3))
    yy, xx = np.mgrid[0 : a.side, 0 : a.side]
    for split, per_class in (("train", a.train), ("test", a.test)):
        for c in range(10):
            d = os.path.join(a.out, split, f"class{c}")
            os.makedirs(d, exist_ok=True)
            stripe = (((xx if c % 2 else yy) // (2 + c % 4)) % 2) * 30
            for i in range(per_class):
                img = np.tile(colours[c], (a.side, a.side, 1)).astype(np.int16)
                img += stripe[..., None] + rng.integers(-60, 60, size=(a.side, a.side, 3))
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
                    os.path.join(d, f"{i:05d}.png")
                )


if __name__ == "__main__":
    main()
