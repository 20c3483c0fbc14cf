#!/usr/bin/env python3
"""ONNX Runtime timing of the YOLOv8n ONNX models (float, and the int8 QDQ one).

Times `--runs` forward passes (after two warm-ups) of each `--model` on a fixed 1x3xSxS
input with `--threads` intra-op threads (one inter-op thread, ONNX Runtime's default graph
optimizations, CPU execution provider), by default once with spin-waiting worker threads
(ONNX Runtime's default) and once without, and prints, per model, the faster of the two,
    ort <label> forward SxS (T threads, MODE): median X ms, min Y ms, max Z ms over N runs
With `--rust FILE` (`yoloq-gen bench --dump FILE`) it first runs every model on the dumped
input and prints the largest difference from our float output (boxes in pixels, scores).
The ONNX export's weights are not bit-identical to the fused safetensors (on bus.jpg at 640
the ONNX model is up to 4.2 px / 7.3e-3 away from the Ultralytics reference output, with or
without graph optimizations), so `--strict LABEL` only checks that model stays within 8 px /
0.02 (a different network is off by far more); the int8 one is informative.
Needs onnxruntime and numpy (benches/vs_onnxruntime.sh installs them in a venv).
"""

import argparse
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

import safetensors_np


def session(path, threads, spin):
    so = ort.SessionOptions()
    # Spin-waiting worker threads (ONNX Runtime's default) lose whole time slices on a
    # loaded machine; --no-spin turns it off (as OMP_WAIT_POLICY=PASSIVE does for torch).
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
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
    ap.add_argument("--spin", choices=["on", "off", "best"], default="best",
                    help="intra-op threads spin-wait (ONNX Runtime's default), block, or both, "
                    "reporting the faster median (default)")
    ap.add_argument("--strict", help="label of the model that must agree with --rust")
    a = ap.parse_args()
    models = []
    for spec in a.model:
        label, sep, path = spec.partition("=")
        if not sep:
            sys.exit(f"--model {spec!r}: expected LABEL=PATH.onnx")
        try:
            modes = {"on": [True], "off": [False], "best": [True, False]}[a.spin]
            models.append((label, [(m, session(path, a.threads, m)) for m in modes]))
        except Exception as e:  # onnxruntime raises its own exception types
            sys.exit(f"--model {path!r}: cannot load ({e}); check the path")
    if a.rust:
        dump = safetensors_np.read(a.rust)
        x, want = dump["input"][None], dump["output"]
        for label, ss in models:
            s = ss[0][1]
            got = s.run(None, {s.get_inputs()[0].name: x})[0].reshape(want.shape)
            box = float(np.abs(got[:4] - want[:4]).max())
            cls = float(np.abs(got[4:] - want[4:]).max())
            print(f"check {label} vs yoloq-gen float: max |diff| boxes {box:.2e} px, scores {cls:.2e}")
            if label == a.strict and (box > 8.0 or cls > 0.02):
                sys.exit(f"{label} disagrees with yoloq-gen's float output: not the same network")
    rng = np.random.default_rng(0)
    x = rng.random((1, 3, a.imgsz, a.imgsz), dtype=np.float32)
    for label, ss in models:
        best = None
        for spin, s in ss:
            feed = {s.get_inputs()[0].name: x}
            for _ in range(2):
                s.run(None, feed)
            ms = []
            for _ in range(max(1, a.runs)):
                t = time.perf_counter()
                s.run(None, feed)
                ms.append((time.perf_counter() - t) * 1e3)
            r = (statistics.median(ms), min(ms), max(ms), "spin" if spin else "no-spin")
            best = r if best is None or r[0] < best[0] else best
        med, lo, hi, mode = best
        print(
            f"ort {label} forward {a.imgsz}x{a.imgsz} ({a.threads} threads, {mode}): median "
            f"{med:.1f} ms, min {lo:.1f} ms, max {hi:.1f} ms over {a.runs} runs"
        )

if __name__ == "__main__":
    main()
