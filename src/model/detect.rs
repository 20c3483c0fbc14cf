//! Detect-head decoding in float: DFL (softmax expectation over `reg_max` bins), anchor
//! points at cell centres, `dist2bbox` to `cx, cy, w, h` in input pixels, sigmoid scores.
//! Output columns are ordered level by level (stride 8, 16, 32), each row-major.

use crate::graph::DetectHead;
use ndarray::{Array2, Array3};

/// Decode per-level box logits `[4*reg_max, h, w]` and class logits `[nc, h, w]` into `(4+nc, N)`.
/// Works on whole planes (vectorizable, no per-anchor allocation); per anchor it computes
/// exactly what [`dfl_expectation`] and [`sigmoid`] do.
pub fn decode(head: &DetectHead, boxes: &[&Array3<f32>], classes: &[&Array3<f32>]) -> Array2<f32> {
    let n: usize = boxes.iter().map(|b| b.shape()[1] * b.shape()[2]).sum();
    let (nc, rm) = (head.nc, head.reg_max);
    let mut out = vec![0f32; (4 + nc) * n];
    let mut col = 0;
    for (lvl, (b, c)) in boxes.iter().zip(classes).enumerate() {
        let (_, h, w) = b.dim();
        let (b, c) = (b.as_standard_layout(), c.as_standard_layout());
        let (bs, cs) = (
            b.as_slice().expect("standard"),
            c.as_slice().expect("standard"),
        );
        let level = Level {
            stride: head.strides[lvl] as f32,
            h,
            w,
            rm,
            nc,
            n,
            col,
        };
        simd_decode(&level, bs, cs, &mut out);
        col += h * w;
    }
    Array2::from_shape_vec((4 + nc, n), out).expect("decode shape")
}

struct Level {
    stride: f32,
    h: usize,
    w: usize,
    rm: usize,
    nc: usize,
    n: usize,
    col: usize,
}

fn simd_decode(l: &Level, b: &[f32], c: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked above).
            return unsafe { decode_level_avx512(l, b, c, out) };
        }
    }
    decode_level(l, b, c, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn decode_level_avx512(l: &Level, b: &[f32], c: &[f32], out: &mut [f32]) {
    decode_level(l, b, c, out)
}

/// One level into columns `l.col..l.col + h*w` of the row-major `(4 + nc) x n` output.
#[inline(always)]
fn decode_level(l: &Level, b: &[f32], c: &[f32], out: &mut [f32]) {
    let hw = l.h * l.w;
    let mut d = vec![0f32; 4 * hw];
    let (mut mx, mut s, mut e) = (vec![0f32; hw], vec![0f32; hw], vec![0f32; hw]);
    for (side, dv) in d.chunks_exact_mut(hw).enumerate() {
        let bins = &b[side * l.rm * hw..(side + 1) * l.rm * hw];
        mx.fill(f32::NEG_INFINITY);
        for plane in bins.chunks_exact(hw) {
            mx.iter_mut().zip(plane).for_each(|(m, &v)| *m = m.max(v));
        }
        s.fill(0.0);
        e.fill(0.0);
        for (i, plane) in bins.chunks_exact(hw).enumerate() {
            let fi = i as f32;
            for (((sv, ev), &m), &v) in s.iter_mut().zip(e.iter_mut()).zip(&mx).zip(plane) {
                let p = crate::model::ops::exp_approx(v - m);
                *sv += p;
                *ev += p * fi;
            }
        }
        dv.iter_mut()
            .zip(&e)
            .zip(&s)
            .for_each(|((o, &e), &s)| *o = e / s);
    }
    let row = |r: usize| l.col + r * l.n..l.col + r * l.n + hw;
    for p in 0..hw {
        let (ax, ay) = ((p % l.w) as f32 + 0.5, (p / l.w) as f32 + 0.5);
        let (x1, y1) = (ax - d[p], ay - d[hw + p]);
        let (x2, y2) = (ax + d[2 * hw + p], ay + d[3 * hw + p]);
        out[row(0)][p] = (x1 + x2) / 2.0 * l.stride;
        out[row(1)][p] = (y1 + y2) / 2.0 * l.stride;
        out[row(2)][p] = (x2 - x1) * l.stride;
        out[row(3)][p] = (y2 - y1) * l.stride;
    }
    for k in 0..l.nc {
        let src = &c[k * hw..(k + 1) * hw];
        out[row(4 + k)]
            .iter_mut()
            .zip(src)
            .for_each(|(o, &v)| *o = sigmoid(v));
    }
}

/// `sum_i i * softmax(logits)_i` (the per-anchor definition [`decode`] follows).
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

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + crate::model::ops::exp_approx(-x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-anchor definition, written out independently of the plane-wise `decode`.
    fn decode_naive(
        head: &DetectHead,
        boxes: &[Array3<f32>],
        classes: &[Array3<f32>],
    ) -> Vec<Vec<f32>> {
        let mut cols = Vec::new();
        for (lvl, (b, c)) in boxes.iter().zip(classes).enumerate() {
            let s = head.strides[lvl] as f32;
            let (_, h, w) = b.dim();
            for y in 0..h {
                for x in 0..w {
                    let d: Vec<f32> = (0..4)
                        .map(|side| {
                            let l: Vec<f32> = (0..head.reg_max)
                                .map(|i| b[[side * head.reg_max + i, y, x]])
                                .collect();
                            dfl_expectation(&l)
                        })
                        .collect();
                    let (ax, ay) = (x as f32 + 0.5, y as f32 + 0.5);
                    let (x1, y1, x2, y2) = (ax - d[0], ay - d[1], ax + d[2], ay + d[3]);
                    let mut col = vec![
                        (x1 + x2) / 2.0 * s,
                        (y1 + y2) / 2.0 * s,
                        (x2 - x1) * s,
                        (y2 - y1) * s,
                    ];
                    col.extend((0..head.nc).map(|k| sigmoid(c[[k, y, x]])));
                    cols.push(col);
                }
            }
        }
        cols
    }

    #[test]
    fn planewise_decode_equals_per_anchor_definition() {
        let head = DetectHead {
            nc: 3,
            reg_max: 5,
            strides: vec![8, 16],
            box_nodes: vec![],
            cls_nodes: vec![],
        };
        let f = |seed: usize| {
            move |(c, y, x): (usize, usize, usize)| {
                (((c * 131 + y * 31 + x * 7 + seed) % 97) as f32 - 48.0) / 9.0
            }
        };
        let boxes = [
            Array3::from_shape_fn((20, 4, 6), f(1)),
            Array3::from_shape_fn((20, 2, 3), f(2)),
        ];
        let classes = [
            Array3::from_shape_fn((3, 4, 6), f(3)),
            Array3::from_shape_fn((3, 2, 3), f(4)),
        ];
        let got = decode(&head, &[&boxes[0], &boxes[1]], &[&classes[0], &classes[1]]);
        let want = decode_naive(&head, &boxes, &classes);
        assert_eq!(got.dim(), (7, 30));
        for (j, col) in want.iter().enumerate() {
            for (r, &v) in col.iter().enumerate() {
                assert_eq!(got[[r, j]], v, "row {r} column {j}");
            }
        }
    }
}
