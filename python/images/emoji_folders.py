"""Build a 9-class colour image data set from emoji artwork (Noto and Twemoji, 64x64 PNGs).

Source: the npm packages ``emoji-datasource-google@16.0.0`` and
``emoji-datasource-twitter@16.0.0`` (https://github.com/iamcal/emoji-data, emoji data 16.0).
Each package holds ``emoji.json`` (one entry per emoji: ``unified`` code point sequence,
``image`` file name, ``category``, ``skin_variations``, ...) and one 64x64 PNG per emoji under
``img/<vendor>/64/<image>``.

Licences:

- the images of ``emoji-datasource-google`` are Google's Noto Color Emoji, Apache License 2.0
  (https://github.com/googlefonts/noto-emoji/blob/main/LICENSE);
- the images of ``emoji-datasource-twitter`` are Twemoji, Creative Commons Attribution 4.0
  (https://github.com/jdecked/twemoji/blob/main/LICENSE-GRAPHICS): credit
  "Twemoji, (c) Twitter, Inc and other contributors, CC-BY 4.0" where the images are shown
  or redistributed;
- ``emoji.json`` (the labels) and the packages' code are MIT (c) Cal Henderson.

The packages' README states these terms. This script ships no images; it only converts.

What it writes
--------------

Classes: the emoji ``category`` (9 of them; ``Component``, which holds the skin-tone and hair
modifiers, is left out), as file-system-safe folder names (lower case, ``&`` -> ``and``, other
non-alphanumerics -> ``_``). Class ``i`` is the ``i``-th folder name in sorted order, as
torchvision's ``ImageFolder`` and distill's image-folder reader number them::

    0 activities  1 animals_and_nature  2 flags  3 food_and_drink  4 objects
    5 people_and_body  6 smileys_and_emotion  7 symbols  8 travel_and_places

Images: one per emoji and vendor, the emoji's default image only (no ``skin_variations``);
RGBA composited on opaque white, saved as RGB PNG at the native 64x64 (no resizing).

Split by emoji, not by image: the emoji whose ``unified`` string (as in ``emoji.json``,
e.g. ``1F600`` or ``0023-FE0F-20E3``, ASCII) has ``zlib.crc32(unified) % 5 == 0`` goes to
``test``, every other to ``train``; both vendors' drawings of one emoji are therefore on the
same side.

Exact duplicates: a few distinct emoji share a pixel-identical image within one vendor (flags
of territories that use another country's flag, e.g. AU / HM, FR / MF / CP; Twemoji's family
emoji). Such a copy could sit on the other side of the split, so by default only the first
emoji of each group (in ``unified`` order) keeps its image and the others' images are
dropped and listed; ``--keep-duplicates`` keeps them all.

- ``--out OUT``: the ImageFolder tree ``OUT/{train,test}/<class>/<vendor>_<image>.png``.
- ``--cifar OUT2``: CIFAR-10 binary files for the same images and split:
  ``OUT2/data_batch_1.bin`` (train), ``OUT2/test_batch.bin``, ``OUT2/batches.meta.txt`` (the
  class folder names, one per line, in label order). Each record is 1 label byte and the
  32x32 red, green and blue planes (row-major), the image resized 64 -> 32 with Pillow's
  bilinear filter. Records are in the folder tree's order (class, then file name).
  Note: distill's ``cifar10`` reader expects 10 names in ``batches.meta.txt``; with 9 it
  falls back to CIFAR-10's own class names (the labels 0..8 themselves are read fine).

Both outputs are deterministic: reruns with the same packages and Pillow version give the
same bytes. Counts per class and split are printed.

Usage::

    npm pack emoji-datasource-google@16.0.0 emoji-datasource-twitter@16.0.0
    mkdir -p google twitter
    tar xzf emoji-datasource-google-16.0.0.tgz -C google
    tar xzf emoji-datasource-twitter-16.0.0.tgz -C twitter
    python python/images/emoji_folders.py google/package twitter/package \\
        --out data/images/emoji --cifar data/images/emoji-cifar

Needs Pillow (``pip install pillow``); nothing else outside the standard library.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

from PIL import Image

EXCLUDED_CATEGORIES = {"Component"}
TEST_MODULUS = 5  # crc32(unified) % 5 == 0 -> test
NATIVE_SIDE = 64
CIFAR_SIDE = 32
SPLITS = ("train", "test")


def folder_name(category: str) -> str:
    """``"Smileys & Emotion"`` -> ``"smileys_and_emotion"``."""
    name = category.lower().replace("&", " and ")
    return re.sub(r"[^a-z0-9]+", "_", name).strip("_")


def split_of(unified: str) -> str:
    return "test" if zlib.crc32(unified.encode("ascii")) % TEST_MODULUS == 0 else "train"


def read_package(pkg: Path) -> tuple[str, str, list[dict]]:
    """(vendor, version, emoji entries) of an unpacked ``emoji-datasource-<vendor>`` package."""
    meta = json.loads((pkg / "package.json").read_text(encoding="utf-8"))
    name = meta.get("name", "")
    if not name.startswith("emoji-datasource-"):
        sys.exit(f"{pkg}: package.json names {name!r}, not an emoji-datasource-<vendor> package")
    vendor = name[len("emoji-datasource-"):]
    if not (pkg / "img" / vendor / str(NATIVE_SIDE)).is_dir():
        sys.exit(f"{pkg}: no img/{vendor}/{NATIVE_SIDE}/ folder")
    entries = json.loads((pkg / "emoji.json").read_text(encoding="utf-8"))
    return vendor, meta.get("version", "?"), entries


def composite_rgb(path: Path) -> Image.Image:
    """The PNG at ``path`` (RGBA, LA or P with transparency) over opaque white, as RGB."""
    with Image.open(path) as src:
        rgba = src.convert("RGBA")
    if rgba.size != (NATIVE_SIDE, NATIVE_SIDE):
        sys.exit(f"{path}: {rgba.size[0]}x{rgba.size[1]}, expected {NATIVE_SIDE}x{NATIVE_SIDE}")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def cifar_record(label: int, img: Image.Image) -> bytes:
    small = img.resize((CIFAR_SIDE, CIFAR_SIDE), Image.Resampling.BILINEAR)
    return bytes([label]) + b"".join(band.tobytes() for band in small.split())


def prepare_dir(path: Path, names: list[str], overwrite: bool) -> None:
    """Make ``path``; refuse (or, with ``overwrite``, remove) existing ``names`` inside it."""
    path.mkdir(parents=True, exist_ok=True)
    for n in names:
        p = path / n
        if p.exists():
            if not overwrite:
                sys.exit(f"{p} exists; pass --overwrite to replace it")
            shutil.rmtree(p) if p.is_dir() else p.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("packages", nargs="+", type=Path,
                    help="unpacked emoji-datasource-<vendor> package dirs (.../package)")
    ap.add_argument("--out", type=Path, help="ImageFolder root: writes OUT/{train,test}/<class>/")
    ap.add_argument("--cifar", type=Path, metavar="OUT2",
                    help="also/instead write CIFAR-10 binary files (32x32) here")
    ap.add_argument("--keep-duplicates", action="store_true",
                    help="keep images that are pixel-identical to another emoji's image")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace existing OUT/{train,test} and OUT2's three files")
    args = ap.parse_args()
    if args.out is None and args.cifar is None:
        ap.error("give --out, --cifar or both")
    t0 = time.perf_counter()
    if args.out is not None:
        prepare_dir(args.out, list(SPLITS), args.overwrite)
    if args.cifar is not None:
        prepare_dir(args.cifar, ["data_batch_1.bin", "test_batch.bin", "batches.meta.txt"],
                    args.overwrite)

    # Collect (split, class, file name, source path, unified) for every default emoji image.
    items = []
    category_of: dict[str, str] = {}
    vendors = []
    for pkg in args.packages:
        vendor, version, entries = read_package(pkg)
        if vendor in vendors:
            sys.exit(f"{pkg}: vendor {vendor!r} given twice")
        vendors.append(vendor)
        print(f"{pkg}: emoji-datasource-{vendor}@{version}, {len(entries)} emoji entries")
        for e in entries:
            cat, uni = e["category"], e["unified"]
            if cat in EXCLUDED_CATEGORIES:
                continue
            if category_of.setdefault(uni, cat) != cat:
                sys.exit(f"{uni}: category {cat!r} in {pkg}, {category_of[uni]!r} elsewhere")
            if not e.get(f"has_img_{vendor}"):
                continue
            src = pkg / "img" / vendor / str(NATIVE_SIDE) / e["image"]
            if not src.is_file():
                sys.exit(f"{src}: listed in emoji.json but missing")
            items.append((vendor, uni, folder_name(cat), f"{vendor}_{e['image']}", src))

    classes = sorted({c for _, _, c, _, _ in items})
    label_of = {c: i for i, c in enumerate(classes)}

    # Composite, drop exact duplicates (first emoji in unified order per image wins).
    items.sort(key=lambda t: (t[0], t[1]))
    seen: dict[bytes, str] = {}
    kept, dropped = [], []
    for vendor, uni, cls, fname, src in items:
        img = composite_rgb(src)
        digest = hashlib.sha256(img.tobytes()).digest()
        if digest in seen and not args.keep_duplicates:
            dropped.append(f"{vendor} {uni} (= {seen[digest]})")
            continue
        seen.setdefault(digest, uni)
        kept.append((split_of(uni), cls, fname, img))
    kept.sort(key=lambda t: (t[0], t[1], t[2]))  # split, class, file name

    if args.out is not None:
        for split, cls, fname, img in kept:
            d = args.out / split / cls
            d.mkdir(parents=True, exist_ok=True)
            img.save(d / fname, format="PNG")
    if args.cifar is not None:
        files = {"train": "data_batch_1.bin", "test": "test_batch.bin"}
        for split, fname in files.items():
            with open(args.cifar / fname, "wb") as f:
                for s, cls, _, img in kept:
                    if s == split:
                        f.write(cifar_record(label_of[cls], img))
        (args.cifar / "batches.meta.txt").write_text("".join(c + "\n" for c in classes),
                                                      encoding="utf-8")

    # Report.
    counts = Counter((s, c) for s, c, _, _ in kept)
    emoji_split = Counter(split_of(u) for u in {u for _, u, _, _, _ in items})
    if dropped:
        print(f"dropped {len(dropped)} pixel-identical duplicate images: " + ", ".join(dropped))
    print(f"emoji: {emoji_split['train']} train, {emoji_split['test']} test "
          f"(crc32(unified) % {TEST_MODULUS} == 0 -> test); vendors: {', '.join(vendors)}")
    print(f"{'label':>5}  {'class':<22}{'train':>7}{'test':>7}")
    for c in classes:
        print(f"{label_of[c]:>5}  {c:<22}{counts['train', c]:>7}{counts['test', c]:>7}")
    tr = sum(counts["train", c] for c in classes)
    te = sum(counts["test", c] for c in classes)
    print(f"{'':>5}  {'total':<22}{tr:>7}{te:>7}")
    for name, path in (("folders", args.out), ("cifar", args.cifar)):
        if path is not None:
            print(f"{name}: {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
