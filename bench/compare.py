#!/usr/bin/env python3
"""Side-by-side table of ``distill bench`` and the PyTorch reference (``bench/pytorch``).

    python bench/compare.py --distill distill.json --pytorch pytorch.json [--markdown OUT.md]
    python bench/compare.py --run [--distill-bin target/release/distill] [--threads 2] --targets

Both JSON files have the schema ``{"threads": N, "workloads": [{"name", "median_ms",
"samples_per_s", "p99_ms"?}, ...]}`` (other fields are ignored). Rows are joined by workload
name; a name only one side has shows "—" on the other. ``speed-up`` is distill samples/s over
PyTorch samples/s: above 1 means distill is faster.

``--run`` first runs ``DISTILL_BIN bench --json ...`` (with ``RAYON_NUM_THREADS=--threads``)
and ``bench/pytorch/bench_kd.py --threads ...``, one after the other, writing to the --distill
and --pytorch paths (defaults under ``bench/out/``); --quick and --only go to both.

``--rounds N`` (with ``--run``) alternates the two N times (distill, PyTorch, distill, ...),
writing ``NAME-r1.json`` ... ``NAME-rN.json``. Several files per side (``--distill a.json
b.json --pytorch c.json d.json``, paired by position, or the files of ``--rounds``) give one
table of medians over the rounds: each side's median time, the median of the per-round
speed-ups, and their range. On a shared VM a slow minute hits one side of one round; the
median of paired rounds is what survives that.
``--targets`` adds the performance targets and whether each is met. Needs only the standard
library (``--run`` needs torch for the PyTorch side).
"""

import argparse
import json
import statistics
import os
import shlex
import subprocess
import sys
from pathlib import Path

DASH = "—"
HERE = Path(__file__).resolve().parent


def load(path):
    """``(report dict, {name: workload row})`` of a benchmark JSON file."""
    report = json.loads(Path(path).read_text())
    return report, {w["name"]: w for w in report.get("workloads", [])}


def fmt(value, digits=3):
    return DASH if value is None else f"{value:.{digits}f}"


def merge_rounds(pairs):
    """Paired rounds ``[(distill rows, pytorch rows), ...]`` as one pair of row dicts: each
    side's median over the rounds, and on distill's side the per-round speed-ups
    (``speedups``) and their median (``speedup``)."""
    if len(pairs) == 1:
        return pairs[0]
    med = statistics.median
    distill, pytorch = {}, {}
    for name in pairs[0][0]:
        rounds = [(d[name], p.get(name)) for d, p in pairs if name in d]
        row = {k: med(r[0][k] for r in rounds) for k in ("median_ms", "samples_per_s")}
        if all("p99_ms" in d for d, _ in rounds):
            row["p99_ms"] = med(d["p99_ms"] for d, _ in rounds)
        if all(p for _, p in rounds):
            row["speedups"] = [d["samples_per_s"] / p["samples_per_s"] for d, p in rounds]
            row["speedup"] = med(row["speedups"])
        distill[name] = row
    for name in pairs[0][1]:
        rounds = [p[name] for _, p in pairs if name in p]
        row = {k: med(r[k] for r in rounds) for k in ("median_ms", "samples_per_s")}
        if all("p99_ms" in r for r in rounds):
            row["p99_ms"] = med(r["p99_ms"] for r in rounds)
        pytorch[name] = row
    return distill, pytorch


def rows(distill, pytorch):
    """One row per workload name (distill's order, then names only PyTorch has)."""
    names = list(distill) + [n for n in pytorch if n not in distill]
    out = []
    for name in names:
        d, p = distill.get(name, {}), pytorch.get(name, {})
        d_sps, p_sps = d.get("samples_per_s"), p.get("samples_per_s")
        speedup = d_sps / p_sps if d_sps and p_sps else None
        if "speedup" in d:
            speedup = d["speedup"]
        p99 = None
        if "p99_ms" in d and "p99_ms" in p:
            p99 = f"{d['p99_ms']:.3f} / {p['p99_ms']:.3f}"
        out.append([
            name,
            fmt(d.get("median_ms")),
            fmt(p.get("median_ms")),
            fmt(d_sps, 1),
            fmt(p_sps, 1),
            fmt(speedup, 2),
            p99 or DASH,
        ] + ([f"{min(d['speedups']):.2f}–{max(d['speedups']):.2f}" if "speedups" in d else DASH]
             if any("speedups" in r for r in distill.values()) else []))
    return out


HEADER = ["workload", "distill ms", "pytorch ms", "distill samples/s", "pytorch samples/s",
          "speed-up", "p99 ms (distill / pytorch)"]


def text_table(header, body):
    widths = [max(len(str(r[i])) for r in [header] + body) for i in range(len(header))]
    lines = []
    for r in [header] + body:
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in
                 enumerate(zip(r, widths))]
        lines.append("  ".join(cells))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(header, body):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in body]
    return "\n".join(lines)


