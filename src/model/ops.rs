//! Float element-wise and data-movement ops on `[C, H, W]` tensors.

use super::conv::out_size;
use ndarray::{concatenate, s, Array3, ArrayView3, Axis};

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

/// An element max pooling works on: a lowest value (what padding stands for) and a max.
pub trait PoolElem: Copy + Send + Sync {
    const LOWEST: Self;
    fn max_of(self, other: Self) -> Self;
}

impl PoolElem for f32 {
    const LOWEST: f32 = f32::NEG_INFINITY;
    #[inline(always)]
    fn max_of(self, other: f32) -> f32 {
        self.max(other)
    }
}

impl PoolElem for i32 {
    const LOWEST: i32 = i32::MIN;
    #[inline(always)]
    fn max_of(self, other: i32) -> i32 {
        self.max(other)
    }
}

/// Max pooling with implicit `-inf` padding (torch semantics; `i32::MIN` for codes, so
/// padding never wins), separable: a horizontal window max per input row, then a vertical
/// max over those rows, channels in parallel. The clipped window is the product of the two
/// clipped ranges, so this is the 2-D window max exactly.
pub fn maxpool<T: PoolElem>(x: ArrayView3<T>, k: usize, stride: usize, pad: usize) -> Array3<T> {
    use rayon::prelude::*;
    let (c, h, w) = x.dim();
    let (ho, wo) = (out_size(h, k, stride, pad), out_size(w, k, stride, pad));
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    // Clipped window `[lo, hi)` of output position `o` along an axis of length `n`.
    let win = |o: usize, n: usize| {
        let lo = (o * stride).saturating_sub(pad);
        (lo, (o * stride + k).saturating_sub(pad).min(n))
    };
    let mut out = vec![T::LOWEST; c * ho * wo];
    out.par_chunks_mut(ho * wo)
        .zip(xs.par_chunks(h * w))
        .for_each(|(o, plane)| {
            let mut rows = vec![T::LOWEST; h * wo];
            for (src, dst) in plane.chunks_exact(w).zip(rows.chunks_exact_mut(wo)) {
                for (ox, d) in dst.iter_mut().enumerate() {
                    let (lo, hi) = win(ox, w);
                    *d = src[lo.min(hi)..hi]
                        .iter()
                        .fold(T::LOWEST, |m, &v| m.max_of(v));
                }
            }
            for (oy, dst) in o.chunks_exact_mut(wo).enumerate() {
                let (lo, hi) = win(oy, h);
                for r in rows[lo.min(hi) * wo..hi * wo].chunks_exact(wo) {
                    dst.iter_mut().zip(r).for_each(|(d, &v)| *d = d.max_of(v));
                }
            }
        });
    Array3::from_shape_vec((c, ho, wo), out).expect("maxpool shape")
}

/// Nearest-neighbour upsampling by an integer factor: each widened input row is written
/// `f` times.
pub fn upsample_nearest<T: Copy + Default + Send + Sync>(x: ArrayView3<T>, f: usize) -> Array3<T> {
    use rayon::prelude::*;
    let (c, h, w) = x.dim();
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut out = vec![T::default(); c * h * f * w * f];
    out.par_chunks_mut(f * w * f)
        .zip(xs.par_chunks(w))
        .for_each(|(dst, src)| {
            let (first, rest) = dst.split_at_mut(w * f);
            for (d, &v) in first.chunks_exact_mut(f).zip(src) {
                d.fill(v);
            }
            for r in rest.chunks_exact_mut(w * f) {
                r.copy_from_slice(first);
            }
        });
    Array3::from_shape_vec((c, h * f, w * f), out).expect("upsample shape")
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
    fn maxpool_and_upsample_match_definitions() {
        let x = Array3::from_shape_fn((3, 7, 9), |(c, y, x)| {
            ((c * 37 + y * 11 + x * 5) % 17) as f32 - 8.0
        });
        for (k, stride, pad) in [(5, 1, 2), (3, 2, 1), (2, 2, 0), (3, 1, 0)] {
            let got = maxpool(x.view(), k, stride, pad);
            let (ho, wo) = (out_size(7, k, stride, pad), out_size(9, k, stride, pad));
            assert_eq!(got.dim(), (3, ho, wo));
            for ((c, oy, ox), &v) in got.indexed_iter() {
                let mut m = f32::NEG_INFINITY;
                for yy in 0..7 {
                    for xx in 0..9 {
                        let inside =
                            |o: usize, i: usize| i + pad >= o * stride && i + pad < o * stride + k;
                        if inside(oy, yy) && inside(ox, xx) {
                            m = m.max(x[[c, yy, xx]]);
                        }
                    }
                }
                assert_eq!(v, m, "k{k} s{stride} p{pad} at {c},{oy},{ox}");
            }
        }
        for f in [1, 2, 3] {
            let up = upsample_nearest(x.view(), f);
            assert_eq!(up.dim(), (3, 7 * f, 9 * f));
            for ((c, y, xx), &v) in up.indexed_iter() {
                assert_eq!(v, x[[c, y / f, xx / f]]);
            }
        }
    }

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
