//! Bias correction for quantized weights.
//!
//! Rounding (and clipping) the weights of a convolution shifts the mean of every output
//! channel by `Σ (w_q·s_w − w)[o, c, ky, kx] · E[x at tap (c, ky, kx)]`. Calibration records,
//! for every convolution, the mean input value seen by each kernel tap (`tap_sums`: over all
//! output positions, padded positions reading 0, exactly as the convolution sees them);
//! [`correction`] gives the per-channel shift, which the quantizer subtracts from the float
//! bias before it is rounded into the integer bias (so the correction costs nothing in
//! hardware). Guarantees: with exact weights the correction is zero, and for inputs whose
//! per-tap means equal the recorded ones the corrected convolution's mean output error is zero
//! up to bias rounding.

use ndarray::{Array3, Array4, ArrayView3, Axis};

/// Per-tap input sums of one convolution: `sums[c, ky, kx]` is the sum, over every output
/// position, of the input value under tap `(ky, kx)` of channel `c` (0 in the padding), and
/// `count` the number of output positions summed (over all images).
#[derive(Clone, Debug, PartialEq)]
pub struct TapSums {
    pub sums: Array3<f64>,
    pub count: u64,
}

impl TapSums {
    pub fn zeros(c_in: usize, k: usize) -> Self {
        TapSums {
            sums: Array3::zeros((c_in, k, k)),
            count: 0,
        }
    }

    /// Add the taps of one input `x` (`[c_in, h, w]`) for a `k × k` convolution.
    pub fn add(&mut self, x: ArrayView3<f32>, stride: usize, pad: usize) {
        let (c, h, w) = x.dim();
        let k = self.sums.shape()[1];
        let ho = (h + 2 * pad - k) / stride + 1;
        let wo = (w + 2 * pad - k) / stride + 1;
        // Row sums over the output columns that tap kx reaches, then over the rows tap ky reaches.
        let inside = |o: usize, t: usize, n: usize| {
            let p = (o * stride + t) as isize - pad as isize;
            (0..n as isize).contains(&p).then_some(p as usize)
        };
        for ci in 0..c {
            let xc = x.index_axis(Axis(0), ci);
            for kx in 0..k {
                let cols: Vec<usize> = (0..wo).filter_map(|ox| inside(ox, kx, w)).collect();
                let row: Vec<f64> = (0..h)
                    .map(|y| cols.iter().map(|&xx| xc[[y, xx]] as f64).sum())
                    .collect();
                for ky in 0..k {
                    let s: f64 = (0..ho)
                        .filter_map(|oy| inside(oy, ky, h))
                        .map(|y| row[y])
                        .sum();
                    self.sums[[ci, ky, kx]] += s;
                }
            }
        }
        self.count += (ho * wo) as u64;
    }

    /// Mean input value under each tap (`[c_in, k, k]`); zeros when nothing was added.
    pub fn mean(&self) -> Array3<f64> {
        if self.count == 0 {
            return Array3::zeros(self.sums.raw_dim());
        }
        self.sums.mapv(|s| s / self.count as f64)
    }

    /// Merge the sums of another run over the same convolution.
    pub fn merge(&mut self, o: &TapSums) {
        self.sums += &o.sums;
        self.count += o.count;
    }
}

/// Mean output shift of every output channel caused by replacing the weights `w` with the
/// dequantized weights `wq` (`[c_out, c_in, k, k]` each), for inputs with per-tap means `mean`.
pub fn correction(w: &Array4<f32>, wq: &Array4<f64>, mean: &Array3<f64>) -> Vec<f64> {
    w.axis_iter(Axis(0))
        .zip(wq.axis_iter(Axis(0)))
        .map(|(wc, qc)| {
            wc.iter()
                .zip(qc.iter())
                .zip(mean.iter())
                .map(|((&a, &b), &m)| (b - a as f64) * m)
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive: pad the input with zeros, walk every output position and every tap.
    fn naive(x: &Array3<f32>, k: usize, stride: usize, pad: usize) -> Array3<f64> {
        let (c, h, w) = x.dim();
        let mut s = Array3::<f64>::zeros((c, k, k));
        let (ho, wo) = (
            (h + 2 * pad - k) / stride + 1,
            (w + 2 * pad - k) / stride + 1,
        );
        for ci in 0..c {
            for oy in 0..ho {
                for ox in 0..wo {
                    for ky in 0..k {
                        for kx in 0..k {
                            let y = (oy * stride + ky) as isize - pad as isize;
                            let xx = (ox * stride + kx) as isize - pad as isize;
                            if y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < w {
                                s[[ci, ky, kx]] += x[[ci, y as usize, xx as usize]] as f64;
                            }
                        }
                    }
                }
            }
        }
        s
    }

    #[test]
    fn tap_sums_match_naive_walk() {
        for (h, w, k, stride, pad) in [
            (7, 5, 3, 1, 1),
            (8, 9, 3, 2, 1),
            (6, 6, 1, 1, 0),
            (9, 7, 5, 1, 2),
        ] {
            let x = Array3::from_shape_fn((3, h, w), |(c, y, xx)| {
                ((c * 31 + y * 7 + xx * 3) % 11) as f32 - 4.5
            });
            let mut t = TapSums::zeros(3, k);
            t.add(x.view(), stride, pad);
            let want = naive(&x, k, stride, pad);
            for (a, b) in t.sums.iter().zip(want.iter()) {
                assert!((a - b).abs() < 1e-9, "{h}x{w} k{k} s{stride}: {a} vs {b}");
            }
            assert_eq!(
                t.count as usize,
                ((h + 2 * pad - k) / stride + 1) * ((w + 2 * pad - k) / stride + 1)
            );
        }
    }

    #[test]
    fn exact_weights_need_no_correction() {
        let w = Array4::from_shape_fn((2, 3, 3, 3), |(o, c, y, x)| (o + c + y * x) as f32 * 0.1);
        let m = Array3::from_elem((3, 3, 3), 1.5);
        assert!(correction(&w, &w.mapv(|v| v as f64), &m)
            .iter()
            .all(|&c| c.abs() < 1e-12));
    }
}
