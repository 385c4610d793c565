#!/usr/bin/env python3
"""PyTorch reference timings for the workloads ``distill bench`` measures.

    python bench/pytorch/bench_kd.py --threads 2 --json pytorch.json
    python bench/pytorch/bench_kd.py --quick --only mlp_kd_train_b128,mlp_infer_b1

Everything runs on the CPU with ``torch.set_num_threads(--threads)`` and synthetic in-memory
data (no DataLoader). Each workload runs its warm-up repetitions (not timed), then its timed
repetitions, each timed with ``time.perf_counter``; the report is the median (and, for the
batch-1 latencies, the 99th percentile). ``samples_per_s`` is the batch size (steps,
inference) or the number of samples (recording, epochs) divided by the median seconds.

The models mirror distill's (``python/distill_torch.py``), so both sides run the same
networks. The JSON has the schema ``bench/compare.py`` reads::

    {"framework": "pytorch 2.x", "threads": 2,
     "workloads": [{"name": ..., "median_ms": ..., "samples_per_s": ..., "runs": ...}, ...]}
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from distill_torch import Cnn, Mlp  # noqa: E402

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST normalisation, as distill uses
ALPHA, TEMPERATURE = 0.5, 4.0  # distill's `kd` objective: alpha is the cross-entropy weight
CLASSES = 10


def make_mlp():
    return Mlp(784, [1200, 1200], CLASSES, dropout=0.0)


def make_cnn():
    return Cnn((1, 28, 28), [[32], [64]], CLASSES, hidden=[1024], kernel_size=5, batch_norm=False)


def make_student():
    return Cnn((1, 28, 28), [[8], [16]], CLASSES, hidden=[64], kernel_size=3, batch_norm=False)


def make_teacher():
    """The example teacher, in eval mode (it is only ever used for inference here)."""
    model = Cnn(
        (1, 28, 28), [[32], [64]], CLASSES, hidden=[512], kernel_size=3, batch_norm=True,
        dropout=0.2,
    )
    return model.eval()


MODELS = {"mlp": make_mlp, "cnn": make_cnn, "student": make_student}


def kd_loss(student_logits, teacher_logits, labels, alpha=ALPHA, t=TEMPERATURE):
    """``alpha * CE + (1 - alpha) * T^2 * KL(teacher_T || student_T)``, as distill's ``kd``."""
    ce = F.cross_entropy(student_logits, labels)
    kl = F.kl_div(
        F.log_softmax(student_logits / t, dim=1),
        F.log_softmax(teacher_logits / t, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    return alpha * ce + (1.0 - alpha) * t * t * kl


def normalise(x_uint8):
    return (x_uint8.float() / 255.0 - MEAN) / STD


def timed(name, fn, warmup, runs, samples, latency=False):
    """Runs ``fn`` ``warmup`` times untimed, then ``runs`` times timed; a result row."""
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    row = {"name": name, "median_ms": median * 1e3, "samples_per_s": samples / median}
    if latency:
        row["p99_ms"] = float(np.percentile(seconds, 99)) * 1e3
    row["runs"] = runs
    return row


def kd_train_step(kind, quick, sgd=False):
    """One KD training step at batch 128 on fixed data and fixed teacher logits; Adam, or with
    ``sgd`` the examples' SGD (lr 0.05, momentum 0.9, Nesterov)."""
    model = MODELS[kind]().train()
    if sgd:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(128, 1, 28, 28)
    y = torch.randint(0, CLASSES, (128,))
    teacher_logits = 3.0 * torch.randn(128, CLASSES)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = kd_loss(model(x), teacher_logits, y)
        loss.backward()
        optimizer.step()
        loss.item()  # distill reads the loss every step

    warmup, runs = (3, 10) if quick else (10, 50)
    name = f"{kind}_kd_sgd_train_b128" if sgd else f"{kind}_kd_train_b128"
    return timed(name, step, warmup, runs, samples=128)


def infer(kind, batch, quick):
    """Eval-mode forward passes at a fixed batch size (inference mode around the loop)."""
    model = MODELS[kind]().eval()
    x = torch.randn(batch, 1, 28, 28)

    def forward():
        model(x)

    if batch == 1:
        warmup, runs = (10, 100) if quick else (100, 1000)
    else:
        warmup, runs = (2, 10) if quick else (5, 50)
    with torch.inference_mode():
        return timed(f"{kind}_infer_b{batch}", forward, warmup, runs, batch, latency=batch == 1)


def synthetic_images(n, seed=0):
    """``n`` fixed random uint8 images ``[n, 1, 28, 28]`` and labels."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, CLASSES, (n,), generator=gen)
    return images, labels


def record_logits(teacher, images, batch=512):
    """The teacher's logits over ``images`` as one float16 numpy array (soft-label recording)."""
    chunks = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            logits = teacher(normalise(images[i : i + batch]))
            chunks.append(logits.to(torch.float16).numpy())
    return np.concatenate(chunks)


def teacher_record(quick):
    teacher = make_teacher()
    images, _ = synthetic_images(10_000)
    warmup, runs = (0, 1) if quick else (1, 3)
    return timed("teacher_record", lambda: record_logits(teacher, images), warmup, runs, 10_000)


def student_epoch(mode, quick, n=12_800, batch=128):
    """One epoch of the student over ``n`` synthetic images; mode is plain, offline_kd or
    online_kd. One model and one Adam keep training across the warm-up and timed epochs, like
    consecutive epochs of one run."""
    images, labels = synthetic_images(n)
    teacher = make_teacher()
    soft = None
    if mode == "offline_kd":  # recorded once, before any epoch, as distill does
        soft = torch.from_numpy(record_logits(teacher, images))  # float16 [n, 10]
    student = make_student().train()
    optimizer = torch.optim.Adam(student.parameters(), lr=3e-3)

    def epoch():
        order = torch.randperm(n)
        for i in range(0, n, batch):
            idx = order[i : i + batch]
            x, y = normalise(images[idx]), labels[idx]
            if mode == "plain":
                loss = F.cross_entropy(student(x), y)
            elif mode == "offline_kd":
                loss = kd_loss(student(x), soft[idx].float(), y)
            else:
                with torch.no_grad():
                    teacher_logits = teacher(x)
                loss = kd_loss(student(x), teacher_logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()

    warmup, runs = (0, 1) if quick else (1, 3)
    return timed(f"epoch_{mode}", epoch, warmup, runs, samples=n)


def conv_layer(name, batch, cin, cout, side, quick, block=False):
    """One 3x3 conv (padding 1, bias), or a residual block of two, forward and backward.

    The same as distill's ``conv_*`` / ``resnet_block_b32`` workloads: ``y = conv(x)`` (or
    ``relu(x + conv2(relu(conv1(x))))``), ``loss = (y * g).sum()`` for a fixed random ``g``,
    then the gradients of the input and the weights.
    """
    c1 = torch.nn.Conv2d(cin, cout, 3, padding=1)
    c2 = torch.nn.Conv2d(cout, cout, 3, padding=1)
    x = torch.randn(batch, cin, side, side, requires_grad=True)
    g = torch.randn(batch, cout, side, side)

    def step():
        for p in (*c1.parameters(), *c2.parameters()):
            p.grad = None
        x.grad = None
        y = c1(x)
        if block:
            y = torch.relu(x + c2(torch.relu(y)))
        (y * g).sum().backward()

    warmup, runs = (3, 10) if quick else (10, 50)
    return timed(name, step, warmup, runs, samples=batch)


WORKLOADS = {
    **{f"{k}_kd_train_b128": (lambda q, k=k: kd_train_step(k, q)) for k in MODELS},
    **{f"{k}_kd_sgd_train_b128": (lambda q, k=k: kd_train_step(k, q, sgd=True))
       for k in ("mlp", "student")},
    **{f"{k}_infer_b1": (lambda q, k=k: infer(k, 1, q)) for k in MODELS},
    **{f"{k}_infer_b256": (lambda q, k=k: infer(k, 256, q)) for k in MODELS},
    "teacher_record": teacher_record,
    "epoch_plain": lambda q: student_epoch("plain", q),
    "epoch_offline_kd": lambda q: student_epoch("offline_kd", q),
    "epoch_online_kd": lambda q: student_epoch("online_kd", q),
    "conv_student1_b128": lambda q: conv_layer("conv_student1_b128", 128, 1, 8, 28, q),
    "conv_student2_b128": lambda q: conv_layer("conv_student2_b128", 128, 8, 16, 14, q),
    "conv_teacher2_b128": lambda q: conv_layer("conv_teacher2_b128", 128, 32, 64, 14, q),
    "resnet_block_b32": lambda q: conv_layer("resnet_block_b32", 32, 64, 64, 16, q, block=True),
}


def print_table(rows):
    print(f"{'workload':<22} {'median ms':>11} {'p99 ms':>9} {'samples/s':>12} {'runs':>5}")
    for r in rows:
        p99 = f"{r['p99_ms']:.3f}" if "p99_ms" in r else "-"
        print(
            f"{r['name']:<22} {r['median_ms']:>11.3f} {p99:>9} "
            f"{r['samples_per_s']:>12.1f} {r['runs']:>5}"
        )


def main():
    ap = argparse.ArgumentParser(description="PyTorch reference timings of distill's workloads.")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--json", type=Path, help="write the results as JSON to this file")
    ap.add_argument("--quick", action="store_true", help="few repetitions (smoke test)")
    ap.add_argument("--only", help="comma-separated names or parts of names (default: all)")
    args = ap.parse_args()

    names = list(WORKLOADS)
    if args.only:  # like `distill bench --only`: names containing one of the patterns
        patterns = [p.strip() for p in args.only.split(",") if p.strip()]
        unmatched = [p for p in patterns if not any(p in n for n in WORKLOADS)]
        if unmatched:
            ap.error(f"no workload matches {unmatched}; known: {', '.join(WORKLOADS)}")
        names = [n for n in WORKLOADS if any(p in n for p in patterns)]

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"pytorch {torch.__version__}, {torch.get_num_threads()} thread(s)", flush=True)

    rows = []
    for name in names:
        row = WORKLOADS[name](args.quick)
        rows.append(row)
        print(f"  {name}: {row['median_ms']:.3f} ms median", flush=True)
    print()
    print_table(rows)

    if args.json:
        report = {"framework": f"pytorch {torch.__version__}", "threads": args.threads,
                  "workloads": rows}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
