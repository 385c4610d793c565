#!/usr/bin/env python3
"""Checks that PyTorch reproduces the logits distill computed for an exported model.

    python python/check_export.py WEIGHTS.safetensors INPUTS.json [--tolerance 1e-4]

WEIGHTS.safetensors is distill's PyTorch export, with its card WEIGHTS.model.json beside it;
INPUTS.json is ``{"inputs": [N][C][H][W] normalised images, "logits": [N][classes]}``. Prints
the largest absolute difference and exits 1 when it exceeds the tolerance (2 on bad input).
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
    ap.add_argument("inputs", type=Path, help='JSON {"inputs": [...], "logits": [...]}')
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args(argv)

    torch.set_num_threads(min(2, torch.get_num_threads()))
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


if __name__ == "__main__":
    sys.exit(main())
