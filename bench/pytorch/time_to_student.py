#!/usr/bin/env python3
"""Time-to-student: end-to-end online knowledge distillation on Fashion-MNIST in PyTorch.

    python bench/pytorch/time_to_student.py --teacher runs/pytorch-teacher/teacher.pth \
        --epochs 10 --json pytorch-tts.json

The PyTorch reference for how long distill takes to distil the example student from the
example PyTorch teacher (``examples/pytorch/train_fmnist_teacher.py``). Loads the full
Fashion-MNIST (60,000 training, 10,000 test images, gz IDX files) into memory, then trains the
student with the teacher (eval mode, under ``torch.no_grad()``) run on every batch, as
torchdistill and Keras' ``Distiller`` do:

* student: distill's example student, conv3x3(8)-pool-conv3x3(16)-pool-fc64-fc10, no dropout;
* Adam, lr 3e-3 with a per-step cosine schedule ``0.5 * lr * (1 + cos(pi * step / steps))``;
* batch 128, reshuffled every epoch (the last, smaller batch is kept), no augmentation;
* loss ``alpha * CE + (1 - alpha) * T^2 * KL`` with alpha 0.5, T 4 (distill's ``kd``);
* pixels normalised ``(x / 255 - 0.2860) / 0.3530``.

Reports the training wall-clock (data loading excluded, reported separately; no evaluation
inside the timed loop), the seconds of each epoch, and the test accuracy of the student and of
the teacher. ``--random-teacher`` uses an untrained teacher (to test the script before a
trained one exists; the accuracies then mean nothing).
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "examples" / "pytorch"))
from distill_torch import Cnn  # noqa: E402
from train_fmnist_teacher import Teacher, load_split, normalise  # noqa: E402

CLASSES = 10


def make_student():
    return Cnn((1, 28, 28), [[8], [16]], CLASSES, hidden=[64], kernel_size=3, batch_norm=False)


def kd_loss(student_logits, teacher_logits, labels, alpha, t):
    """``alpha * CE + (1 - alpha) * T^2 * KL(teacher_T || student_T)``, as distill's ``kd``."""
    ce = F.cross_entropy(student_logits, labels)
    kl = F.kl_div(
        F.log_softmax(student_logits / t, dim=1),
        F.log_softmax(teacher_logits / t, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    return alpha * ce + (1.0 - alpha) * t * t * kl


@torch.inference_mode()
def accuracy(model, x, y, batch=1000):
    """Top-1 accuracy of ``model`` (put in eval mode) on uint8 images ``x``."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += (model(normalise(x[i : i + batch])).argmax(1) == y[i : i + batch]).sum().item()
    return correct / len(x)


def load_teacher(args):
    teacher = Teacher()
    if args.random_teacher:
        print("teacher: randomly initialised (--random-teacher)")
    else:
        state = torch.load(args.teacher, map_location="cpu", weights_only=True)
        teacher.load_state_dict(state)
        print(f"teacher: {args.teacher}")
    return teacher.eval()


def train(student, teacher, x_train, y_train, args):
    """Online KD; returns the seconds of each epoch."""
    optimizer = torch.optim.Adam(student.parameters(), lr=args.lr)
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    total_steps = args.epochs * steps_per_epoch
    # LambdaLR multiplies the base lr: 0.5 * (1 + cos(pi * step / total_steps)).
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
    )
    gen = torch.Generator().manual_seed(args.seed)
    epoch_seconds = []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        student.train()
        order = torch.randperm(len(x_train), generator=gen)
        total_loss = 0.0
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            x, y = normalise(x_train[idx]), y_train[idx]
            with torch.no_grad():
                teacher_logits = teacher(x)
            loss = kd_loss(student(x), teacher_logits, y, args.alpha, args.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += loss.item() * len(idx)
        seconds = time.perf_counter() - start
        epoch_seconds.append(seconds)
        print(
            f"epoch {epoch:2d}/{args.epochs}  loss {total_loss / len(order):.4f}  "
            f"{seconds:.1f} s",
            flush=True,
        )
    return epoch_seconds


def main():
    ap = argparse.ArgumentParser(description="PyTorch online-KD time-to-student on Fashion-MNIST.")
    ap.add_argument("--teacher", type=Path, default=Path("runs/pytorch-teacher/teacher.pth"))
    ap.add_argument("--random-teacher", action="store_true",
                    help="use an untrained teacher (testing only)")
    ap.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--alpha", type=float, default=0.5, help="cross-entropy weight")
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the report as JSON to this file")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    start = time.perf_counter()
    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "t10k")
    load_seconds = time.perf_counter() - start
    print(f"loaded train {tuple(x_train.shape)}, test {tuple(x_test.shape)} "
          f"in {load_seconds:.1f} s; {args.threads} thread(s), pytorch {torch.__version__}")

    teacher = load_teacher(args)
    student = make_student()

    start = time.perf_counter()
    epoch_seconds = train(student, teacher, x_train, y_train, args)
    train_seconds = time.perf_counter() - start

    student_acc = accuracy(student, x_test, y_test)
    teacher_acc = accuracy(teacher, x_test, y_test)
    print(f"trained in {train_seconds:.1f} s ({train_seconds / args.epochs:.1f} s/epoch); "
          f"student test accuracy {student_acc:.2%}, teacher {teacher_acc:.2%}")

    if args.json:
        report = {
            "framework": f"pytorch {torch.__version__}",
            "threads": args.threads,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "seed": args.seed,
            "teacher": "random" if args.random_teacher else str(args.teacher),
            "load_seconds": load_seconds,
            "train_seconds": train_seconds,
            "epoch_seconds": epoch_seconds,
            "student_test_accuracy": student_acc,
            "teacher_test_accuracy": teacher_acc,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
