//! Float element-wise and data-movement ops on `[C, H, W]` tensors.

use super::conv::out_size;
use ndarray::{concatenate, s, Array3, ArrayView3, Axis, Zip};

/// SiLU, `x * sigmoid(x)`, in place. Below -60 the result (< 1e-24) is flushed to zero so
/// that no denormal floats reach the next GEMM (they slow it down many times over).
pub fn silu_inplace(x: &mut Array3<f32>) {
    x.par_mapv_inplace(silu);
}

#[inline]
pub fn silu(v: f32) -> f32 {
    if v < -60.0 {
        0.0
    } else {
        v / (1.0 + (-v).exp())
    }
}

/// Add a per-channel bias in place.
pub fn add_bias(x: &mut Array3<f32>, bias: &[f32]) {
    for (mut plane, &b) in x.outer_iter_mut().zip(bias) {
        plane += b;
    }
}

/// Max pooling with implicit `-inf` padding (torch semantics).
pub fn maxpool(x: ArrayView3<f32>, k: usize, stride: usize, pad: usize) -> Array3<f32> {
    let (c, h, w) = x.dim();
    let (ho, wo) = (out_size(h, k, stride, pad), out_size(w, k, stride, pad));
    let mut out = Array3::<f32>::from_elem((c, ho, wo), f32::NEG_INFINITY);
    Zip::from(out.outer_iter_mut())
        .and(x.outer_iter())
        .par_for_each(|mut o, xi| {
            for oy in 0..ho {
                let y0 = (oy * stride) as isize - pad as isize;
                for ox in 0..wo {
                    let x0 = (ox * stride) as isize - pad as isize;
                    let mut m = f32::NEG_INFINITY;
                    for yy in y0.max(0)..(y0 + k as isize).min(h as isize) {
                        for xx in x0.max(0)..(x0 + k as isize).min(w as isize) {
                            m = m.max(xi[[yy as usize, xx as usize]]);
                        }
                    }
                    o[[oy, ox]] = m;
                }
            }
        });
    out
}

/// Nearest-neighbour upsampling by an integer factor.
pub fn upsample_nearest(x: ArrayView3<f32>, f: usize) -> Array3<f32> {
    let (c, h, w) = x.dim();
    Array3::from_shape_fn((c, h * f, w * f), |(ci, y, xx)| x[[ci, y / f, xx / f]])
}

/// Channel concatenation.
pub fn concat(xs: &[ArrayView3<f32>]) -> Array3<f32> {
    concatenate(Axis(0), xs).expect("concat inputs share H and W")
}

/// Channels `start..end`.
pub fn slice(x: ArrayView3<f32>, start: usize, end: usize) -> Array3<f32> {
    x.slice(s![start..end, .., ..]).to_owned()
}
