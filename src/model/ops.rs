//! Float element-wise and data-movement ops on `[C, H, W]` tensors.

use super::conv::out_size;
use ndarray::{concatenate, s, Array3, ArrayView3, Axis, Zip};

/// `e^x` by range reduction to `2^n * 2^f`, `|f| <= 0.5`, and a degree-6 polynomial for `2^f`
/// (relative error below 1e-5, set by the f32 rounding of `x * log2(e)`). Branch-free and free
/// of float-to-int conversions so that loops over slices vectorize; the input is clamped to
/// [-87, 88], so the result is always a normal float (no denormals reach a GEMM).
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding and subtracting rounds to nearest
    let t = x.clamp(-87.0, 88.0) * LOG2E;
    let r = t + ROUND;
    let n = r - ROUND;
    let f = t - n;
    let p = 1.0
        + f * (std::f32::consts::LN_2
            + f * (0.240_226_5
                + f * (0.055_504_11
                    + f * (0.009_618_129 + f * (0.001_333_355_8 + f * 0.000_154_035_3)))));
    // The low mantissa bits of `r` hold `n` (-126..=127): 2^n has the bits `(n + 127) << 23`.
    let two_n = r.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23;
    p * f32::from_bits(two_n)
}

/// SiLU, `x * sigmoid(x)`.
#[inline(always)]
pub fn silu(v: f32) -> f32 {
    v / (1.0 + exp_approx(-v))
}

/// SiLU in place over a slice (vectorizable).
pub fn silu_slice(xs: &mut [f32]) {
    affine_act(xs, 1.0, 0.0, true)
}

#[inline(always)]
fn affine_act_generic(src: Option<&[f32]>, dst: &mut [f32], a: f32, b: f32, act: bool) {
    let f = |v: f32| if act { silu(v * a + b) } else { v * a + b };
    match src {
        Some(src) => dst.iter_mut().zip(src).for_each(|(d, &v)| *d = f(v)),
        None => dst.iter_mut().for_each(|d| *d = f(*d)),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn affine_act_avx512(src: Option<&[f32]>, dst: &mut [f32], a: f32, b: f32, act: bool) {
    affine_act_generic(src, dst, a, b, act)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn affine_act_avx2(src: Option<&[f32]>, dst: &mut [f32], a: f32, b: f32, act: bool) {
    affine_act_generic(src, dst, a, b, act)
}

/// `dst = silu(src * a + b)` (or `src * a + b` without `act`), in place when `src` is `None`,
/// compiled for the widest vector unit the CPU has (AVX-512 / AVX2, checked at run time): the
/// crate itself is built for baseline x86-64, where this loop would only use SSE2.
pub fn affine_act_into(src: Option<&[f32]>, dst: &mut [f32], a: f32, b: f32, act: bool) {
    if let Some(s) = src {
        assert_eq!(s.len(), dst.len(), "affine_act_into lengths");
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked above).
            return unsafe { affine_act_avx512(src, dst, a, b, act) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            return unsafe { affine_act_avx2(src, dst, a, b, act) };
        }
    }
    affine_act_generic(src, dst, a, b, act)
}

/// In-place [`affine_act_into`].
pub fn affine_act(xs: &mut [f32], a: f32, b: f32, act: bool) {
    affine_act_into(None, xs, a, b, act)
}

/// SiLU in place, in parallel.
pub fn silu_inplace(x: &mut Array3<f32>) {
    use rayon::prelude::*;
    match x.as_slice_mut() {
        Some(s) => s.par_chunks_mut(1 << 14).for_each(silu_slice),
        None => x.mapv_inplace(silu),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_approx_is_accurate() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            worst = worst.max(((exp_approx(x) as f64) - want).abs() / want);
            x += 0.001_3;
        }
        // Bounded by the f32 rounding of x*log2(e) at |x| ~ 88 (ulp 7.6e-6 of t ~ 127).
        assert!(worst < 1e-5, "relative error {worst}");
        assert!(exp_approx(-1000.0) > 0.0 && exp_approx(-1000.0).is_normal());
        assert!(silu(-1000.0).is_normal() || silu(-1000.0) == 0.0);
        assert!((silu(1.0) - 0.731_058_6).abs() < 1e-6);
    }
}
