//! Non-maximum suppression with exactly `torchvision.ops.nms` semantics (CPU kernel).
//!
//! Guarantees: boxes are visited in decreasing score order (stable, so ties keep input order);
//! a box is kept unless an already kept box has IoU > `iou_thres` with it; IoU is computed in
//! f32 as torchvision does, `inter / (area_i + area_j - inter)` with `area = (x2-x1)*(y2-y1)`
//! and `inter = max(0, min(x2) - max(x1)) * max(0, min(y2) - max(y1))`, and compared in f64.
//! The result lists kept indices in decreasing score order.
//!
//! Speed: two boxes whose x-intervals do not overlap have IoU 0 and can never suppress each
//! other (for `iou_thres >= 0`), so the boxes are split into groups of x-overlapping boxes
//! (a sweep over x1) and suppression runs inside each group. With the class offset used by
//! Ultralytics, groups are at most one class wide. The result is identical to the plain
//! O(n²) loop, which is used when a threshold is negative/NaN or a coordinate is not finite.

/// `std::max` as C++ defines it (returns `a` unless `a < b`).
fn cmax(a: f32, b: f32) -> f32 {
    if a < b {
        b
    } else {
        a
    }
}

/// `std::min` as C++ defines it (returns `a` unless `b < a`).
fn cmin(a: f32, b: f32) -> f32 {
    if b < a {
        b
    } else {
        a
    }
}

/// IoU of boxes `a` and `b` (areas precomputed) exactly as torchvision's CPU kernel.
fn iou(a: &[f32; 4], area_a: f32, b: &[f32; 4], area_b: f32) -> f32 {
    let w = cmax(0.0, cmin(a[2], b[2]) - cmax(a[0], b[0]));
    let h = cmax(0.0, cmin(a[3], b[3]) - cmax(a[1], b[1]));
    let inter = w * h;
    inter / (area_a + area_b - inter)
}

/// Suppression over `group` (indices in decreasing score order); pushes kept ranks to `keep`.
fn suppress(
    group: &[usize],
    rank: &[usize],
    boxes: &[[f32; 4]],
    areas: &[f32],
    thr: f64,
    keep: &mut Vec<usize>,
) {
    let mut dead = vec![false; group.len()];
    for a in 0..group.len() {
        if dead[a] {
            continue;
        }
        let i = group[a];
        keep.push(rank[i]);
        for b in a + 1..group.len() {
            let j = group[b];
            if !dead[b] && f64::from(iou(&boxes[i], areas[i], &boxes[j], areas[j])) > thr {
                dead[b] = true;
            }
        }
    }
}

/// Indices of the boxes kept by NMS, in decreasing score order (torchvision `nms`).
///
/// `boxes` are `[x1, y1, x2, y2]`; `scores.len()` must equal `boxes.len()`.
pub fn nms(boxes: &[[f32; 4]], scores: &[f32], iou_thres: f64) -> Vec<usize> {
    assert_eq!(boxes.len(), scores.len(), "nms: one score per box");
    let n = boxes.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut rank = vec![0; n];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    let areas: Vec<f32> = boxes
        .iter()
        .map(|b| (b[2] - b[0]) * (b[3] - b[1]))
        .collect();
    let mut keep = Vec::new();
    let finite = boxes.iter().flatten().all(|v| v.is_finite());
    if !(iou_thres >= 0.0 && finite) {
        suppress(&order, &rank, boxes, &areas, iou_thres, &mut keep);
        return keep.into_iter().map(|r| order[r]).collect();
    }
    // Sweep over x1: a box starts a new group when it begins at or after every earlier x2.
    let mut by_x: Vec<usize> = (0..n).collect();
    by_x.sort_by(|&a, &b| boxes[a][0].total_cmp(&boxes[b][0]));
    let mut group_of = vec![0usize; n];
    let (mut groups, mut reach) = (0usize, f32::NEG_INFINITY);
    for &i in &by_x {
        if boxes[i][0] >= reach && reach != f32::NEG_INFINITY {
            groups += 1;
        }
        reach = reach.max(boxes[i][2]);
        group_of[i] = groups;
    }
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); groups + 1];
    for &i in &order {
        members[group_of[i]].push(i);
    }
    for g in &members {
        suppress(g, &rank, boxes, &areas, iou_thres, &mut keep);
    }
    keep.sort_unstable();
    keep.into_iter().map(|r| order[r]).collect()
}
