"""Convert R's ``LetterRecognition`` data set (package mlbench) to ``train.csv`` / ``test.csv``.

The data set is the UCI Letter Recognition data (D. J. Slate): 20,000 rows, the label
``lettr`` (a factor with levels A-Z) and 16 integer features in 0..15. Debian ships it as an
R data file in ``r-cran-mlbench``; this script reads that file with the ``rdata`` package (a
pure-Python reader of R's serialisation format; R itself is not needed) and writes

- ``train.csv``: the first 16,000 rows,
- ``test.csv``:  the last 4,000 rows,

the split that the UCI documentation and mlbench's help page describe ("We typically train on
the first 16000 items and then use the resulting model to predict the letter category for the
remaining 4000"). Each file has a header with R's column names (``lettr,x.box,y.box,...``),
rows in R's order, integers written without a decimal point, ``\\n`` line ends: reruns are
byte-for-byte identical.

Usage::

    /usr/bin/python3 python/tabular/mlbench_to_csv.py --out data/tabular/letter
    /usr/bin/python3 python/tabular/mlbench_to_csv.py --rda PATH/LetterRecognition.rda --out DIR

Needs ``rdata`` (Debian: ``python3-rdata``, installed for ``/usr/bin/python3``; elsewhere
``pip install rdata``) and pandas (which rdata depends on).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
import warnings
from collections import Counter
from pathlib import Path

import rdata

DEFAULT_RDA = Path("/usr/lib/R/site-library/mlbench/data/LetterRecognition.rda")
OBJECT = "LetterRecognition"
LABEL = "lettr"
FEATURES = [
    "x.box", "y.box", "width", "high", "onpix", "x.bar", "y.bar", "x2bar",
    "y2bar", "xybar", "x2ybr", "xy2br", "x.ege", "xegvy", "y.ege", "yegvx",
]
ROWS, TRAIN_ROWS = 20_000, 16_000
CLASSES = [chr(c) for c in range(ord("A"), ord("Z") + 1)]


def load(rda: Path, name: str = OBJECT):
    """The data frame ``name`` (``LetterRecognition`` by default) of an ``.rda`` file, as pandas."""
    with warnings.catch_warnings():
        # mlbench's file does not record a string encoding; rdata then assumes ASCII and says
        # so. The only strings are the letters A-Z and the column names, all ASCII.
        warnings.filterwarnings("ignore", message="Unknown encoding")
        if hasattr(rdata, "read_rda"):  # rdata >= 0.10
            objects = rdata.read_rda(str(rda))
        else:  # rdata 0.5 (Debian bookworm)
            objects = rdata.conversion.convert(rdata.parser.parse_file(str(rda)))
    if name not in objects:
        sys.exit(f"{rda}: no object {name!r} (found: {', '.join(objects)})")
    return objects[name]


def rows_of(frame, rda: Path) -> list[list[str]]:
    """Every row as CSV cells (label, then 16 integers), after checking the data's shape."""
    columns = [str(c) for c in frame.columns]
    if columns != [LABEL] + FEATURES:
        sys.exit(f"{rda}: unexpected columns {columns}")
    if len(frame) != ROWS:
        sys.exit(f"{rda}: {len(frame)} rows, expected {ROWS}")
    labels = [str(v) for v in frame[LABEL].astype(object)]
    bad = sorted({v for v in labels if v not in CLASSES})
    if bad:
        sys.exit(f"{rda}: column {LABEL}: labels outside A-Z: {bad[:10]}")
    out = [[label] for label in labels]
    for name in FEATURES:
        for i, v in enumerate(frame[name].tolist()):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v == int(v) and 0 <= v <= 15):
                sys.exit(f"{rda}: row {i + 1}, column {name}: {v!r} is not an integer in 0..15")
            out[i].append(str(int(v)))
    return out


def write_csv(path: Path, rows: list[list[str]]) -> None:
    """Writes the header and ``rows`` (no cell needs quoting) atomically."""
    text = ",".join([LABEL] + FEATURES) + "\n" + "".join(",".join(r) + "\n" for r in rows)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(text.encode("ascii"))
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rda", type=Path, default=DEFAULT_RDA,
                        help=f"the mlbench LetterRecognition.rda (default: {DEFAULT_RDA})")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder to write train.csv and test.csv to (created if absent)")
    args = parser.parse_args()
    if not args.rda.is_file():
        sys.exit(f"{args.rda}: not found (apt-get install r-cran-mlbench, or pass --rda)")

    rows = rows_of(load(args.rda), args.rda)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train.csv", rows[:TRAIN_ROWS]), ("test.csv", rows[TRAIN_ROWS:])):
        path = args.out / name
        write_csv(path, part)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        counts = Counter(r[0] for r in part)
        print(f"{path}: {len(part)} rows, sha256 {digest}")
        print("  " + " ".join(f"{c}:{counts[c]}" for c in CLASSES))


if __name__ == "__main__":
    main()
