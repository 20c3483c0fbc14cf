//! Integer post-processing (`--qnms`): DFL by an exp table and one integer division per box
//! side, integer box decode, class-score threshold on the logit codes, sigmoid table for the
//! reported score, and class-aware NMS whose IoU test is a cross-multiplication (no division).

use super::spec::QFormat;
use super::{HeadMode, QNode, QuantConfig};
use crate::error::{Error, Result};
use crate::graph::DetectHead;
use ndarray::Array3;
use serde::Serialize;

/// Fraction bits of DFL distances and decoded coordinates.
pub const DIST_FRAC: u32 = 4;
/// Fraction bits of exp/sigmoid table entries.
pub const TABLE_FRAC: u32 = 15;
/// IoU threshold denominator: `iou > n / IOU_DEN` is tested as `inter * IOU_DEN > n * union`.
pub const IOU_DEN: i64 = 1000;

/// Tables for one head level.
#[derive(Clone, Debug, Serialize)]
pub struct LevelTables {
    pub stride: usize,
    pub box_fmt: QFormat,
    pub cls_fmt: QFormat,
    /// `exp[d] = round(2^15 * exp(-d * box_scale))`, for `d = max - q` in `0..=qmax`.
    pub exp: Vec<i32>,
    /// `sigmoid[q] = round(2^15 * sigmoid((q - zero) * cls_scale))`.
    pub sigmoid: Vec<i32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct QnmsTables {
    pub levels: Vec<LevelTables>,
}

impl QnmsTables {
    pub fn new(nodes: &[QNode], head: &DetectHead, cfg: &QuantConfig) -> Result<Self> {
        if cfg.head != HeadMode::Int {
            return Err(Error::arg(
                "--qnms",
                "the quantized NMS needs the integer head; use --head int or drop --qnms",
            ));
        }
        let one = (1i64 << TABLE_FRAC) as f64;
        let levels = (0..head.strides.len())
            .map(|l| {
                let bf = nodes[head.box_nodes[l]].fmt.expect("int head");
                let cf = nodes[head.cls_nodes[l]].fmt.expect("int head");
                LevelTables {
                    stride: head.strides[l],
                    box_fmt: bf,
                    cls_fmt: cf,
                    exp: (0..=bf.qmax())
                        .map(|d| (one * (-(d as f64) * bf.scale).exp()).round() as i32)
                        .collect(),
                    sigmoid: (0..=cf.qmax())
                        .map(|q| {
                            (one / (1.0 + (-((q - cf.zero) as f64) * cf.scale).exp())).round()
                                as i32
                        })
                        .collect(),
                }
            })
            .collect();
        Ok(QnmsTables { levels })
    }
}

/// One detection from the integer post-processing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntDet {
    /// Input-pixel coordinates with [`DIST_FRAC`] fraction bits.
    pub xyxy: [i64; 4],
    /// Sigmoid score with [`TABLE_FRAC`] fraction bits.
    pub score: i32,
    pub cls: usize,
    pub anchor: usize,
}

impl IntDet {
    pub fn xyxy_f32(&self) -> [f32; 4] {
        self.xyxy.map(|v| v as f32 / (1 << DIST_FRAC) as f32)
    }
    pub fn conf(&self) -> f32 {
        self.score as f32 / (1 << TABLE_FRAC) as f32
    }
}

/// DFL distance of one side in `1/2^DIST_FRAC` grid cells: `round(sum(i*e_i) / sum(e_i))`.
pub fn dfl_side(codes: &[i32], exp: &[i32]) -> i64 {
    let m = *codes.iter().max().expect("bins");
    let (mut num, mut den) = (0i64, 0i64);
    for (i, &q) in codes.iter().enumerate() {
        let e = exp[(m - q) as usize] as i64;
        num += i as i64 * e;
        den += e;
    }
    ((num << DIST_FRAC) + den / 2) / den
}

/// Smallest logit code that passes `conf`: keep `q >= threshold`.
pub fn class_threshold(f: &QFormat, conf: f32) -> i32 {
    let c = (conf as f64).clamp(1e-9, 1.0 - 1e-9);
    let logit = (c / (1.0 - c)).ln();
    (f.zero as f64 + logit / f.scale).floor() as i32 + 1
}

/// Run the integer post-processing on per-level box and class code tensors.
#[allow(clippy::too_many_arguments)]
pub fn postprocess(
    t: &QnmsTables,
    reg_max: usize,
    boxes: &[&Array3<i32>],
    classes: &[&Array3<i32>],
    conf: f32,
    iou: f32,
    max_det: usize,
    multi_label: bool,
) -> Vec<IntDet> {
    let cands = candidates(t, reg_max, boxes, classes, conf, multi_label);
    nms(cands, iou_num(iou), max_det)
}

