"""Convert nine of R's mlbench data sets to ``train.csv`` / ``test.csv`` for distill.

These sets were not used to develop distill's defaults: they check that the default pipeline
(``objective = "auto"``, the verdict, temperature scaling) holds on data it was not tuned on.

- ``Satellite``: Landsat multi-spectral values, 6,435 rows, 36 numeric features, 6 classes
  (label ``classes``);
- ``Vehicle``: silhouette features of four vehicles, 846 rows, 18 numeric features, 4 classes
  (label ``Class``);
- ``DNA``: primate splice-junction sequences, 3,186 rows, 180 binary features, 3 classes
  (label ``Class``);
- six small or skewed sets added later, run once each, as they came (``examples/mlbench``):
  ``Glass`` (214 rows, 9 features, 6 classes, label ``Type``), ``Sonar`` (208 rows, 60
  features, 2 classes), ``Ionosphere`` (351 rows, 34 features, 2 classes), ``Vowel`` (990 rows,
  10 features, 11 classes), ``PimaIndiansDiabetes`` (768 rows, 8 features, 2 classes, label
  ``diabetes``) and ``Shuttle`` (58,000 rows, 9 features, 7 classes, two of them with 10 and
  13 rows).

None of them ships a train/test split, so the rows are shuffled with numpy's
``default_rng(0)`` and the first 75 % go to ``train.csv``, the rest to ``test.csv``. Factor
features (DNA's, Ionosphere's first two, Vowel's first) are written as their integer codes, spaces in labels become ``_``, feature
columns are renamed ``f0, f1, ...``. pandas writes the files, so reruns with the same pandas
and numpy are byte-for-byte identical; the script prints each file's sha256.

Usage::

    /usr/bin/python3 python/tabular/mlbench_holdout.py --out data/tabular/mlbench
    # writes OUT/Satellite_train.csv, OUT/Satellite_test.csv, ... for the nine sets

Needs ``rdata`` (Debian: ``python3-rdata``) and pandas; the data come from Debian's
``r-cran-mlbench`` (``/usr/lib/R/site-library/mlbench/data``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from mlbench_to_csv import load  # the same reader (rdata 0.5 and >= 0.10); this folder is on sys.path

DATA = Path("/usr/lib/R/site-library/mlbench/data")
SETS = {
    "Satellite": "classes",
    "Vehicle": "Class",
    "DNA": "Class",
    "Glass": "Type",
    "Sonar": "Class",
    "Ionosphere": "Class",
    "Vowel": "Class",
    "PimaIndiansDiabetes": "diabetes",
    "Shuttle": "Class",
}
TRAIN_FRACTION = 0.75


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help=f"mlbench's data folder ({DATA})")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the CSV files to")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, label in SETS.items():
        rda = args.data / f"{name}.rda"
        if not rda.is_file():
            sys.exit(f"{rda}: not found (apt-get install r-cran-mlbench, or pass --data)")
        frame = load(rda, name)
        if label not in frame.columns:
            sys.exit(f"{rda}: no label column {label!r}")
        features = [c for c in frame.columns if c != label]
        for c in features:
            if str(frame[c].dtype) == "category":
                frame[c] = frame[c].cat.codes
        frame[label] = frame[label].astype(str).str.replace(" ", "_")
        frame = frame[[label] + features]
        frame.columns = [label] + [f"f{i}" for i in range(len(features))]
        order = np.random.default_rng(0).permutation(len(frame))
        cut = int(len(frame) * TRAIN_FRACTION)
        for part, rows in (("train", order[:cut]), ("test", order[cut:])):
            path = args.out / f"{name}_{part}.csv"
            tmp = path.with_name(path.name + ".tmp")
            frame.iloc[rows].to_csv(tmp, index=False)
            os.replace(tmp, path)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            print(f"{path}: {len(rows)} rows, sha256 {digest}")


if __name__ == "__main__":
    main()
