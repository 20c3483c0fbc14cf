//! Confidence filter, class-aware NMS and box rescaling identical to Ultralytics
//! `ops.non_max_suppression` and `ops.scale_boxes` (detection models, one image).
//!
//! Guarantees for a raw Detect output of shape `(4 + nc, N)` (rows `cx, cy, w, h` in input
//! pixels, then sigmoid class scores):
//! - an anchor is a candidate when its best class score is `> conf_thres` (compared in f32,
//!   as torch compares a float32 tensor with a Python float);
//! - `multi_label` (used by val, only when `nc > 1`) yields one candidate per (anchor, class)
//!   with score `> conf_thres`, in anchor-major order; otherwise the first best class;
//! - boxes are `xywh → xyxy` in f32 (`cx ∓ w / 2`); if there are more than [`MAX_NMS`]
//!   candidates only the highest-scoring [`MAX_NMS`] (stable order) are kept;
//! - class-aware NMS shifts all four coordinates by `cls * MAX_WH` (f32) and runs torchvision
//!   `nms` (see [`nms`]); `agnostic` shifts by 0; the kept detections are in decreasing
//!   confidence order, truncated to `max_det`, with the unshifted boxes.

mod nms;

pub use nms::nms;

use ndarray::ArrayView2;

/// Maximum number of boxes handed to NMS (Ultralytics `max_nms`).
pub const MAX_NMS: usize = 30_000;
/// Per-class coordinate offset for class-aware NMS (Ultralytics `max_wh`).
pub const MAX_WH: f32 = 7680.0;

/// One detected object.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// Box corners `[x1, y1, x2, y2]` (input pixels after NMS, original pixels after scaling).
    pub xyxy: [f32; 4],
    /// Class confidence.
    pub conf: f32,
    /// Class index.
    pub cls: usize,
}

/// torch `amax` over one anchor's class scores: NaN propagates (and then fails `> conf`).
fn amax(scores: impl Iterator<Item = f32>) -> f32 {
    scores.fold(f32::NEG_INFINITY, |m, s| {
        if s.is_nan() || m.is_nan() {
            f32::NAN
        } else {
            m.max(s)
        }
    })
}

/// Ultralytics `non_max_suppression` for one image's raw output `pred` of shape `(4 + nc, N)`.
///
/// Thresholds are Python-style: `conf_thres` is compared in f32, `iou_thres` in f64 (as
/// torchvision receives a C++ double). Returns an empty list when `pred` has no class rows.
pub fn non_max_suppression(
    pred: ArrayView2<f32>,
    conf_thres: f32,
    iou_thres: f64,
    max_det: usize,
    agnostic: bool,
    multi_label: bool,
) -> Vec<Detection> {
    let (rows, n) = pred.dim();
    if rows <= 4 {
        return Vec::new();
    }
    let nc = rows - 4;
    let multi_label = multi_label && nc > 1;
    let mut cands: Vec<Detection> = Vec::new();
    for a in 0..n {
        let col = pred.column(a);
        let scores = col.slice(ndarray::s![4..]);
        let best = amax(scores.iter().copied());
        if best.is_nan() || best <= conf_thres {
            continue;
        }
        let (cx, cy, hw, hh) = (col[0], col[1], col[2] / 2.0, col[3] / 2.0);
        let xyxy = [cx - hw, cy - hh, cx + hw, cy + hh];
        if multi_label {
            for (cls, &conf) in scores.iter().enumerate() {
                if conf > conf_thres {
                    cands.push(Detection { xyxy, conf, cls });
                }
            }
        } else {
            // First index of the maximum, like torch.max(dim) on CPU.
            let (cls, conf) = scores
                .iter()
                .enumerate()
                .fold(
                    (0, scores[0]),
                    |best, (c, &s)| {
                        if s > best.1 {
                            (c, s)
                        } else {
                            best
                        }
                    },
                );
            cands.push(Detection { xyxy, conf, cls });
        }
    }
    if cands.len() > MAX_NMS {
        cands.sort_by(|a, b| b.conf.total_cmp(&a.conf));
        cands.truncate(MAX_NMS);
    }
    let offset_boxes: Vec<[f32; 4]> = cands
        .iter()
        .map(|d| {
            let c = d.cls as f32 * if agnostic { 0.0 } else { MAX_WH };
            d.xyxy.map(|v| v + c)
        })
        .collect();
    let scores: Vec<f32> = cands.iter().map(|d| d.conf).collect();
    let mut keep = nms(&offset_boxes, &scores, iou_thres);
    keep.truncate(max_det);
    keep.into_iter().map(|i| cands[i]).collect()
}

/// Python's `round` (half to even) of a float that fits an integer.
fn py_round(x: f64) -> f64 {
    x.round_ties_even()
}

/// Map boxes from a letterboxed `input_hw` back to an `orig_hw` image exactly as Ultralytics
/// predict does (`scale_boxes` without `ratio_pad`): it recomputes
/// `gain = min(h1 / h0, w1 / w0)` and `pad = (round((w1 - w0 gain) / 2 - 0.1), round((h1 -
/// h0 gain) / 2 - 0.1))` from the shapes, subtracts the pad, divides by the gain (in f32) and
/// clips to the image.
pub fn scale_boxes(dets: &mut [Detection], input_hw: (usize, usize), orig_hw: (usize, usize)) {
    let (h1, w1) = (input_hw.0 as f64, input_hw.1 as f64);
    let (h0, w0) = (orig_hw.0 as f64, orig_hw.1 as f64);
    let gain = (h1 / h0).min(w1 / w0);
    let pad_x = py_round((w1 - w0 * gain) / 2.0 - 0.1);
    let pad_y = py_round((h1 - h0 * gain) / 2.0 - 0.1);
    scale_boxes_ratio_pad(dets, gain as f32, (pad_x as f32, pad_y as f32), orig_hw);
}

/// `scale_boxes` with an explicit `ratio_pad` (as val passes it): subtract `pad` = (left, top),
/// divide by `gain` (f32), clip x to `[0, w0]` and y to `[0, h0]`.
pub fn scale_boxes_ratio_pad(
    dets: &mut [Detection],
    gain: f32,
    pad: (f32, f32),
    orig_hw: (usize, usize),
) {
    let (h0, w0) = (orig_hw.0 as f32, orig_hw.1 as f32);
    for d in dets {
        let b = &mut d.xyxy;
        for (k, v) in b.iter_mut().enumerate() {
            let (p, hi) = if k % 2 == 0 { (pad.0, w0) } else { (pad.1, h0) };
            *v = ((*v - p) / gain).clamp(0.0, hi);
        }
    }
}
