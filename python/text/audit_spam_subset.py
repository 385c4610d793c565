"""Audit ``data/text/spam/*.jsonl`` for personal data left after scrubbing.

Reports, per check, the number of hits and each distinct hit with its count:

* ``first+cap``  capitalised bigrams ``First Word`` whose first word is in the census
  first-name lists (``dist.male.first`` / ``dist.female.first`` of the PyPI package ``names``
  0.3.0) -- the broad net: most hits are ordinary words that are also first names
  (``May I``, ``Will You``, ``Bill Gates`` is a real one);
* ``first+last`` the narrow net: first word in the first-name lists, second word in the
  surname list ``dist.all.last``, neither a common lower-case word of the texts;
* ``title``      ``Mr./Mrs./Ms./Dr./Prof.`` followed by a capitalised word;
* ``at``         any ``@`` character;
* ``email``      anything that looks like an e-mail address;
* ``initial+last`` ``J. Smith`` / ``R. A. Hettinga`` with a listed surname;
* ``surname``    (with ``--words``) capitalised words in the surname list that are not in the
  English word list in any case -- the wide net for surnames on their own (most hits are
  places, brands and foreign words);
* ``phone``      phone-like digit groups (7-15 digits with separators; dates, IP addresses,
  decimals, versions and tables of small numbers left out);
* ``digit-run``  unseparated runs of 10 or 11 digits (a phone number written without
  separators; most are ids and serial numbers);

plus a schema check (one ``{"text", "label"}`` object per line, labels ``ham``/``spam``,
class counts, byte sizes) and ``--examples N`` random texts for reading.

Usage::

    python python/text/audit_spam_subset.py --names /work/scratch-text/names/names-0.3.0/names \\
        data/text/spam/train.jsonl data/text/spam/test.jsonl --examples 5
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

EMAIL_RE = re.compile(r"[\w.+=%-]+@[\w-]+(?:\.[\w-]+)+")
# Digit runs split by spaces, dots, dashes or brackets; filtered in ``phone_like``.
PHONE_RE = re.compile(r"(?<![\w.])\+?\(?\d(?:[\d\s().-]{5,}\d)(?![\w])")
DATE_RE = re.compile(r"\b(?:19|20)\d\d[-./]\d\d?[-./]\d\d?\b|\b\d\d?[-./]\d\d?[-./](?:19|20)?\d\d\b"
                     r"|\b(?:19|20)\d\d\s?-\s?(?:19|20)\d\d\b")
IP_RE = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
INITIAL_RE = re.compile(r"\b(?:[A-Z]\.\s?){1,3}([A-Z][a-z]+)\b")


def phone_like(s: str) -> bool:
    """7-15 digits with separators, not a date, IP address, decimal number or version."""
    s = s.strip()
    digits = sum(c.isdigit() for c in s)
    if not 7 <= digits <= 15 or not re.search(r"\d[\s().-]+\d", s):
        return False
    if DATE_RE.search(s) or IP_RE.search(s):
        return False
    if "." in s and not re.fullmatch(r"\d{3}\.\d{3}\.\d{4}", s):
        return False  # decimals, versions, times with fractions
    # space-separated tables of small numbers ("13929 995 12934", hex dumps "20 38 33 34")
    groups = re.findall(r"\d+", s)
    if " " in s and "-" not in s and "(" not in s and not (
            len(groups) in (3, 4) and [len(g) for g in groups[-2:]] == [3, 4]
            or all(len(g) == 1 for g in groups) or re.fullmatch(r"0\d(?: \d\d){4}", s)):
        return False
    return True
BIGRAM_RE = re.compile(r"\b([A-Z][a-z]+)\s+([A-Z][A-Za-z'-]*[a-z])\b")
TITLE_RE = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof)\.?\s+[A-Z][A-Za-z'-]+")
WORD_RE = re.compile(r"[A-Za-z]+")


def read_list(path: Path) -> set[str]:
    return {line.split()[0].lower() for line in path.read_text().splitlines() if line.strip()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--names", type=Path, required=True,
                    help="folder with dist.male.first, dist.female.first, dist.all.last")
    ap.add_argument("--words", type=Path, default=None,
                    help="English word list (e.g. /usr/share/dict/american-english): adds the "
                         "'surname' check")
    ap.add_argument("--examples", type=int, default=0, help="print N random texts")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", type=int, default=60, help="distinct hits shown per check")
    args = ap.parse_args()

    first = read_list(args.names / "dist.male.first") | read_list(args.names / "dist.female.first")
    last = read_list(args.names / "dist.all.last")

    rows = []
    for f in args.files:
        labels = Counter()
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            obj = json.loads(line)
            assert set(obj) == {"text", "label"}, f"{f}:{i}: keys {sorted(obj)}"
            assert obj["label"] in ("ham", "spam"), f"{f}:{i}: label {obj['label']!r}"
            assert isinstance(obj["text"], str) and obj["text"], f"{f}:{i}: empty text"
            labels[obj["label"]] += 1
            rows.append(obj)
        print(f"{f}: {sum(labels.values())} rows {dict(sorted(labels.items()))}, "
              f"{f.stat().st_size} bytes")
    texts = [r["text"] for r in rows]
    assert len(set(texts)) == len(texts), "duplicate texts"

    lower = Counter(w for t in texts for w in WORD_RE.findall(t) if w.islower())
    hits: dict[str, Counter] = {k: Counter() for k in
                                ("first+cap", "first+last", "title", "initial+last", "surname",
                                 "at", "email", "phone", "digit-run")}
    words = ({w.lower() for w in args.words.read_text(encoding="utf-8").split()}
             if args.words else None)
    for t in texts:
        for m in BIGRAM_RE.finditer(t):
            a, b = m.group(1), m.group(2)
            if a.lower() in first:
                hits["first+cap"][m.group(0)] += 1
                if (b.lower() in last and lower[a.lower()] < 3
                        and lower[b.lower()] < 3):
                    hits["first+last"][m.group(0)] += 1
        hits["title"].update(TITLE_RE.findall(t))
        if words is not None:  # a listed surname that is no English word (any case)
            hits["surname"].update(w for w in re.findall(r"\b[A-Z][a-z]{2,}\b", t)
                                   if w.lower() in last and w.lower() not in words
                                   and lower[w.lower()] < 3)
        hits["initial+last"].update(m.group(0) for m in INITIAL_RE.finditer(t)
                                    if m.group(1).lower() in last
                                    and lower[m.group(1).lower()] < 3)
        hits["at"].update(t[max(0, i - 20):i + 20] for i, c in enumerate(t) if c == "@")
        hits["email"].update(EMAIL_RE.findall(t))
        hits["phone"].update(p for p in PHONE_RE.findall(t) if phone_like(p))
        hits["digit-run"].update(re.findall(r"(?<![\w.$-])\+?1?\d{10}(?![\w.-])", t))
    print(f"<name> placeholders: {sum(t.count('<name>') for t in texts)} "
          f"in {sum('<name>' in t for t in texts)} texts")
    for k, c in hits.items():
        print(f"\n== {k}: {sum(c.values())} hits, {len(c)} distinct")
        for s, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[: args.show]:
            print(f"  {n:3d}  {s!r}")
    if args.examples:
        rng = random.Random(args.seed)
        for r in rng.sample(rows, args.examples):
            print(f"\n--- [{r['label']}]\n{r['text']}")


if __name__ == "__main__":
    main()
