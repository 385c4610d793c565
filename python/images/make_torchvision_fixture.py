#!/usr/bin/env python3
"""Make a torchvision-layout ResNet fixture for distill's tests.

The model is built from torchvision's own ``torchvision.models.resnet.ResNet``
and ``BasicBlock``, so the state-dict keys are exactly torchvision's
(``conv1.weight``, ``bn1.{weight,bias,running_mean,running_var,
num_batches_tracked}``, ``layer1.0.conv1.weight``, ``layer2.0.downsample.0.weight``,
``layer2.0.downsample.1.*``, ..., ``fc.weight``, ``fc.bias``).

Modes
-----
default (tiny, committed)
    ResNet with BasicBlock, blocks [2, 2, 2, 2], but narrow: stem 8 channels
    (7x7 stride-2 conv + torchvision's 3x3 stride-2 max-pool), stage widths
    [8, 16, 32, 64], adaptive average pool, ``fc`` 64 -> 5.  Written as
    ``tiny_resnet.pth``.
``--full``
    A real ``torchvision.models.resnet18(weights=None, num_classes=5)``
    (~45 MB), written as ``resnet18.pth``.  Not committed.
``--mobilenet`` (tiny, committed)
    torchvision's own ``MobileNetV2`` (``torchvision.models.mobilenet_v2``'s class),
    ``width_mult=0.25``, inverted-residual settings ``[[1,16,1,1],[6,24,2,2],
    [6,32,2,2]]`` (the first three of torchvision's stages, 2 blocks in the
    third), last channel 1280, ``classifier.1`` 1280 -> 5.  Its keys are
    torchvision's (``features.0.0.weight``, ``features.1.conv.0.0.weight``,
    ``features.2.conv.1.0.weight``, ..., ``features.6.0.weight``,
    ``classifier.1.weight``).  Written as ``tiny_mobilenet_v2.pth`` with
    ``expected_mobilenet_v2.json``, on the same ``inputs.u8``.

Both: ``torch.manual_seed(0)``; after init every BatchNorm gets a random
running_mean (0.1 * normal), running_var (uniform 0.5..1.5), weight
(1 + 0.1 * normal) and bias (0.1 * normal) so that BN is not the identity; the
model is put in eval mode.

Inputs are 6 real colour photos bundled with scikit-image (astronaut, chelsea,
coffee, rocket), cropped and resized to 64x64 RGB with PIL bilinear.  They are
normalised with the ImageNet mean/std in float32:
``x = (u8 / 255 - mean[c]) / std[c]``.

Outputs (into ``--out``; default ``tests/fixtures/torchvision/`` of the repo):

* ``tiny_resnet.pth`` / ``resnet18.pth`` -- ``torch.save(model.state_dict())``
* ``inputs.u8`` -- 6 x 3 x 64 x 64 bytes: images one after the other, each as
  R plane, G plane, B plane, row-major (CHW).
* ``expected.json`` -- versions, shape, mean, std, num_classes, the float32
  logits (6 rows x 5) as full-precision Python floats, an architecture line,
  and where each image came from.

Usage (see README.md beside this file for the venv)::

    python python/images/make_torchvision_fixture.py
    python python/images/make_torchvision_fixture.py --full --out /tmp/rn18
    python python/images/make_torchvision_fixture.py --check   # reload + compare
    python python/images/make_torchvision_fixture.py --mobilenet [--check]
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision
from PIL import Image
from torchvision.models.resnet import BasicBlock, ResNet

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures", "torchvision")

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
SIZE = 64
NUM_CLASSES = 5

TINY_ARCH = "torchvision ResNet BasicBlock [2,2,2,2], widths [8,16,32,64], stem 8 (7x7 s2 + maxpool)"
MOBILENET_STAGES = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2]]
MOBILENET_ARCH = "torchvision MobileNetV2 width_mult 0.25, stages [[1,16,1,1],[6,24,2,2],[6,32,2,2]], last 1280"
FULL_ARCH = "torchvision resnet18: ResNet BasicBlock [2,2,2,2], widths [64,128,256,512], stem 64 (7x7 s2 + maxpool)"

# (skimage.data name, crop box (left, upper, right, lower) in that image's pixels)
IMAGES = [
    ("astronaut", (0, 0, 512, 512)),      # whole picture
    ("astronaut", (150, 20, 330, 200)),   # face and helmet
    ("chelsea", (75, 0, 375, 300)),       # cat, centre square
    ("chelsea", (140, 30, 300, 190)),     # cat's face
    ("coffee", (100, 0, 500, 400)),       # cup, centre square
    ("rocket", (107, 0, 534, 427)),       # rocket, centre square
]


class TinyResNet(ResNet):
    """torchvision ResNet (BasicBlock, [2,2,2,2]) narrowed to widths 8/16/32/64."""

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
        self.inplanes = 8
        self.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = self._make_layer(BasicBlock, 8, 2)
        self.layer2 = self._make_layer(BasicBlock, 16, 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, 32, 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, 64, 2, stride=2)
        self.fc = nn.Linear(64, num_classes)
        # The same init torchvision's ResNet.__init__ gives its convs and BNs.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


def randomise_bn(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.1)
                m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)
                m.weight.copy_(1.0 + 0.1 * torch.randn_like(m.weight))
                m.bias.copy_(0.1 * torch.randn_like(m.bias))


def tiny_mobilenet():
    from torchvision.models.mobilenetv2 import MobileNetV2

    return MobileNetV2(num_classes=NUM_CLASSES, width_mult=0.25,
                       inverted_residual_setting=MOBILENET_STAGES)


def build(full):
    torch.manual_seed(0)
    if full == "mobilenet":
        model = tiny_mobilenet()
    elif full:
        model = torchvision.models.resnet18(weights=None, num_classes=NUM_CLASSES)
    else:
        model = TinyResNet(NUM_CLASSES)
    randomise_bn(model)
    model.eval()
    return model


def fresh(full):
    """An untrained model of the same class (for reloading a saved state dict)."""
    if full == "mobilenet":
        return tiny_mobilenet().eval()
    if full:
        return torchvision.models.resnet18(weights=None, num_classes=NUM_CLASSES).eval()
    return TinyResNet(NUM_CLASSES).eval()


def load_images():
    """6 x 3 x 64 x 64 uint8 (CHW) from scikit-image's bundled photos."""
    from skimage import data

    out = []
    for name, box in IMAGES:
        arr = getattr(data, name)()
        img = Image.fromarray(arr).convert("RGB").crop(box)
        img = img.resize((SIZE, SIZE), Image.BILINEAR)
        out.append(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(out))


