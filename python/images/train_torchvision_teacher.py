#!/usr/bin/env python3
"""Train a real torchvision ResNet-18 on an image folder, as a teacher for distill to import.

The model is ``torchvision.models.resnet18(weights=None, num_classes=K)`` (K = the number of
class sub-folders), trained from scratch at 32x32 on an ImageFolder tree
(``TRAIN/<class>/*.png``; default: the emoji folders of ``emoji_folders.py``):

* images: ``Resize(32)`` then ``CenterCrop(32)`` (torchvision's, done once when the folder is
  read: the resize distill's ``resize = "center_crop"`` does), then for training
  ``RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip()``; ``ToTensor()`` and
  ``Normalize`` with the ImageNet mean / std;
* SGD (lr 0.05, momentum 0.9, weight decay 5e-4), cosine schedule stepped per batch, batch 128;
* the test folder evaluated after every epoch (top-1 accuracy printed).

It writes ``state_dict()`` to ``--out`` (``torch.save``, the zip format distill's
``[teacher.import]`` reads without executing pickle code) and ``--out`` with ``.json``: test
accuracy, per-epoch history, seed, hyper-parameters, class names, mean / std, versions, seconds.
Then it prints the experiment-file lines that import it into distill::

    /work/venv-torch/bin/python python/images/train_torchvision_teacher.py \\
        --epochs 8 --out runs/torchvision-teacher/resnet18-emoji.pth

Needs torch, torchvision and Pillow (python/images/README.md has the venv). Runs on the CPU with
``--threads`` threads (default 1).
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import PIL
import torch
import torch.nn.functional as F
import torchvision
from torchvision import datasets, transforms

REPO = Path(__file__).resolve().parent.parent.parent
DEFAULT_TRAIN = REPO / "data" / "images" / "emoji" / "train"
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class DecodedFolder(torch.utils.data.Dataset):
    """An ImageFolder read once: every file decoded to RGB and brought to ``size`` by
    ``Resize(size)`` + ``CenterCrop(size)``, kept in memory; ``transform`` runs per access."""

    def __init__(self, root: Path, size: int, transform, classes=None):
        folder = datasets.ImageFolder(str(root))
        if classes is not None and folder.classes != classes:
            raise SystemExit(
                f"{root}: class folders {folder.classes} differ from the training folder's "
                f"{classes}"
            )
        self.classes = folder.classes
        base = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size)])
        self.images = []
        for path, _ in folder.samples:
            with PIL.Image.open(path) as im:
                self.images.append(base(im.convert("RGB")))
        self.labels = [label for _, label in folder.samples]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


def evaluate(model, loader) -> tuple[float, float]:
    """(top-1 accuracy in percent, mean cross-entropy) over ``loader``."""
    model.eval()
    correct, total, loss = 0, 0, 0.0
    with torch.no_grad():
        for x, y in loader:
            logits = model(x)
            loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            total += len(y)
    return 100.0 * correct / total, loss / total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--train", type=Path, default=DEFAULT_TRAIN, help="ImageFolder training tree")
    ap.add_argument(
        "--test", type=Path, help="ImageFolder test tree (default: test/ beside --train)"
    )
    ap.add_argument(
        "--out", type=Path, default=Path("runs/torchvision-teacher/resnet18-emoji.pth"),
        help="state_dict file to write (its .json summary beside it)",
    )
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = ap.parse_args(argv)
    test_dir = args.test or args.train.parent / "test"
    for d in (args.train, test_dir):
        if not d.is_dir():
            print(f"error: {d} is not a folder", file=sys.stderr)
            return 2

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    size = args.image_size
    normalize = transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    train_tf = transforms.Compose([
        transforms.RandomCrop(size, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        normalize,
    ])
    test_tf = transforms.Compose([transforms.ToTensor(), normalize])
    start = time.perf_counter()
    train = DecodedFolder(args.train, size, train_tf)
    test = DecodedFolder(test_dir, size, test_tf, classes=train.classes)
    read_s = time.perf_counter() - start
    k = len(train.classes)
    print(
        f"{args.train}: {len(train)} train, {test_dir}: {len(test)} test images, {k} classes, "
        f"{size}x{size} (read in {read_s:.1f} s)"
    )

    generator = torch.Generator().manual_seed(args.seed)
    train_loader = torch.utils.data.DataLoader(
        train, batch_size=args.batch_size, shuffle=True, generator=generator
    )
    test_loader = torch.utils.data.DataLoader(test, batch_size=256)
    model = torchvision.models.resnet18(weights=None, num_classes=k)
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.SGD(
        model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=args.epochs * len(train_loader)
    )
    print(f"torchvision resnet18: {params:,} parameters; torch {torch.__version__}, "
          f"{args.threads} thread(s)")

    history = []
    train_start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        seen, correct, loss_sum = 0, 0, 0.0
        for x, y in train_loader:
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
        train_s = time.perf_counter() - t0
        test_acc, test_loss = evaluate(model, test_loader)
        row = {
            "epoch": epoch,
            "train_loss": loss_sum / seen,
            "train_accuracy": 100.0 * correct / seen,
            "test_loss": test_loss,
            "test_accuracy": test_acc,
            "lr": optimizer.param_groups[0]["lr"],
            "train_seconds": train_s,
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        print(
            f"epoch {epoch}/{args.epochs}: train loss {row['train_loss']:.4f}, "
            f"train acc {row['train_accuracy']:.2f}%, test acc {test_acc:.2f}% "
            f"(loss {test_loss:.4f}), {row['seconds']:.1f} s"
        )
    total_s = time.perf_counter() - train_start

    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    summary = {
        "model": "torchvision.models.resnet18(weights=None, num_classes=%d)" % k,
        "weights": args.out.name,
        "parameters": params,
        "test_accuracy": history[-1]["test_accuracy"] if history else None,
        "epochs": args.epochs,
        "seed": args.seed,
        "train_dir": str(args.train),
        "test_dir": str(test_dir),
        "train_images": len(train),
        "test_images": len(test),
        "class_names": train.classes,
        "image_size": [size, size],
        "transforms": {
            "decode": f"RGB, Resize({size}), CenterCrop({size})",
            "train": f"RandomCrop({size}, padding=4), RandomHorizontalFlip(), ToTensor(), "
            "Normalize",
            "test": "ToTensor(), Normalize",
        },
        "normalize": {"mean": IMAGENET_MEAN, "std": IMAGENET_STD},
        "optimizer": {
            "type": "sgd", "lr": args.lr, "momentum": args.momentum,
            "weight_decay": args.weight_decay, "schedule": "cosine, per batch",
            "batch_size": args.batch_size,
        },
        "threads": args.threads,
        "read_seconds": read_s,
        "train_seconds": total_s,
        "seconds_per_epoch": total_s / max(args.epochs, 1),
        "history": history,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "numpy": np.__version__,
            "pillow": PIL.__version__,
        },
    }
    summary_path = args.out.with_suffix(".json")
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out} and {summary_path}: test accuracy "
          f"{summary['test_accuracy']:.2f}% after {args.epochs} epoch(s), {total_s:.1f} s")
    print("\nTo import it into distill (experiment file):\n")
    print('[teacher.model]\ntype = "resnet"\npreset = "resnet18"\n')
    print(f'[teacher.import]\nweights = "{args.out}"\npreset = "torchvision-resnet18"')
    print(f"normalize = {{ mean = {IMAGENET_MEAN}, std = {IMAGENET_STD} }}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
