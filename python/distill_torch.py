"""PyTorch mirror of distill's architectures, to load a model distill exported.

distill writes ``NAME.safetensors`` (tensors in PyTorch layout under distill's names) and a
model card ``NAME.model.json`` beside it that describes the architecture::

    import distill_torch
    model, card = distill_torch.load_distill("student.safetensors")
    x = distill_torch.preprocess(pixels_uint8, card)   # [N, C, H, W] (or grey [N, H, W]) uint8
    # an image file, resized as distill resizes (card "resize"), as a [C, H, W] uint8 array:
    x = distill_torch.preprocess(distill_torch.load_image("cat.jpg", card)[None], card)
    probabilities = model(x).softmax(1)
    # as `distill predict` gives them: at the temperature fitted on the validation split
    probabilities = (model(x) / distill_torch.temperature(card)).softmax(1)
    names = card["class_names"]

The modules below produce exactly distill's tensor names (``hidden.0.weight``,
``blocks.0.units.1.norm.running_var``, ``output.bias``; for ``resnet`` torchvision's
``conv1.weight``, ``layer2.0.bn1.running_var``, ``fc.weight``, except the shortcut's
``layer2.0.downsample.conv.weight`` / ``.bn.*`` where torchvision has ``downsample.0`` /
``downsample.1``; for ``mobilenetv2`` ``stem.conv.weight``,
``stages.1.0.expand.bn.weight``, ``last.conv.weight``, ``fc.bias``, ...), so the weights load
with ``load_state_dict(strict=True)``. Needs ``torch`` and ``safetensors``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "build_model",
    "load_distill",
    "preprocess",
    "load_image",
    "resize_triangle",
    "card_path",
    "temperature",
    "rename_torchvision_resnet",
    "make_divisible",
    "Mlp",
    "Cnn",
    "ResNet",
    "MobileNetV2",
    "RESNET_PRESETS",
    "TORCHVISION_STAGES",
]


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


# --- ResNet (BasicBlocks, torchvision's names) -------------------------------------------

# name -> (stem, stem_width, widths, blocks), as distill's `preset`.
RESNET_PRESETS = {
    "resnet18": ("imagenet", 64, [64, 128, 256, 512], [2, 2, 2, 2]),
    "resnet34": ("imagenet", 64, [64, 128, 256, 512], [3, 4, 6, 3]),
    "resnet8x4": ("cifar", 32, [64, 128, 256], [1, 1, 1]),
    "resnet32x4": ("cifar", 32, [64, 128, 256], [5, 5, 5]),
}


class Downsample(nn.Module):
    """The shortcut of a block that changes stride or width: bias-free 1x1 convolution and
    BatchNorm (distill's ``downsample.conv`` / ``downsample.bn``; torchvision's
    ``downsample.0`` / ``downsample.1``)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class BasicBlock(nn.Module):
    """``conv1 3x3/stride -> bn1 -> ReLU -> conv2 3x3 -> bn2 -> + shortcut -> ReLU``."""

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=1e-5, momentum=0.1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width, eps=1e-5, momentum=0.1)
        self.downsample = (
            Downsample(cin, width, stride) if stride != 1 or cin != width else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = self.downsample(x) if self.downsample is not None else x
        return F.relu(out + shortcut)


class ResNet(nn.Module):
    """A ResNet of BasicBlocks. Stem ``"imagenet"``: ``conv1 7x7/2 -> bn1 -> ReLU -> max pool
    3x3/2``; ``"cifar"``: ``conv1 3x3/1 -> bn1 -> ReLU``. Then ``layer1``.. (the first block of
    ``layer2``.. has stride 2), global average pool, ``fc``."""

    def __init__(
        self, input_channels: int, classes: int, stem: str, stem_width: int, widths, blocks
    ):
        super().__init__()
        widths, blocks = [int(w) for w in widths], [int(b) for b in blocks]
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"resnet stem must be 'imagenet' or 'cifar', got {stem!r}")
        if not 1 <= len(widths) <= 4 or len(blocks) != len(widths):
            raise ValueError(
                f"resnet needs 1 to 4 stages, one block count each: {widths} / {blocks}"
            )
        if min(widths + blocks + [stem_width]) < 1:
            raise ValueError("resnet widths, blocks and stem_width must be at least 1")
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(input_channels, stem_width, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(input_channels, stem_width, 3, stride=1, padding=1, bias=False)
            self.maxpool = None
        self.bn1 = nn.BatchNorm2d(stem_width, eps=1e-5, momentum=0.1)
        channels = stem_width
        self.stage_names = []
        for i, (width, count) in enumerate(zip(widths, blocks)):
            layer = []
            for b in range(count):
                layer.append(BasicBlock(channels, width, 2 if i > 0 and b == 0 else 1))
                channels = width
            name = f"layer{i + 1}"
            setattr(self, name, nn.Sequential(*layer))
            self.stage_names.append(name)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return self.fc(self.avgpool(x).flatten(1))


def rename_torchvision_resnet(state: dict) -> dict:
    """A torchvision ResNet state dict under distill's names: ``downsample.0`` ->
    ``downsample.conv``, ``downsample.1`` -> ``downsample.bn`` (everything else is the same)."""
    out = {}
    for key, value in state.items():
        key = key.replace(".downsample.0.", ".downsample.conv.")
        key = key.replace(".downsample.1.", ".downsample.bn.")
        out[key] = value
    return out


def _resnet_from_card(arch: dict, input_channels: int, classes: int) -> ResNet:
    layout_keys = ("stem", "stem_width", "widths", "blocks")
    preset = arch.get("preset")
    if preset is not None:
        if any(k in arch for k in layout_keys):
            raise ValueError("resnet: give a preset or stem/stem_width/widths/blocks, not both")
        if preset not in RESNET_PRESETS:
            raise ValueError(
                f"unknown resnet preset {preset!r}; known: {', '.join(RESNET_PRESETS)}"
            )
        stem, stem_width, widths, blocks = RESNET_PRESETS[preset]
    else:
        missing = [k for k in layout_keys if k not in arch]
        if missing:
            raise ValueError(f"resnet architecture lacks {', '.join(missing)} (and has no preset)")
        stem, stem_width = arch["stem"], int(arch["stem_width"])
        widths, blocks = arch["widths"], arch["blocks"]
    return ResNet(input_channels, classes, stem, stem_width, widths, blocks)


# --- MobileNetV2 (torchvision's layout, distill's names) ---------------------------------

# torchvision's inverted-residual settings [t, c, n, s]: expansion, channels, blocks, stride.
TORCHVISION_STAGES = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
]


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``: the nearest multiple of ``divisor``, at least
    ``divisor``, never below 90% of ``v``."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new < 0.9 * v:
        new += divisor
    return new


