//! Per-image, per-category matching, reproducing pycocotools 2.0.x `computeIoU` (bbox,
//! `maskApi.c bbIou`) and `evaluateImg` step for step: detections in stable score order cut
//! to `maxDets[-1]`, ground truths reordered with ignored ones last (stable), greedy matching
//! per IoU threshold with the crowd and ignore rules, and unmatched out-of-range detections
//! ignored. Floating-point operations are performed in the same order as the C/numpy code.

use super::coco_json::{Detection, GtAnnotation};
use std::cmp::Ordering;

/// The ground truths and detections of one (image, category) pair, in file order.
#[derive(Default)]
pub(crate) struct Cell<'a> {
    pub gts: Vec<&'a GtAnnotation>,
    pub dts: Vec<&'a Detection>,
}

/// `evaluateImg` output for one area range.
pub(crate) struct ImgEval {
    /// Scores of the kept detections, highest first.
    pub scores: Vec<f64>,
    /// `[T x D]` row-major: id of the matched ground truth, 0 when unmatched (pycocotools
    /// stores ids, so a ground truth with id 0 counts as unmatched there too).
    pub dtm: Vec<u64>,
    /// `[T x D]` row-major ignore flags.
    pub dt_ig: Vec<bool>,
    /// Ignore flag per ground truth.
    pub gt_ig: Vec<bool>,
}

/// `bbIou` for one pair: intersection over union, or over the detection area for a crowd
/// ground truth. Boxes are `[x, y, w, h]`.
pub fn bbox_iou(d: &[f64; 4], g: &[f64; 4], crowd: bool) -> f64 {
    let ga = g[2] * g[3];
    let da = d[2] * d[3];
    let w = (d[2] + d[0]).min(g[2] + g[0]) - d[0].max(g[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (d[3] + d[1]).min(g[3] + g[1]) - d[1].max(g[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    let u = if crowd { da } else { da + ga - i };
    i / u
}

/// Order of `np.argsort(-score, kind='mergesort')`: descending score, ties in input
/// order, NaN last.
pub(crate) fn score_order(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (false, false) => (-a).partial_cmp(&-b).unwrap_or(Ordering::Equal),
        (x, y) => x.cmp(&y),
    }
}

/// Evaluate one cell for every area range. `max_det` is `maxDets[-1]`.
pub(crate) fn evaluate_cell(
    cell: &Cell,
    iou_thrs: &[f64],
    area_rngs: &[[f64; 2]],
    max_det: usize,
) -> Vec<ImgEval> {
    let mut dts = cell.dts.clone();
    dts.sort_by(|a, b| score_order(a.score, b.score)); // stable, like mergesort
    dts.truncate(max_det);
    let (nd, ng) = (dts.len(), cell.gts.len());
    // ious[d * ng + g], ground truths in file order
    let mut ious = Vec::with_capacity(nd * ng);
    for d in &dts {
        for g in &cell.gts {
            ious.push(bbox_iou(&d.bbox, &g.bbox, g.iscrowd));
        }
    }
    area_rngs
        .iter()
        .map(|rng| evaluate_range(&dts, cell, &ious, iou_thrs, rng))
        .collect()
}

fn out_of(area: f64, rng: &[f64; 2]) -> bool {
    area < rng[0] || area > rng[1]
}

fn evaluate_range(
    dts: &[&Detection],
    cell: &Cell,
    ious: &[f64],
    iou_thrs: &[f64],
    rng: &[f64; 2],
) -> ImgEval {
    let ng = cell.gts.len();
    let ignore: Vec<bool> = cell
        .gts
        .iter()
        .map(|g| g.iscrowd || out_of(g.area, rng))
        .collect();
    // stable argsort of the ignore flags: kept ones first
    let mut gtind: Vec<usize> = (0..ng).collect();
    gtind.sort_by_key(|&i| ignore[i]);
    let gts: Vec<&GtAnnotation> = gtind.iter().map(|&i| cell.gts[i]).collect();
    let gt_ig: Vec<bool> = gtind.iter().map(|&i| ignore[i]).collect();
    let (nt, nd) = (iou_thrs.len(), dts.len());
    let mut dtm = vec![0u64; nt * nd];
    let mut dt_ig = vec![false; nt * nd];
    if !ious.is_empty() {
        let mut gt_taken = vec![false; nt * ng];
        for (t, &thr) in iou_thrs.iter().enumerate() {
            for d in 0..nd {
                let mut best = thr.min(1.0 - 1e-10);
                let mut m: Option<usize> = None;
                for (gi, g) in gts.iter().enumerate() {
                    if gt_taken[t * ng + gi] && !g.iscrowd {
                        continue;
                    }
                    if let Some(mi) = m {
                        if !gt_ig[mi] && gt_ig[gi] {
                            break;
                        }
                    }
                    let iou = ious[d * ng + gtind[gi]];
                    if iou < best {
                        continue;
                    }
                    best = iou;
                    m = Some(gi);
                }
                if let Some(mi) = m {
                    dt_ig[t * nd + d] = gt_ig[mi];
                    dtm[t * nd + d] = gts[mi].id;
                    gt_taken[t * ng + mi] = true;
                }
            }
        }
    }
    for (d, det) in dts.iter().enumerate() {
        if out_of(det.bbox[2] * det.bbox[3], rng) {
            for t in 0..nt {
                if dtm[t * nd + d] == 0 {
                    dt_ig[t * nd + d] = true;
                }
            }
        }
    }
    ImgEval {
        scores: dts.iter().map(|d| d.score).collect(),
        dtm,
        dt_ig,
        gt_ig,
    }
}