/// The IoU threshold as the numerator over [`IOU_DEN`].
pub fn iou_num(iou: f32) -> i64 {
    (iou as f64 * IOU_DEN as f64).round() as i64
}

/// Thresholded, decoded candidates in NMS order: highest score first, ties in anchor/class
/// order, at most 30,000.
pub fn candidates(
    t: &QnmsTables,
    reg_max: usize,
    boxes: &[&Array3<i32>],
    classes: &[&Array3<i32>],
    conf: f32,
    multi_label: bool,
) -> Vec<IntDet> {
    let mut cands: Vec<IntDet> = Vec::new();
    let mut anchor = 0;
    for (l, lt) in t.levels.iter().enumerate() {
        let (b, c) = (boxes[l], classes[l]);
        let (nc, h, w) = c.dim();
        let thr = class_threshold(&lt.cls_fmt, conf);
        let sh = lt.stride.trailing_zeros();
        for y in 0..h {
            for x in 0..w {
                let passing: Vec<usize> = if multi_label {
                    (0..nc).filter(|&k| c[[k, y, x]] >= thr).collect()
                } else {
                    let best =
                        (0..nc).fold(0, |bk, k| if c[[k, y, x]] > c[[bk, y, x]] { k } else { bk });
                    if c[[best, y, x]] >= thr {
                        vec![best]
                    } else {
                        vec![]
                    }
                };
                if !passing.is_empty() {
                    let d: Vec<i64> = (0..4)
                        .map(|s| {
                            let codes: Vec<i32> =
                                (0..reg_max).map(|i| b[[s * reg_max + i, y, x]]).collect();
                            dfl_side(&codes, &lt.exp)
                        })
                        .collect();
                    let half = 1i64 << (DIST_FRAC - 1);
                    let (ax, ay) = (
                        ((x as i64) << DIST_FRAC) + half,
                        ((y as i64) << DIST_FRAC) + half,
                    );
                    let xyxy = [
                        (ax - d[0]) << sh,
                        (ay - d[1]) << sh,
                        (ax + d[2]) << sh,
                        (ay + d[3]) << sh,
                    ];
                    for k in passing {
                        cands.push(IntDet {
                            xyxy,
                            score: lt.sigmoid[c[[k, y, x]] as usize],
                            cls: k,
                            anchor,
                        });
                    }
                }
                anchor += 1;
            }
        }
    }
    // Highest score first; ties keep anchor/class order (stable sort).
    cands.sort_by_key(|c| std::cmp::Reverse(c.score));
    cands.truncate(30_000);
    cands
}

fn area(b: &[i64; 4]) -> i64 {
    (b[2] - b[0]).max(0) * (b[3] - b[1]).max(0)
}

/// Whether kept box `k` suppresses candidate `c`: same class and
/// `inter * IOU_DEN > iou_num * union`.
pub fn suppresses(k: &IntDet, c: &IntDet, iou_num: i64) -> bool {
    if k.cls != c.cls {
        return false;
    }
    let iw = (k.xyxy[2].min(c.xyxy[2]) - k.xyxy[0].max(c.xyxy[0])).max(0);
    let ih = (k.xyxy[3].min(c.xyxy[3]) - k.xyxy[1].max(c.xyxy[1])).max(0);
    let inter = iw * ih;
    let union = area(&k.xyxy) + area(&c.xyxy) - inter;
    inter as i128 * IOU_DEN as i128 > iou_num as i128 * union as i128
}

/// Class-aware greedy NMS over candidates in score order; stops at `max_det` kept boxes.
pub fn nms(cands: Vec<IntDet>, iou_num: i64, max_det: usize) -> Vec<IntDet> {
    nms_steps(&cands, iou_num, max_det, |_| {})
}

/// One decision of the greedy NMS: the candidate was compared with `kept_before` kept boxes
/// and kept or suppressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NmsStep {
    pub kept_before: usize,
    pub keep: bool,
}

/// The greedy NMS ([`nms`]), reporting every decision in order to `on` (the hardware's cycle
/// schedule replays them); returns the kept boxes.
pub fn nms_steps(
    cands: &[IntDet],
    iou_num: i64,
    max_det: usize,
    mut on: impl FnMut(NmsStep),
) -> Vec<IntDet> {
    let mut keep: Vec<IntDet> = Vec::new();
    for c in cands {
        let kept_before = keep.len();
        let suppressed = keep.iter().any(|k| suppresses(k, c, iou_num));
        on(NmsStep {
            kept_before,
            keep: !suppressed,
        });
        if !suppressed {
            keep.push(c.clone());
            if keep.len() == max_det {
                break;
            }
        }
    }
    keep
}
