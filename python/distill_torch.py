"""PyTorch mirror of distill's architectures, to load a model distill exported.

distill writes ``NAME.safetensors`` (tensors in PyTorch layout under distill's names) and a
model card ``NAME.model.json`` beside it that describes the architecture::

    import distill_torch
    model, card = distill_torch.load_distill("student.safetensors")
    x = distill_torch.preprocess(pixels_uint8, card)   # [N, H, W] uint8 -> [N, 1, H, W]
    probabilities = model(x).softmax(1)
    names = card["class_names"]

The modules below produce exactly distill's tensor names (``hidden.0.weight``,
``blocks.0.units.1.norm.running_var``, ``output.bias``, ...), so the weights load with
``load_state_dict(strict=True)``. Needs ``torch`` and ``safetensors``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["build_model", "load_distill", "preprocess", "card_path", "Mlp", "Cnn"]


class Mlp(nn.Module):
    """Flatten, then ``Linear -> ReLU -> Dropout`` per hidden width, then the output layer."""

    def __init__(self, inputs: int, hidden: list[int], classes: int, dropout: float = 0.0):
        super().__init__()
        widths = [inputs] + list(hidden)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(widths[-1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.hidden:
            x = self.dropout(F.relu(layer(x)))
        return self.output(x)


class ConvUnit(nn.Module):
    """A ``k x k`` convolution ("same" padding) with an optional BatchNorm."""

    def __init__(self, cin: int, cout: int, kernel_size: int, batch_norm: bool):
        super().__init__()
        self.conv = nn.Conv2d(
            cin, cout, kernel_size, padding=kernel_size // 2, bias=not batch_norm
        )
        self.norm = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return self.norm(x) if self.norm is not None else x


class CnnBlock(nn.Module):
    """Units, each followed by ReLU; in a residual block the last ReLU comes after adding the
    shortcut (the input, or its 1x1 projection when the width changes)."""

    def __init__(self, cin, widths, kernel_size, batch_norm, residual):
        super().__init__()
        chans = [cin] + list(widths)
        self.units = nn.ModuleList(
            ConvUnit(a, b, kernel_size, batch_norm) for a, b in zip(chans, chans[1:])
        )
        self.residual = residual
        self.projection = (
            nn.Conv2d(cin, chans[-1], 1, bias=False) if residual and cin != chans[-1] else None
        )

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = inp
        last = len(self.units) - 1
        for i, unit in enumerate(self.units):
            x = unit(x)
            if i < last or not self.residual:
                x = F.relu(x)
        if self.residual:
            shortcut = self.projection(inp) if self.projection is not None else inp
            x = F.relu(x + shortcut)
        return x


class Cnn(nn.Module):
    """Blocks, each followed by 2x2 max pooling; then ``Dropout -> Linear -> ReLU`` per hidden
    width; then ``Dropout -> Linear`` to the logits."""

    def __init__(
        self,
        input_shape,
        blocks,
        classes: int,
        hidden=(),
        kernel_size: int = 3,
        batch_norm: bool = True,
        residual: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        channels, h, w = input_shape
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        mods = []
        for widths in blocks:
            if not widths:
                raise ValueError("a CNN block needs at least one convolution")
            mods.append(CnnBlock(channels, widths, kernel_size, batch_norm, residual))
            channels = widths[-1]
            h, w = h // 2, w // 2
        self.blocks = nn.ModuleList(mods)
        self.pool = nn.MaxPool2d(2, 2)
        width = channels * h * w
        layers = []
        for hd in hidden:
            layers.append(nn.Linear(width, hd))
            width = hd
        self.hidden = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = self.pool(block(x))
        x = x.flatten(1)
        for layer in self.hidden:
            x = F.relu(layer(self.dropout(x)))
        return self.output(self.dropout(x))


def build_model(card: dict) -> nn.Module:
    """The PyTorch mirror of the distill model a model card (``NAME.model.json``) describes,
    freshly initialised."""
    arch = dict(card["architecture"])
    kind = arch.get("type")
    input_shape = [int(v) for v in card["input"]]
    if len(input_shape) != 3:
        raise ValueError(f"card 'input' must be [channels, height, width], got {input_shape}")
    classes = len(card["class_names"])
    if classes == 0:
        raise ValueError("card has no class_names")
    hidden = [int(v) for v in arch.get("hidden", [])]
    dropout = float(arch.get("dropout", 0.0))
    if kind == "mlp":
        c, h, w = input_shape
        return Mlp(c * h * w, hidden, classes, dropout)
    if kind == "cnn":
        return Cnn(
            input_shape,
            [[int(c) for c in b] for b in arch["blocks"]],
            classes,
            hidden=hidden,
            kernel_size=int(arch.get("kernel_size", 3)),
            batch_norm=bool(arch.get("batch_norm", True)),
            residual=bool(arch.get("residual", False)),
            dropout=dropout,
        )
    raise ValueError(f"unknown architecture type {kind!r} (expected 'mlp' or 'cnn')")


def card_path(weights_path) -> Path:
    """``X.safetensors`` -> ``X.model.json`` (the card distill writes beside the weights)."""
    return Path(weights_path).with_suffix(".model.json")


def load_distill(weights_path, device="cpu"):
    """Loads a distill-exported model: ``(model in eval mode, card dict)``."""
    from safetensors.torch import load_file

    weights_path = Path(weights_path)
    cp = card_path(weights_path)
    try:
        card = json.loads(cp.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"model card {cp} not found: distill writes it beside the weights"
        ) from None
    model = build_model(card)
    state = load_file(str(weights_path), device=str(device))
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), card


def preprocess(pixels, card) -> torch.Tensor:
    """``[N, H, W]`` (or ``[N, 1, H, W]``) uint8 pixels -> normalised float32 ``[N, 1, H, W]``:
    ``(x / 255 - mean) / std`` with the card's ``normalize``."""
    x = torch.as_tensor(pixels)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4:
        raise ValueError(f"expected [N, H, W] or [N, 1, H, W] pixels, got shape {tuple(x.shape)}")
    norm = card["normalize"]
    return (x.to(torch.float32) / 255.0 - float(norm["mean"])) / float(norm["std"])
