#!/usr/bin/env bash
# The measurements of docs/SCALE.md: recording the built-in demo's CNN teacher (9,000 training
# images after the validation split) as N shards by N concurrent local processes, into a local
# folder and into a local S3-compatible server (moto, `pip install 'moto[server]'`).
#   deploy/measure-scale.sh [DISTILL_BINARY]
# Prints one line per case: wall-clock seconds, images per second, store bytes.
set -euo pipefail
BIN=${1:-target/release/distill}
WORK=$(mktemp -d)
PORT=5931
trap 'kill $MOTO 2>/dev/null || true; rm -rf "$WORK"' EXIT
moto_server -H 127.0.0.1 -p $PORT >/dev/null 2>&1 & MOTO=$!
export AWS_ENDPOINT=http://127.0.0.1:$PORT AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=x \
       AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-east-1
sleep 3
curl -s -X PUT "$AWS_ENDPOINT/scale" >/dev/null
grep -v '^objective = "auto"' examples/demo.toml > "$WORK/demo.toml"
printf '\n[objective]\nalpha = 0.5\ntemperature = 4.0\n' >> "$WORK/demo.toml"
"$BIN" train "$WORK/demo.toml" --out "$WORK/out" -q
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
record() { # STORE N THREADS_PER_WORKER
  local start end
  local pids=()
  start=$(date +%s.%N)
  for ((i = 0; i < $2; i++)); do
    RAYON_NUM_THREADS=$3 "$BIN" record "$WORK/demo.toml" --out "$WORK/w$i" \
      --teacher "$WORK/out/teacher.safetensors" --store "$1" --shard "$i/$2" -q >/dev/null 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  end=$(date +%s.%N)
  "$BIN" store verify "$1" >/dev/null
  local bytes
  bytes=$("$BIN" store verify "$1" | sed -n 's/.* \([0-9]*\) bytes.*/\1/p')
  awk -v s="$start" -v e="$end" -v n="$2" -v t="$3" -v b="$bytes" -v st="$1" \
    'BEGIN { printf "%-28s N %d x %d threads: %6.2f s, %7.0f images/s, %d bytes\n", st, n, t, e - s, 9000 / (e - s), b }'
}
for n in 1 2 4; do
  threads=$(( $(nproc) / n )); [ "$threads" -ge 1 ] || threads=1
  record "$WORK/local-$n" "$n" "$threads"
  record "s3://scale/demo-$n" "$n" "$threads"
done
