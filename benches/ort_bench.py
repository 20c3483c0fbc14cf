#!/usr/bin/env python3
"""ONNX Runtime timing of the YOLOv8n ONNX models (float, and the int8 QDQ one).

Times `--runs` forward passes (after two warm-ups) of each `--model` on a fixed 1x3xSxS
input with `--threads` intra-op threads (one inter-op thread, ONNX Runtime's default graph
optimizations, CPU execution provider) and prints, per model,
    ort <label> forward SxS (T threads): median X ms, min Y ms, max Z ms over N runs
With `--rust FILE` (`yoloq-gen bench --dump FILE`) it first runs every model on the dumped
input and prints the largest difference from our float output (boxes in pixels, scores):
the float model must agree (it exits non-zero otherwise); the int8 one is informative.
Needs onnxruntime and numpy (benches/vs_onnxruntime.sh installs them in a venv).
"""

import argparse
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

import safetensors_np


def session(path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, help="LABEL=PATH.onnx (repeatable)")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rust", help="safetensors with `input` and `output` from `yoloq-gen bench --dump`")
    ap.add_argument("--strict", help="label of the model that must agree with --rust")
    a = ap.parse_args()
    models = []
    for spec in a.model:
        label, sep, path = spec.partition("=")
        if not sep:
            sys.exit(f"--model {spec!r}: expected LABEL=PATH.onnx")
        try:
            models.append((label, session(path, a.threads)))
        except Exception as e:  # onnxruntime raises its own exception types
            sys.exit(f"--model {path!r}: cannot load ({e}); check the path")
    if a.rust:
        dump = safetensors_np.read(a.rust)
        x, want = dump["input"][None], dump["output"]
        for label, s in models:
            got = s.run(None, {s.get_inputs()[0].name: x})[0].reshape(want.shape)
            box = float(np.abs(got[:4] - want[:4]).max())
            cls = float(np.abs(got[4:] - want[4:]).max())
            print(f"check {label} vs yoloq-gen float: max |diff| boxes {box:.2e} px, scores {cls:.2e}")
            if label == a.strict and (box > 0.05 or cls > 1e-3):
                sys.exit(f"{label} disagrees with yoloq-gen's float output: not the same network")
    rng = np.random.default_rng(0)
    x = rng.random((1, 3, a.imgsz, a.imgsz), dtype=np.float32)
    for label, s in models:
        feed = {s.get_inputs()[0].name: x}
        for _ in range(2):
            s.run(None, feed)
        ms = []
        for _ in range(max(1, a.runs)):
            t = time.perf_counter()
            s.run(None, feed)
            ms.append((time.perf_counter() - t) * 1e3)
        print(
            f"ort {label} forward {a.imgsz}x{a.imgsz} ({a.threads} threads): median "
            f"{statistics.median(ms):.1f} ms, min {min(ms):.1f} ms, max {max(ms):.1f} ms over {len(ms)} runs"
        )


if __name__ == "__main__":
    main()