def targets(distill, pytorch):
    """``[target, value, met/missed]`` for each target whose workloads are present."""
    out = []

    def speedup(name):
        if name in distill and "speedup" in distill[name]:
            return distill[name]["speedup"]
        if name in distill and name in pytorch:
            return distill[name]["samples_per_s"] / pytorch[name]["samples_per_s"]
        return None

    for name, goal in [("mlp_kd_train_b128", 1.2), ("cnn_kd_train_b128", 1.0)]:
        s = speedup(name)
        if s is not None:
            out.append([f"{name} speed-up >= {goal}", f"{s:.2f}", "met" if s >= goal else "missed"])
    name = "mlp_infer_b1"
    if name in distill and name in pytorch:
        d, p = distill[name]["median_ms"], pytorch[name]["median_ms"]
        out.append([f"{name} median latency distill <= pytorch", f"{d:.3f} vs {p:.3f} ms",
                    "met" if d <= p else "missed"])
    if "epoch_offline_kd" in distill and "epoch_plain" in distill:
        r = distill["epoch_offline_kd"]["median_ms"] / distill["epoch_plain"]["median_ms"]
        out.append(["distill epoch_offline_kd / epoch_plain <= 1.05", f"{r:.3f}",
                    "met" if r <= 1.05 else "missed"])
    return out


def round_path(path, i, rounds):
    """``NAME-rI.json`` for round ``i`` of several, else ``path`` itself."""
    return path if rounds == 1 else path.with_name(f"{path.stem}-r{i}{path.suffix}")


def run_benchmarks(args, distill_out, pytorch_out):
    """Runs distill's and PyTorch's benchmarks, one after the other."""
    distill_out.parent.mkdir(parents=True, exist_ok=True)
    pytorch_out.parent.mkdir(parents=True, exist_ok=True)
    distill_cmd = [str(args.distill_bin), "bench", "--json", str(distill_out)]
    pytorch_cmd = [sys.executable, str(HERE / "pytorch" / "bench_kd.py"),
                   "--threads", str(args.threads), "--json", str(pytorch_out)]
    for cmd in (distill_cmd, pytorch_cmd):
        if args.quick:
            cmd.append("--quick")
        if args.only:
            cmd += ["--only", args.only]
    distill_cmd += shlex.split(args.distill_args)
    # distill computes on burn's rayon pool: give it the same number of threads.
    distill_env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    for cmd, env in ((distill_cmd, distill_env), (pytorch_cmd, None)):
        print("$ " + shlex.join(cmd), flush=True)
        subprocess.run(cmd, check=True, env=env)
    print()


def main():
    ap = argparse.ArgumentParser(description="Compare distill bench with the PyTorch reference.")
    ap.add_argument("--distill", type=Path, nargs="+",
                    help="distill bench JSON (several: one per round, paired with --pytorch)")
    ap.add_argument("--pytorch", type=Path, nargs="+",
                    help="bench/pytorch/bench_kd.py JSON (as many as --distill)")
    ap.add_argument("--markdown", type=Path, help="also write the table(s) as Markdown here")
    ap.add_argument("--targets", action="store_true", help="check the performance targets")
    ap.add_argument("--run", action="store_true", help="run both benchmarks first")
    ap.add_argument("--distill-bin", type=Path, default=Path("target/release/distill"))
    ap.add_argument("--distill-args", default="",
                    help="extra arguments for `distill bench` with --run (one string)")
    ap.add_argument("--threads", type=int, default=2,
                    help="threads of both sides with --run (distill: RAYON_NUM_THREADS)")
    ap.add_argument("--quick", action="store_true", help="--quick for both sides with --run")
    ap.add_argument("--only", help="--only NAME[,NAME] for both sides with --run")
    ap.add_argument("--rounds", type=int, default=1,
                    help="with --run: alternate distill and PyTorch this many times")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")

    if args.run:
        if len(args.distill or []) > 1 or len(args.pytorch or []) > 1:
            ap.error("with --run give one --distill and one --pytorch path")
        d_path = (args.distill or [Path("bench/out/distill.json")])[0]
        p_path = (args.pytorch or [Path("bench/out/pytorch.json")])[0]
        args.distill = [round_path(d_path, i, args.rounds) for i in range(1, args.rounds + 1)]
        args.pytorch = [round_path(p_path, i, args.rounds) for i in range(1, args.rounds + 1)]
        for d_out, p_out in zip(args.distill, args.pytorch):
            run_benchmarks(args, d_out, p_out)
    elif not (args.distill and args.pytorch):
        ap.error("give --distill and --pytorch JSON files, or --run")
    if len(args.distill) != len(args.pytorch):
        ap.error("give as many --pytorch files as --distill files (one pair per round)")

    loaded = [(load(d), load(p)) for d, p in zip(args.distill, args.pytorch)]
    (d_report, _), (p_report, _) = loaded[0]
    distill, pytorch = merge_rounds([(d[1], p[1]) for d, p in loaded])
    title = (f"distill ({d_report.get('threads', '?')} threads) vs "
             f"{p_report.get('framework', 'pytorch')} ({p_report.get('threads', '?')} threads)")
    if len(loaded) > 1:
        title += f", medians of {len(loaded)} alternating rounds"
    if d_report.get("threads") != p_report.get("threads"):
        title += "  [WARNING: thread counts differ]"
    body = rows(distill, pytorch)
    header = HEADER + (["speed-up range"] if len(loaded) > 1 else [])
    print(title)
    print(text_table(header, body))
    md = [f"**{title}**", "", markdown_table(header, body)]

    if args.targets:
        t_header = ["target", "value", "status"]
        t_body = targets(distill, pytorch)
        print()
        print(text_table(t_header, t_body) if t_body else "no target workloads present")
        md += ["", "**Targets**", "", markdown_table(t_header, t_body)]

    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join(md) + "\n")
        print(f"\nwrote {args.markdown}")


if __name__ == "__main__":
    main()
