#!/usr/bin/env bash
# Side-by-side timing at 640x640, alternating in one script run so that every side sees the
# same machine load: `yoloq-gen bench` (float forward, and the bit-exact integer model with
# --quant) against ONNX Runtime on the same network (yolov8n-coco.onnx, float, Detect decode
# included; yolov8n-coco-int8-qdq.onnx, static QDQ int8) and, when python3-torch is there,
# our PyTorch definition of it (benches/torch_baseline.py). Every side uses 2 threads.
# Prints every round, then the median of each side's per-round medians and their ratios, and
# the median of the per-round ratios.
#
#   YOLOQ_DATA_DIR=/path/to/shared benches/vs_onnxruntime.sh [ROUNDS=5] [RUNS=11]
#
# Needs a release build (cargo build --release). ONNX Runtime and numpy come from PyPI into a
# venv of this script's own (ORT_VENV, default target/ort-venv; PYTHON picks the interpreter
# that creates it). QUANT_DIR reuses a `yoloq-gen quantize` output; without it the script
# quantizes W8A8 with the defaults (8 calibration images) into a temporary directory.
# TORCH_PY is the interpreter with torch (default /usr/bin/python3); NO_TORCH=1 skips it.
set -euo pipefail
ROUNDS=${1:-5}
RUNS=${2:-11}
IMGSZ=640 # the ONNX models have a fixed 1x3x640x640 input
THREADS=2
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bin=${YOLOQ_BIN:-$root/target/release/yoloq-gen}
: "${YOLOQ_DATA_DIR:?set YOLOQ_DATA_DIR to the shared data directory}"
models=$YOLOQ_DATA_DIR/models
fused=$models/yolov8n-coco-fused.safetensors
for f in "$fused" "$models/yolov8n-coco.onnx" "$models/yolov8n-coco-int8-qdq.onnx"; do
    [ -f "$f" ] || { echo "$f not found: check YOLOQ_DATA_DIR" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "$bin not found: run cargo build --release first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

venv=${ORT_VENV:-$root/target/ort-venv}
if ! "$venv/bin/python" -c 'import onnxruntime, numpy' 2>/dev/null; then
    echo "installing onnxruntime + numpy into $venv"
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/pip" install --quiet onnxruntime numpy
fi
echo "onnxruntime $("$venv/bin/python" -c 'import onnxruntime; print(onnxruntime.__version__)')"

torch_py=${TORCH_PY:-/usr/bin/python3}
torch=1
if [ -n "${NO_TORCH:-}" ] || ! "$torch_py" -c 'import torch, numpy' 2>/dev/null; then
    torch=0
    echo "(no torch for $torch_py: the PyTorch column is skipped; Debian: python3-torch)"
fi

quant=${QUANT_DIR:-}
if [ -z "$quant" ]; then
    quant=$tmp/quant
    echo "quantizing W8A8 (defaults, 8 calibration images) into $quant"
    "$bin" quantize --model "$models/yolov8n-coco-synthbn.pt" --bits 8 \
        --calib "$YOLOQ_DATA_DIR/data/coco128/images/train2017" --calib-images 8 \
        --out "$quant" >/dev/null
fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Same network: our float output on the bench input against ONNX Runtime's (and torch's).
"$bin" bench --model "$fused" --imgsz "$IMGSZ" --runs 1 --dump "$tmp/rust.safetensors" >/dev/null
ort=("$venv/bin/python" "$here/ort_bench.py" --threads "$THREADS" --imgsz "$IMGSZ"
    --model "float=$models/yolov8n-coco.onnx" --model "int8=$models/yolov8n-coco-int8-qdq.onnx")
"${ort[@]}" --rust "$tmp/rust.safetensors" --strict float --runs 1 | grep '^check'
tcmd=(env OMP_WAIT_POLICY=PASSIVE "$torch_py" "$here/torch_baseline.py" --model "$fused"
    --imgsz "$IMGSZ" --threads "$THREADS")
[ "$torch" = 1 ] && "${tcmd[@]}" --rust "$tmp/rust.safetensors" --runs 1 | grep '^check'

ms() { sed -E 's/.*median ([0-9.]+) ms.*/\1/'; }
for r in $(seq 1 "$ROUNDS"); do
    out=$("$bin" bench --model "$fused" --quant "$quant" --imgsz "$IMGSZ" --runs "$RUNS")
    f=$(grep '^float' <<<"$out" | ms)
    i=$(grep '^integer forward' <<<"$out" | ms)
    out=$("${ort[@]}" --runs "$RUNS")
    of=$(grep '^ort float' <<<"$out" | ms)
    oi=$(grep '^ort int8' <<<"$out" | ms)
    t=nan
    [ "$torch" = 1 ] && t=$("${tcmd[@]}" --runs "$RUNS" | grep '^torch' | ms)
    echo "$f $i $of $oi $t" >>"$tmp/rows"
    awk -v r="$r" -v l="$(cut -d' ' -f1 /proc/loadavg)" '{ printf "round %s: ours float %.1f, ours int %.1f, ort float %.1f, ort int8 %.1f, torch %s ms | float/ort %.2f, int/ort-int8 %.2f, int/float %.2f | load %s\n", r, $1, $2, $3, $4, $5, $1 / $3, $2 / $4, $2 / $1, l }' <<<"$f $i $of $oi $t"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
med() { cut -d' ' -f"$1" "$tmp/rows" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
awk -v f="$(med 1)" -v i="$(med 2)" -v of="$(med 3)" -v oi="$(med 4)" -v t="$(med 5)" \
    -v n="$ROUNDS" -v runs="$RUNS" 'BEGIN {
    printf "640x640, %d threads, %d rounds x %d runs, medians of per-round medians:\n", 2, n, runs
    printf "  ours float %.1f ms, ours integer %.1f ms, ort float %.1f ms, ort int8 QDQ %.1f ms, torch %s ms\n", f, i, of, oi, t
    printf "  ours float / ort float   %.2f\n", f / of
    printf "  ours int / ort int8      %.2f\n", i / oi
    printf "  ours int / ours float    %.2f\n", i / f
    printf "  ort int8 / ort float     %.2f\n", oi / of
    if (t != "nan") printf "  ours float / torch       %.2f\n", f / t }'
# The same ratios taken round by round (each round's sides ran back to back), then their median.
awk '{ print $1 / $3, $2 / $4, $2 / $1 }' "$tmp/rows" >"$tmp/ratios"
rmed() { cut -d' ' -f"$1" "$tmp/ratios" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
printf "median of per-round ratios: float/ort %.2f, int/ort-int8 %.2f, int/float %.2f\n" \
    "$(rmed 1)" "$(rmed 2)" "$(rmed 3)"
