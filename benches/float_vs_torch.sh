#!/usr/bin/env bash
# Side-by-side float forward timing: yoloq-gen (Rust) vs our PyTorch definition of the same
# fused YOLOv8n (benches/torch_baseline.py), alternating ROUNDS times in one script run so that
# both see the same machine load. Prints every round, then the median of each side's medians
# and the ratio Rust / PyTorch.
#
#   YOLOQ_DATA_DIR=/path/to/shared benches/float_vs_torch.sh [ROUNDS=3] [RUNS=11] [IMGSZ=640]
#
# Needs a release build (cargo build --release) and python3 with torch + numpy (Debian:
# python3-torch python3-numpy; PYTHON=... to pick the interpreter). PyTorch runs with
# OMP_WAIT_POLICY=PASSIVE: on a shared 2-core machine, OpenMP's default spin-waiting lets
# one descheduled thread stall the other for whole time slices (medians of seconds).
set -euo pipefail
ROUNDS=${1:-3}
RUNS=${2:-11}
IMGSZ=${3:-640}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bin=${YOLOQ_BIN:-$root/target/release/yoloq-gen}
py=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
: "${YOLOQ_DATA_DIR:?set YOLOQ_DATA_DIR to the shared data directory}"
model=$YOLOQ_DATA_DIR/models/yolov8n-coco-fused.safetensors
[ -x "$bin" ] || { echo "$bin not found: run cargo build --release first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Correctness once: Rust output on the bench input, compared by the torch script.
if "$bin" bench --help | grep -q -- --dump; then
    "$bin" bench --model "$model" --imgsz "$IMGSZ" --runs 1 --dump "$tmp/rust.safetensors" >/dev/null
    rust_check=(--rust "$tmp/rust.safetensors")
else
    rust_check=()
    echo "($bin has no bench --dump: Rust output not compared)"
fi
OMP_WAIT_POLICY=PASSIVE "$py" "$here/torch_baseline.py" --model "$model" --imgsz "$IMGSZ" \
    "${rust_check[@]}" --runs 1 | grep '^check'

median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
for r in $(seq 1 "$ROUNDS"); do
    line=$("$bin" bench --model "$model" --imgsz "$IMGSZ" --runs "$RUNS" | grep '^float')
    echo "round $r rust : $line"
    echo "$line" | sed -E 's/.*median ([0-9.]+) ms.*/\1/' >>"$tmp/rust"
    line=$(OMP_WAIT_POLICY=PASSIVE "$py" "$here/torch_baseline.py" --model "$model" \
        --imgsz "$IMGSZ" --runs "$RUNS" | grep '^torch')
    echo "round $r torch: $line"
    echo "$line" | sed -E 's/.*median ([0-9.]+) ms.*/\1/' >>"$tmp/torch"
    paste "$tmp/rust" "$tmp/torch" | tail -1 | awk '{printf "round ratio rust/torch %.2f\n", $1 / $2}'
done
rust=$(median <"$tmp/rust")
torch=$(median <"$tmp/torch")
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v r="$rust" -v t="$torch" -v n="$ROUNDS" -v s="$IMGSZ" 'BEGIN {
    printf "%sx%s, %d rounds: rust median %.1f ms, torch median %.1f ms, ratio rust/torch %.2f\n", s, s, n, r, t, r / t }'
