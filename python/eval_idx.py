"""Top-1 accuracy of a student exported by `distill export --safetensors`, run in PyTorch.

    python python/eval_idx.py runs/pytorch-kd/student.pt.safetensors \
        /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz \
        /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz

The architecture and the normalisation come from the card beside the weights
(`student.pt.model.json`), through `distill_torch.load_distill`.
"""

import gzip
import struct
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from distill_torch import load_distill, preprocess  # noqa: E402


def read_idx(path: str) -> np.ndarray:
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw[4 + 4 * ndim :], dtype=np.uint8).reshape(dims).copy()


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    model, card = load_distill(sys.argv[1])
    images, labels = read_idx(sys.argv[2]), read_idx(sys.argv[3])
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), 1000):
            x = preprocess(images[start : start + 1000], card)
            pred = model(x).argmax(dim=1).numpy()
            correct += int((pred == labels[start : start + 1000]).sum())
    print(f"pytorch: {len(labels)} images, top-1 accuracy {100 * correct / len(labels):.2f}% ({correct} correct)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
