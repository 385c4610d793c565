#!/usr/bin/env bash
# Time-to-student, end to end, on full Fashion-MNIST: distill's offline KD (record the teacher's
# soft labels once, then train the student against them) against PyTorch online KD (the
# teacher run on every batch, as torchdistill and Keras' Distiller do), same machine, same
# threads, same teacher, student, epochs, batch size, optimiser and schedule
# (bench/time_to_student.toml, which is examples/pytorch-teacher.toml with its objective
# fixed, and bench/pytorch/time_to_student.py).
#
#   python examples/pytorch/train_fmnist_teacher.py --out runs/pytorch-teacher/teacher.pth
#   cargo build --release && bench/time_to_student.sh
#
# Both sides start from the trained teacher: distill's `import` (which also checks the
# teacher's accuracy) is not timed, nor is PyTorch's data loading. distill's student time
# includes its per-epoch evaluation on the test set (the monitor set of that experiment);
# PyTorch evaluates once, after training. Writes OUT/time_to_student.json.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DISTILL_BIN:-target/release/distill}
OUT=${OUT:-runs/time-to-student}
EXP=bench/time_to_student.toml   # examples/pytorch-teacher.toml with the objective fixed
THREADS=${THREADS:-2}
export RAYON_NUM_THREADS=$THREADS
rm -rf "$OUT"
"$BIN" -q import "$EXP" --out "$OUT"
t0=$(date +%s.%N)
"$BIN" -q record "$EXP" --out "$OUT"
t1=$(date +%s.%N)
"$BIN" student "$EXP" --out "$OUT" 2> "$OUT/student.log" | tee "$OUT/student.out"
t2=$(date +%s.%N)
python bench/pytorch/time_to_student.py --teacher runs/pytorch-teacher/teacher.pth \
  --epochs 10 --batch-size 128 --lr 0.003 --seed 1 --threads "$THREADS" --json "$OUT/pytorch.json"
python - "$OUT" "$t0" "$t1" "$t2" <<'PY'
import json, re, sys
from pathlib import Path
out, t0, t1, t2 = Path(sys.argv[1]), *map(float, sys.argv[2:])
pt = json.loads((out / "pytorch.json").read_text())
acc = float(re.search(r"accuracy ([0-9.]+)%", (out / "student.out").read_text()).group(1)) / 100
d = {"record_seconds": t1 - t0, "student_seconds": t2 - t1, "total_seconds": t2 - t0,
     "student_test_accuracy": acc}
summary = {"threads": pt["threads"], "distill": d, "pytorch": {
    "train_seconds": pt["train_seconds"], "student_test_accuracy": pt["student_test_accuracy"],
    "teacher_test_accuracy": pt["teacher_test_accuracy"], "framework": pt["framework"]},
    "speedup": pt["train_seconds"] / d["total_seconds"],
    "accuracy_gap_points": 100 * (d["student_test_accuracy"] - pt["student_test_accuracy"])}
(out / "time_to_student.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary, indent=2))
PY
