#!/usr/bin/env python3
"""PyTorch baseline for the fused YOLOv8n float forward pass.

Our own minimal eager-mode definition of YOLOv8 detect (conv+bias, SiLU, C2f, SPPF,
nearest upsample, concat, Detect with DFL decode), built from the tensor shapes of a fused
safetensors checkpoint, so it does the same work as `yoloq-gen bench` and nothing more.

It checks its output once before timing:
  * against the Ultralytics reference output (`--reference`, bus.jpg at 640), and
  * against the Rust forward output dumped by `yoloq-gen bench --dump FILE` (`--rust`),
then times `--runs` forward passes with `torch.set_num_threads(--threads)` and prints
    torch forward HxW (T threads): median X ms, min Y ms, max Z ms over N runs
Needs torch and numpy (Debian: python3-torch, python3-numpy); safetensors is read by hand.
"""

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import safetensors_np


def read_safetensors(path):
    """Name -> float32 torch tensor."""
    return {k: torch.from_numpy(v) for k, v in safetensors_np.read(path).items()}


class Model:
    """YOLOv8 detect, fused (every Conv block is conv with bias + SiLU)."""

    def __init__(self, t):
        self.t = t

    def conv(self, x, prefix, stride=1, act=True):
        w = self.t[prefix + ".weight"]
        y = F.conv2d(x, w, self.t[prefix + ".bias"], stride, w.shape[2] // 2)
        return F.silu(y) if act else y

    def block(self, x, prefix, stride=1):
        return self.conv(x, prefix + ".conv", stride)

    def c2f(self, x, prefix, shortcut):
        y = self.block(x, prefix + ".cv1")
        ys = list(y.chunk(2, 1))
        i = 0
        while f"{prefix}.m.{i}.cv1.conv.weight" in self.t:
            cur = ys[-1]
            b = self.block(self.block(cur, f"{prefix}.m.{i}.cv1"), f"{prefix}.m.{i}.cv2")
            ys.append(cur + b if shortcut else b)
            i += 1
        return self.block(torch.cat(ys, 1), prefix + ".cv2")

    def sppf(self, x, prefix):
        y = [self.block(x, prefix + ".cv1")]
        for _ in range(3):
            y.append(F.max_pool2d(y[-1], 5, 1, 2))
        return self.block(torch.cat(y, 1), prefix + ".cv2")

    def detect(self, feats):
        strides = (8, 16, 32)
        reg_max = self.t["model.22.dfl.conv.weight"].shape[1]
        boxes, scores, anchors, stride_col = [], [], [], []
        for i, x in enumerate(feats):
            b = x
            c = x
            for j in range(2):
                b = self.block(b, f"model.22.cv2.{i}.{j}")
                c = self.block(c, f"model.22.cv3.{i}.{j}")
            b = self.conv(b, f"model.22.cv2.{i}.2", act=False)
            c = self.conv(c, f"model.22.cv3.{i}.2", act=False)
            _, _, h, w = x.shape
            boxes.append(b.flatten(2))
            scores.append(c.flatten(2))
            sy, sx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
            anchors.append(torch.stack((sx, sy), 0).reshape(2, -1))
            stride_col.append(torch.full((1, h * w), float(strides[i])))
        box = torch.cat(boxes, 2)  # (1, 4*reg_max, N)
        n = box.shape[2]
        # DFL: softmax over the bins, expectation with the fixed 0..reg_max-1 projection.
        proj = self.t["model.22.dfl.conv.weight"].reshape(1, reg_max, 1)
        p = box.view(1, 4, reg_max, n).transpose(2, 1).softmax(1)  # (1, reg_max, 4, N)
        dist = (p * proj.unsqueeze(2)).sum(1)  # (1, 4, N)
        anchor = torch.cat(anchors, 1).unsqueeze(0)
        lt, rb = dist.chunk(2, 1)
        x1y1, x2y2 = anchor - lt, anchor + rb
        xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * torch.cat(stride_col, 1)
        return torch.cat((xywh, torch.cat(scores, 2).sigmoid()), 1)

    def __call__(self, x):
        m = {}
        m[0] = self.block(x, "model.0", 2)
        m[1] = self.block(m[0], "model.1", 2)
        m[2] = self.c2f(m[1], "model.2", True)
        m[3] = self.block(m[2], "model.3", 2)
        m[4] = self.c2f(m[3], "model.4", True)
        m[5] = self.block(m[4], "model.5", 2)
        m[6] = self.c2f(m[5], "model.6", True)
        m[7] = self.block(m[6], "model.7", 2)
        m[8] = self.c2f(m[7], "model.8", True)
        m[9] = self.sppf(m[8], "model.9")
        m[10] = F.interpolate(m[9], scale_factor=2, mode="nearest")
        m[12] = self.c2f(torch.cat((m[10], m[6]), 1), "model.12", False)
        m[13] = F.interpolate(m[12], scale_factor=2, mode="nearest")
        m[15] = self.c2f(torch.cat((m[13], m[4]), 1), "model.15", False)
        m[16] = self.block(m[15], "model.16", 2)
        m[18] = self.c2f(torch.cat((m[16], m[12]), 1), "model.18", False)
        m[19] = self.block(m[18], "model.19", 2)
        m[21] = self.c2f(torch.cat((m[19], m[9]), 1), "model.21", False)
        return self.detect([m[15], m[18], m[21]])


def compare(name, ours, want):
    ours, want = ours.reshape(want.shape), want
    box = (ours[:, :4] - want[:, :4]).abs().max().item()
    cls = (ours[:, 4:] - want[:, 4:]).abs().max().item()
    print(f"check vs {name}: max |diff| boxes {box:.2e} px, scores {cls:.2e}")
    return box, cls


def main():
    data = os.environ.get("YOLOQ_DATA_DIR", "")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(data, "models/yolov8n-coco-fused.safetensors"))
    ap.add_argument("--reference", default=os.path.join(data, "reference/yolov8n-real-fused.bus640.output.safetensors"))
    ap.add_argument("--rust", help="safetensors with `input` and `output` from `yoloq-gen bench --dump`")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    for path, what in ((a.model, "--model"), (a.reference, "--reference")):
        if not os.path.isfile(path):
            sys.exit(f"{what} {path!r} not found; set YOLOQ_DATA_DIR or pass {what}")
    torch.set_num_threads(a.threads)
    model = Model(read_safetensors(a.model))
    with torch.inference_mode():
        failed = False
        ref = read_safetensors(a.reference)
        box, cls = compare("Ultralytics reference", model(ref["input"]), ref["output"])
        failed |= box > 0.05 or cls > 1e-3
        if a.rust:
            rust = read_safetensors(a.rust)
            box, cls = compare("Rust forward", model(rust["input"].unsqueeze(0)), rust["output"].unsqueeze(0))
            failed |= box > 0.05 or cls > 1e-3
        if failed:
            sys.exit("outputs disagree: the baseline is not computing the same network")
        x = torch.rand(1, 3, a.imgsz, a.imgsz)
        for _ in range(2):
            model(x)
        ms = []
        for _ in range(max(1, a.runs)):
            t = time.perf_counter()
            model(x)
            ms.append((time.perf_counter() - t) * 1e3)
    print(
        f"torch forward {a.imgsz}x{a.imgsz} ({torch.get_num_threads()} threads): "
        f"median {statistics.median(ms):.1f} ms, min {min(ms):.1f} ms, max {max(ms):.1f} ms over {len(ms)} runs"
    )


if __name__ == "__main__":
    main()
