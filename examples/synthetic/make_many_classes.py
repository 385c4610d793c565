"""Synthetic 250-class tabular data for the top-k store measurement in docs/RESULTS.md.

250 Gaussian blobs in 32 dimensions (centres N(0, 1), noise N(0, 1)), 80 training and 20 test
rows per class, seeded. Writes train.csv and test.csv into the folder given (default: here).
Standard library only.
"""

import random
import sys
from pathlib import Path


def main(out: Path) -> None:
    random.seed(3)
    classes, dims = 250, 32
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
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."))
