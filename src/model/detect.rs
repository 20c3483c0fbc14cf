//! Detect-head decoding in float: DFL (softmax expectation over `reg_max` bins), anchor
//! points at cell centres, `dist2bbox` to `cx, cy, w, h` in input pixels, sigmoid scores.
//! Output columns are ordered level by level (stride 8, 16, 32), each row-major.

use crate::graph::DetectHead;
use ndarray::{Array2, Array3};

/// Decode per-level box logits `[4*reg_max, h, w]` and class logits `[nc, h, w]` into `(4+nc, N)`.
pub fn decode(head: &DetectHead, boxes: &[&Array3<f32>], classes: &[&Array3<f32>]) -> Array2<f32> {
    let n: usize = boxes.iter().map(|b| b.shape()[1] * b.shape()[2]).sum();
    let nc = head.nc;
    let rm = head.reg_max;
    let mut out = Array2::<f32>::zeros((4 + nc, n));
    let mut col = 0;
    for (lvl, (b, c)) in boxes.iter().zip(classes).enumerate() {
        let stride = head.strides[lvl] as f32;
        let (_, h, w) = b.dim();
        for y in 0..h {
            for x in 0..w {
                let mut d = [0f32; 4];
                for (side, dv) in d.iter_mut().enumerate() {
                    let logits: Vec<f32> = (0..rm).map(|i| b[[side * rm + i, y, x]]).collect();
                    *dv = dfl_expectation(&logits);
                }
                let (ax, ay) = (x as f32 + 0.5, y as f32 + 0.5);
                let (x1, y1, x2, y2) = (ax - d[0], ay - d[1], ax + d[2], ay + d[3]);
                out[[0, col]] = (x1 + x2) / 2.0 * stride;
                out[[1, col]] = (y1 + y2) / 2.0 * stride;
                out[[2, col]] = (x2 - x1) * stride;
                out[[3, col]] = (y2 - y1) * stride;
                for k in 0..nc {
                    out[[4 + k, col]] = sigmoid(c[[k, y, x]]);
                }
                col += 1;
            }
        }
    }
    out
}

/// `sum_i i * softmax(logits)_i`.
pub fn dfl_expectation(logits: &[f32]) -> f32 {
    let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0f32;
    let mut e = 0f32;
    for (i, &l) in logits.iter().enumerate() {
        let p = crate::model::ops::exp_approx(l - m);
        s += p;
        e += p * i as f32;
    }
    e / s
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + crate::model::ops::exp_approx(-x))
}
