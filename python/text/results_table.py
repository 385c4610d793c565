"""Print the docs/RESULTS.md text table of one or more distill text runs.

Usage::

    python3 python/text/results_table.py runs/text-20ng-minilm/report.json [...]

Rows: the teacher, the student without KD and the student with KD (test accuracy and macro-F1
as mean ± sample std over the run's student seeds), with parameters, batch-1 latency (p50, on
the test text of median length) and the speed-up over the teacher (batch-1 latency ratio and
throughput ratio). Standard library only.
"""

import json
import sys


def pct(stat):
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"


def main(paths):
    for path in paths:
        r = json.load(open(path))
        m, s = r["models"], r["seed_summary"]
        t = m["teacher"]
        print(f"\n`{path}` ({r['eval_set']}; seeds {r['student_seeds']}; objective: {r['objective']})\n")
        print("| model | params | test accuracy | macro-F1 | agreement | batch-1 p50 ms | texts/s | speed-up (latency / throughput) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        print(
            f"| teacher: {t['architecture']} | {t['params']:,} | {100 * t['accuracy']:.2f} | "
            f"{100 * t['macro_f1']:.2f} | 100 | {t['latency_ms_b1_p50']:.3f} | {t['throughput_per_s']:,.0f} | 1× |"
        )
        for kind, label in [("student_baseline", "no KD"), ("student_kd", "KD")]:
            x = m[kind]
            lat = t["latency_ms_b1_p50"] / x["latency_ms_b1_p50"]
            thr = x["throughput_per_s"] / t["throughput_per_s"]
            print(
                f"| student, {label}: {x['architecture']} | {x['params']:,} (1/{t['params'] / x['params']:.0f}) | "
                f"{pct(s[kind]['accuracy'])} | {pct(s[kind]['macro_f1'])} | {pct(s[kind]['agreement_with_teacher'])} | "
                f"{x['latency_ms_b1_p50']:.3f} | {x['throughput_per_s']:,.0f} | {lat:,.0f}× / {thr:,.0f}× |"
            )
        if r.get("timings"):
            tm = r["timings"]
            print(
                f"\nWall-clock: teacher {tm['teacher_train_s']:.0f} s, recording {tm['record_s']:.1f} s, "
                f"all student runs {tm['students_train_s']:.0f} s."
            )


if __name__ == "__main__":
    main(sys.argv[1:])
