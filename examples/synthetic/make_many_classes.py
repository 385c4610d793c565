"""Synthetic many-class tabular data for the top-k store measurements in docs/RESULTS.md.

    python3 make_many_classes.py OUT [CLASSES [DIMS]]      # default 250 classes, 32 dimensions

CLASSES Gaussian blobs in DIMS dimensions (centres N(0, 1), noise N(0, 1)), 80 training and 20
test rows per class, seeded. Writes train.csv and test.csv into OUT (default: here).
Standard library only.
"""

import random
import sys
from pathlib import Path


def main(out: Path, classes: int = 250, dims: int = 32) -> None:
    random.seed(3)
    centres = [[random.gauss(0, 1) for _ in range(dims)] for _ in range(classes)]

    def rows(per_class: int) -> list:
        out_rows = []
        for c in range(classes):
            for _ in range(per_class):
                out_rows.append([x + random.gauss(0, 1.0) for x in centres[c]] + [f"c{c}"])
        random.shuffle(out_rows)
        return out_rows

    header = ",".join([f"x{i}" for i in range(dims)] + ["label"])
    for name, n in [("train.csv", 80), ("test.csv", 20)]:
        with open(out / name, "w") as f:
            f.write(header + "\n")
            for r in rows(n):
                f.write(",".join(f"{v:.4f}" for v in r[:-1]) + "," + r[-1] + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        Path(args[0]) if args else Path("."),
        int(args[1]) if len(args) > 1 else 250,
        int(args[2]) if len(args) > 2 else 32,
    )