class ConvBn(nn.Module):
    """A bias-free ``k x k`` convolution (padding ``k // 2``, ``groups``) and its BatchNorm."""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int = 1, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(
            cin,
            cout,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            groups=groups,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class InvertedResidual(nn.Module):
    """``[expand 1x1 -> ReLU6] -> depthwise 3x3/stride -> ReLU6 -> project 1x1`` (no
    activation), plus the input when the stride is 1 and the width is kept."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.expand = ConvBn(cin, hidden, 1) if expansion != 1 else None
        self.depthwise = ConvBn(hidden, hidden, 3, stride=stride, groups=hidden)
        self.project = ConvBn(hidden, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand is not None:
            y = F.relu6(self.expand(y))
        y = self.project(F.relu6(self.depthwise(y)))
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    """``stem 3x3/stem_stride -> ReLU6``, stages of inverted residuals (``[t, c, n, s]``, the
    first block of a stage with stride ``s``), ``last 1x1 -> ReLU6``, global average pool,
    dropout, ``fc``. Widths are ``make_divisible(c * width_mult)``; the last one
    ``make_divisible(last_width * max(1, width_mult))``."""

    def __init__(
        self,
        input_channels: int,
        classes: int,
        width_mult: float = 1.0,
        stages=None,
        stem_width: int = 32,
        stem_stride: int = 2,
        last_width: int = 1280,
        dropout: float = 0.2,
    ):
        super().__init__()
        stages = [[int(v) for v in st] for st in (TORCHVISION_STAGES if stages is None else stages)]
        if not stages or any(len(st) != 4 for st in stages):
            raise ValueError(
                f"mobilenetv2 stages must be a non-empty list of [t, c, n, s], got {stages}"
            )
        if stem_stride not in (1, 2):
            raise ValueError(f"mobilenetv2 stem_stride must be 1 or 2, got {stem_stride}")
        channels = make_divisible(stem_width * width_mult)
        self.stem = ConvBn(input_channels, channels, 3, stride=stem_stride)
        mods = []
        for t, c, n, s in stages:
            out = make_divisible(c * width_mult)
            blocks = []
            for i in range(n):
                blocks.append(InvertedResidual(channels, out, s if i == 0 else 1, t))
                channels = out
            mods.append(nn.ModuleList(blocks))
        self.stages = nn.ModuleList(mods)
        last = make_divisible(last_width * max(1.0, width_mult))
        self.last = ConvBn(channels, last, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(last, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self.stem(x))
        for stage in self.stages:
            for block in stage:
                x = block(x)
        x = F.relu6(self.last(x))
        return self.fc(self.dropout(self.pool(x).flatten(1)))


def _mobilenetv2_from_card(arch: dict, input_channels: int, classes: int) -> MobileNetV2:
    return MobileNetV2(
        input_channels,
        classes,
        width_mult=float(arch.get("width_mult", 1.0)),
        stages=arch.get("stages"),
        stem_width=int(arch.get("stem_width", 32)),
        stem_stride=int(arch.get("stem_stride", 2)),
        last_width=int(arch.get("last_width", 1280)),
        dropout=float(arch.get("dropout", 0.2)),
    )


def temperature(card: dict) -> float:
    """The temperature ``T`` that ``distill predict`` divides the logits by: the card's
    ``calibration.temperature`` (fitted on the validation split when the model was saved) when
    its ``applied`` is true, else 1.0 (the model's own probabilities)."""
    calibration = card.get("calibration")
    if not calibration or not calibration.get("applied", False):
        return 1.0
    t = float(calibration["temperature"])
    if not (t > 0.0 and t != float("inf")):
        raise ValueError(f"card calibration.temperature must be a finite number > 0, got {t}")
    return t


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
    if kind == "resnet":
        return _resnet_from_card(arch, input_shape[0], classes)
    if kind == "mobilenetv2":
        return _mobilenetv2_from_card(arch, input_shape[0], classes)
    raise ValueError(
        f"unknown architecture type {kind!r} (expected 'mlp', 'cnn', 'resnet' or 'mobilenetv2')"
    )


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


def _per_channel(value, channels: int, name: str) -> torch.Tensor:
    """A card's ``mean`` / ``std`` (one number, or one per channel) as ``[1, C, 1, 1]``."""
    values = [float(v) for v in value] if isinstance(value, (list, tuple)) else [float(value)]
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise ValueError(
            f"card normalize.{name} has {len(values)} values for images of {channels} channel(s)"
        )
    return torch.tensor(values, dtype=torch.float32).view(1, channels, 1, 1)


def preprocess(pixels, card) -> torch.Tensor:
    """uint8 pixels ``[N, C, H, W]`` (channel planes, RGB order for colour; grey-scale may be
    ``[N, H, W]``) -> normalised float32 ``[N, C, H, W]``: ``(x / 255 - mean[c]) / std[c]``
    with the card's ``normalize`` (one value, or one per channel). The images must already be
    the card's ``input`` size (``load_image`` reads and resizes a file as distill does)."""
    if getattr(getattr(pixels, "flags", None), "writeable", True) is False:
        pixels = pixels.copy()  # a read-only numpy array (np.frombuffer): torch warns on those
    x = torch.as_tensor(pixels)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4:
        raise ValueError(
            f"expected [N, C, H, W] (or grey [N, H, W]) pixels, got shape {tuple(x.shape)}"
        )
    channels = int(card["input"][0]) if "input" in card else x.shape[1]
    if x.shape[1] != channels:
        hint = " (channels last? use .permute(0, 3, 1, 2))" if x.shape[-1] == channels else ""
        raise ValueError(
            f"pixels have {x.shape[1]} channel(s) in dim 1, the card's input has {channels}{hint}"
        )
    norm = card["normalize"]
    mean = _per_channel(norm["mean"], channels, "mean")
    std = _per_channel(norm["std"], channels, "std")
    return (x.to(torch.float32) / 255.0 - mean) / std


def _triangle_weights(size: int, new_size: int):
    """Source indices and weights ``[new_size, taps]`` of the ``image`` crate's triangle
    ("bilinear") filter along one axis, computed in f32 as it computes them (support widened by
    the downscale factor; weights normalised by their sum)."""
    import numpy as np

    f32 = np.float32
    ratio = f32(size) / f32(new_size)
    sratio = max(ratio, f32(1.0))
    rows = []
    for out in range(new_size):
        centre = (f32(out) + f32(0.5)) * ratio
        left = min(max(int(np.floor(centre - sratio)), 0), size - 1)
        right = min(max(int(np.ceil(centre + sratio)), left + 1), size)
        centre = centre - f32(0.5)
        ws, total = [], f32(0.0)
        for i in range(left, right):
            x = abs((f32(i) - centre) / sratio)
            w = f32(1.0) - x if x < f32(1.0) else f32(0.0)
            ws.append(w)
            total = f32(total + w)
        rows.append((left, [f32(w / total) for w in ws]))
    taps = max(len(ws) for _, ws in rows)
    index = np.zeros((new_size, taps), dtype=np.int64)
    weight = np.zeros((new_size, taps), dtype=np.float32)
    for o, (left, ws) in enumerate(rows):
        index[o, : len(ws)] = np.arange(left, left + len(ws))
        index[o, len(ws) :] = left  # weight 0: adds +0.0, which changes no sum
        weight[o, : len(ws)] = ws
    return index, weight


def resize_triangle(pixels, height: int, width: int):
    """uint8 ``[H, W, C]`` -> ``[height, width, C]`` as the ``image`` crate's
    ``resize_exact(.., FilterType::Triangle)`` computes it: rows first into f32, then columns,
    each output a sum taken tap by tap in f32, clamped to [0, 255] and rounded half away from
    zero. Bit-exact with distill's decoding of the same pixels."""
    import numpy as np

    src = np.asarray(pixels, dtype=np.uint8)
    h, w = src.shape[:2]
    if (h, w) == (height, width):
        return src.copy()
    x = src.astype(np.float32)
    index, weight = _triangle_weights(h, height)
    tmp = np.zeros((height, w) + src.shape[2:], dtype=np.float32)
    shape = (height, 1) + (1,) * (src.ndim - 2)
    for k in range(index.shape[1]):
        tmp = tmp + x[index[:, k]] * weight[:, k].reshape(shape)
    index, weight = _triangle_weights(w, width)
    out = np.zeros((height, width) + src.shape[2:], dtype=np.float32)
    shape = (1, width) + (1,) * (src.ndim - 2)
    for k in range(index.shape[1]):
        out = out + tmp[:, index[:, k]] * weight[:, k].reshape(shape)
    out = np.clip(out, np.float32(0.0), np.float32(255.0))
    down = np.floor(out)
    rounded = np.where(out - down >= np.float32(0.5), down + np.float32(1.0), down)
    return rounded.astype(np.uint8)


def load_image(path, card):
    """An image file as distill decodes it for this card: uint8 ``[C, H, W]`` numpy array
    (RGB planes, or one grey plane) of the card's ``input`` size, brought to it by the card's
    ``resize``: ``"center_crop"`` scales the image (aspect kept) until it covers the size and
    cuts out the centre (torchvision's ``Resize`` + ``CenterCrop``); ``"stretch"`` (and cards
    that do not say) scales it to the size. Scaling is ``resize_triangle``, the ``image``
    crate's bilinear filter, bit for bit; alpha is dropped, not composited, and grey is BT.709
    luminance (``_luma``), as distill does. Files are decoded by Pillow: PNG pixels are the same
    as distill's, JPEG (and lossy WebP) decoders may differ by a step."""
    import numpy as np
    from PIL import Image

    channels, h, w = (int(v) for v in card["input"])
    if channels not in (1, 3):
        raise ValueError(
            f"load_image reads 1- or 3-channel images; the card's input has {channels}"
        )
    resize = card.get("resize") or "stretch"
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)  # [H, W, 3]
    ih, iw = rgb.shape[:2]
    if (ih, iw) != (h, w):
        if resize == "stretch":
            rgb = resize_triangle(rgb, h, w)
        elif resize == "center_crop":
            scale = max(w / iw, h / ih)
            # Rust's f64::round (halves away from zero), not Python's round (halves to even)
            sw = max(int(iw * scale + 0.5), w)
            sh = max(int(ih * scale + 0.5), h)
            rgb = resize_triangle(rgb, sh, sw)
            top, left = (sh - h) // 2, (sw - w) // 2
            rgb = rgb[top : top + h, left : left + w]
        else:
            raise ValueError(f"card resize {resize!r}: expected 'center_crop' or 'stretch'")
    if channels == 1:
        return _luma(rgb)[None]
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


# The luminance row of BT.709 primaries with a D65 white point, as f32: what the `image` crate
# (0.25, through moxcms) weighs R, G, B with when it turns colour into grey.
_LUMA_COEFFICIENTS = ("0.21264781", "0.71517915", "0.07217304")


def _luma(rgb):
    """uint8 ``[H, W, 3]`` -> ``[H, W]`` grey as the ``image`` crate's ``to_luma8``: channels
    scaled to [0, 1] in f32, weighed and summed in f32, times 255, rounded half away from 0."""
    import numpy as np

    x = rgb.astype(np.float32) * np.float32(1.0 / 255.0)
    acc = np.zeros(x.shape[:-1], dtype=np.float32)
    for c, k in enumerate(_LUMA_COEFFICIENTS):
        acc = acc + x[..., c] * np.float32(k)
    v = acc * np.float32(255.0)
    down = np.floor(v)
    return np.clip(np.where(v - down >= 0.5, down + 1.0, down), 0, 255).astype(np.uint8)
