#!/usr/bin/env python3
"""Checks that PyTorch reproduces the logits distill computed for an exported model.

    python python/check_export.py WEIGHTS.safetensors INPUTS.json [--tolerance 1e-4]
    python python/check_export.py WEIGHTS.safetensors IMAGE_DIR [--expect-accuracy PCT]

WEIGHTS.safetensors is distill's PyTorch export, with its card WEIGHTS.model.json beside it;
INPUTS.json is ``{"inputs": [N][C][H][W] normalised images, "logits": [N][classes]}``. Prints
the largest absolute difference and exits 1 when it exceeds the tolerance (2 on bad input).

IMAGE_DIR is an image folder in ImageFolder layout (``IMAGE_DIR/<class>/*.png|jpg|jpeg|webp``,
class folders named as the card's ``class_names``): each image is read and resized as distill
reads it (``distill_torch.load_image``: the card's input size and ``resize``, the same pixels
as distill's for PNG files), normalised with the card's ``normalize``, and the top-1 accuracy
in PyTorch printed. With ``--expect-accuracy`` (distill's accuracy on the same folder, in
percent, e.g. from ``distill evaluate``) it exits 1 when the two differ by more than
``--accuracy-tolerance`` points (default 0.2: JPEG decoders can differ by a step on a pixel, and
float sums in another order by an ulp, so a rare image on a decision boundary may flip).
"""

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import distill_torch  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", type=Path, help="distill's exported .safetensors")
    ap.add_argument(
        "inputs",
        type=Path,
        help='JSON {"inputs": [...], "logits": [...]}, or an image folder (ImageFolder layout)',
    )
    ap.add_argument("--tolerance", type=float, default=1e-4, help="largest logit difference")
    ap.add_argument(
        "--expect-accuracy", type=float, help="image folder: distill's accuracy on it, in percent"
    )
    ap.add_argument(
        "--accuracy-tolerance",
        type=float,
        default=0.2,
        help="image folder: allowed difference from --expect-accuracy, in points (default 0.2)",
    )
    ap.add_argument("--batch-size", type=int, default=256, help="image folder: images per batch")
    args = ap.parse_args(argv)

    torch.set_num_threads(min(2, torch.get_num_threads()))
    if args.inputs.is_dir():
        return check_folder(args)
    try:
        model, card = distill_torch.load_distill(args.weights)
        doc = json.loads(args.inputs.read_text())
        x = torch.tensor(doc["inputs"], dtype=torch.float32)
        expected = torch.tensor(doc["logits"], dtype=torch.float32)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if x.dim() == 3:  # [N, H, W] single-channel images
        x = x.unsqueeze(1)
    if list(x.shape[1:]) != list(card["input"]):
        print(f"error: inputs have shape {list(x.shape)}, card says {card['input']}", file=sys.stderr)
        return 2
    with torch.no_grad():
        logits = model(x)
    if logits.shape != expected.shape:
        print(
            f"error: PyTorch logits {list(logits.shape)} vs expected {list(expected.shape)}",
            file=sys.stderr,
        )
        return 1
    diff = (logits - expected).abs().max().item()
    agree = (logits.argmax(1) == expected.argmax(1)).float().mean().item()
    print(
        f"{args.weights}: {len(x)} inputs, max abs logit diff {diff:.3e} "
        f"(tolerance {args.tolerance:g}), argmax agreement {agree:.1%}"
    )
    return 0 if diff <= args.tolerance else 1


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")


def list_folder(root: Path, class_names) -> list:
    """``(file, label)`` of an image folder as distill lists it: the class sub-folders (hidden
    ones left out) must be among the card's classes; their files with an image extension (any
    case, not hidden, not in deeper folders), in name order; label = the class's position in
    the card's ``class_names``."""
    folders = sorted(
        d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")
    )
    unknown = [d for d in folders if d not in class_names]
    if unknown:
        raise ValueError(
            f"{root}: class folder(s) {', '.join(unknown)} not among the card's classes "
            f"({', '.join(class_names)})"
        )
    files = []
    for label, name in enumerate(class_names):
        d = root / name
        if not d.is_dir():
            continue
        names = sorted(
            f
            for f in d.iterdir()
            if f.is_file()
            and not f.name.startswith(".")
            and f.suffix.lower() in IMAGE_EXTENSIONS
        )
        files.extend((f, label) for f in names)
    if not files:
        raise ValueError(f"{root}: no images in any class folder")
    return files


def check_folder(args) -> int:
    """Top-1 accuracy of the export on an image folder, read as distill reads it."""
    import numpy as np

    try:
        model, card = distill_torch.load_distill(args.weights)
        files = list_folder(args.inputs, list(card["class_names"]))
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    correct = 0
    per_class = [[0, 0] for _ in card["class_names"]]
    with torch.no_grad():
        for start in range(0, len(files), args.batch_size):
            batch = files[start : start + args.batch_size]
            try:
                pixels = np.stack([distill_torch.load_image(f, card) for f, _ in batch])
            except (OSError, ValueError) as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            labels = torch.tensor([label for _, label in batch])
            pred = model(distill_torch.preprocess(pixels, card)).argmax(1)
            hits = pred == labels
            correct += int(hits.sum())
            for label, hit in zip(labels.tolist(), hits.tolist()):
                per_class[label][0] += int(hit)
                per_class[label][1] += 1
    accuracy = 100.0 * correct / len(files)
    c, h, w = card["input"]
    print(
        f"{args.weights}: {args.inputs}: {len(files)} images at {c}x{h}x{w} "
        f"({card.get('resize') or 'stretch'}), top-1 accuracy {accuracy:.2f}% ({correct} correct)"
    )
    for name, (hit, n) in zip(card["class_names"], per_class):
        if n:
            print(f"  {name}: {100.0 * hit / n:.1f}% of {n}")
    if args.expect_accuracy is None:
        return 0
    diff = abs(accuracy - args.expect_accuracy)
    print(
        f"distill's accuracy {args.expect_accuracy:.2f}%: difference {diff:.2f} points "
        f"(tolerance {args.accuracy_tolerance:g})"
    )
    return 0 if diff <= args.accuracy_tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
