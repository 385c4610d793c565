#!/usr/bin/env python3
"""Re-packs the first 10,000 train / 2,000 test Fashion-MNIST images as the built-in demo data.

Needs Debian's `dataset-fashion-mnist`. Output is deterministic (gzip mtime 0).
Run from the repository root: python3 scripts/make_builtin_data.py
"""
import gzip
import struct

SRC = "/usr/share/datasets/fashion-mnist/"
DST = "data/builtin/"


def read(name):
    b = gzip.open(SRC + name).read()
    nd = b[3]
    dims = struct.unpack(">" + "I" * nd, b[4 : 4 + 4 * nd])
    return dims, b[4 + 4 * nd :]


def write(name, dims, data):
    hdr = bytes([0, 0, 8, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims)
    with gzip.GzipFile(DST + name, "wb", compresslevel=9, mtime=0) as f:
        f.write(hdr + data)


for split, n in [("train", 10000), ("t10k", 2000)]:
    _, img = read(f"{split}-images-idx3-ubyte.gz")
    _, lab = read(f"{split}-labels-idx1-ubyte.gz")
    write(f"{split}-images-idx3-ubyte.gz", (n, 28, 28), img[: n * 784])
    write(f"{split}-labels-idx1-ubyte.gz", (n,), lab[:n])