def normalise(u8):
    x = u8.astype(np.float32) / np.float32(255.0)
    mean = np.asarray(MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(STD, dtype=np.float32).reshape(1, 3, 1, 1)
    return torch.from_numpy(((x - mean) / std).astype(np.float32))


def logits_of(model, u8):
    with torch.no_grad():
        return model(normalise(u8)).float()


def paths(out, full):
    if full == "mobilenet":
        return (os.path.join(out, "tiny_mobilenet_v2.pth"), os.path.join(out, "inputs.u8"),
                os.path.join(out, "expected_mobilenet_v2.json"))
    weights = "resnet18.pth" if full else "tiny_resnet.pth"
    return (os.path.join(out, weights), os.path.join(out, "inputs.u8"),
            os.path.join(out, "expected.json"))


def make(out, full):
    os.makedirs(out, exist_ok=True)
    model = build(full)
    if full != "mobilenet":
        ref_keys = list(torchvision.models.resnet18(weights=None, num_classes=NUM_CLASSES).state_dict().keys())
        assert list(model.state_dict().keys()) == ref_keys, "state-dict keys differ from torchvision resnet18"

    u8 = load_images()
    logits = logits_of(model, u8)
    w_path, in_path, exp_path = paths(out, full)
    torch.save(model.state_dict(), w_path)
    with open(in_path, "wb") as f:
        f.write(u8.tobytes())
    expected = {
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "shape": list(u8.shape),
        "mean": MEAN,
        "std": STD,
        "num_classes": NUM_CLASSES,
        "logits": [[float(v) for v in row] for row in logits.tolist()],
        "architecture": MOBILENET_ARCH if full == "mobilenet" else FULL_ARCH if full else TINY_ARCH,
        "images": [{"source": f"skimage.data.{n}()", "crop_ltrb": list(b)} for n, b in IMAGES],
    }
    with open(exp_path, "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    for p in (w_path, in_path, exp_path):
        print(f"{p}: {os.path.getsize(p)} bytes")
    print("logits[0]:", expected["logits"][0])


def check(out, full):
    """Reload the saved weights into a fresh model and reproduce expected.json."""
    w_path, in_path, exp_path = paths(out, full)
    model = fresh(full)
    model.load_state_dict(torch.load(w_path, map_location="cpu", weights_only=True))
    model.eval()
    with open(exp_path) as f:
        expected = json.load(f)
    u8 = np.fromfile(in_path, dtype=np.uint8).reshape(expected["shape"])
    assert np.array_equal(u8, load_images()), "inputs.u8 differs from a fresh crop of the images"
    got = logits_of(model, u8)
    want = torch.tensor(expected["logits"], dtype=torch.float32)
    diff = (got - want).abs().max().item()
    print(f"check {w_path}: max abs diff {diff}")
    return diff == 0.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="real resnet18 (~45 MB) instead of the tiny model")
    ap.add_argument("--mobilenet", action="store_true", help="the tiny torchvision MobileNetV2 instead of the ResNet")
    ap.add_argument("--out", default=None, help=f"output directory (default {DEFAULT_OUT}; required with --full)")
    ap.add_argument("--check", action="store_true", help="only reload the files in --out and compare logits")
    args = ap.parse_args(argv)
    if args.full and args.out is None:
        ap.error("--full needs --out (the full fixture is not committed)")
    out = args.out or DEFAULT_OUT
    torch.set_num_threads(1)  # the same reduction order every run
    kind = "mobilenet" if args.mobilenet else args.full
    if args.check:
        return 0 if check(out, kind) else 1
    make(out, kind)
    return 0


if __name__ == "__main__":
    sys.exit(main())
