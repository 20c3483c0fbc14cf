//! Float 2-D convolution: im2col + GEMM (the `gemm` crate, rayon-parallel), with a naive
//! reference beside it. Layout is `[C, H, W]` (one image), weights `[Co, Ci, K, K]`.

use ndarray::{Array3, ArrayView3, ArrayView4};
use rayon::prelude::*;

/// Output spatial size of a convolution / pooling window.
pub fn out_size(n: usize, k: usize, stride: usize, pad: usize) -> usize {
    (n + 2 * pad - k) / stride + 1
}

/// Unfold `x` into a `(Ci*K*K) x (Ho*Wo)` row-major matrix, zero padding outside the image.
pub fn im2col(x: ArrayView3<f32>, k: usize, stride: usize, pad: usize) -> Vec<f32> {
    let (ci, h, w) = x.dim();
    let (ho, wo) = (out_size(h, k, stride, pad), out_size(w, k, stride, pad));
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut cols = vec![0f32; ci * k * k * ho * wo];
    cols.par_chunks_mut(ho * wo)
        .enumerate()
        .for_each(|(row, dst)| {
            let c = row / (k * k);
            let ky = (row / k) % k;
            let kx = row % k;
            let plane = &xs[c * h * w..(c + 1) * h * w];
            for oy in 0..ho {
                let iy = (oy * stride + ky) as isize - pad as isize;
                let out_row = &mut dst[oy * wo..(oy + 1) * wo];
                if iy < 0 || iy >= h as isize {
                    continue; // already zero
                }
                let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                // Output columns whose input column `ox*stride + kx - pad` lies inside the row.
                let lo = pad.saturating_sub(kx).div_ceil(stride);
                let hi = ((w + pad).saturating_sub(kx)).div_ceil(stride).min(wo);
                if lo >= hi {
                    continue;
                }
                let first = lo * stride + kx - pad;
                if stride == 1 {
                    out_row[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
                } else {
                    for (j, o) in out_row[lo..hi].iter_mut().enumerate() {
                        *o = src[first + j * stride];
                    }
                }
            }
        });
    cols
}

/// Floats the GEMM helpers accept.
pub trait GemmFloat: Copy + 'static {
    const ZERO: Self;
    const ONE: Self;
}
impl GemmFloat for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}
impl GemmFloat for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

/// `dst (m x n) = a (m x k) * b (k x n)`, all row-major and contiguous; rayon-parallel
/// above a small size.
pub fn matmul_t<T: GemmFloat>(m: usize, n: usize, k: usize, a: &[T], b: &[T], dst: &mut [T]) {
    assert!(a.len() >= m * k && b.len() >= k * n && dst.len() >= m * n);
    let par = if m * n * k > 1 << 16 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the slices are at least as long as the strides and sizes passed describe.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            T::ZERO,
            T::ONE,
            false,
            false,
            false,
            par,
        );
    }
}

/// f32 GEMM, see [`matmul_t`].
pub fn matmul(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], dst: &mut [f32]) {
    matmul_t(m, n, k, a, b, dst)
}

/// f64 GEMM (exact for integer operands below 2^53), see [`matmul_t`].
pub fn matmul_f64(m: usize, n: usize, k: usize, a: &[f64], b: &[f64], dst: &mut [f64]) {
    matmul_t(m, n, k, a, b, dst)
}

/// Convolution without bias or activation: `[Ci,H,W]` x `[Co,Ci,K,K]` -> `[Co,Ho,Wo]`.
pub fn conv2d(x: ArrayView3<f32>, w: ArrayView4<f32>, stride: usize, pad: usize) -> Array3<f32> {
    let (ci, h, wd) = x.dim();
    let (co, wci, k, _) = w.dim();
    assert_eq!(ci, wci, "conv input channels");
    let (ho, wo) = (out_size(h, k, stride, pad), out_size(wd, k, stride, pad));
    let w = w.as_standard_layout();
    let ws = w.as_slice().expect("standard layout");
    let mut out = vec![0f32; co * ho * wo];
    if k == 1 && stride == 1 && pad == 0 {
        let x = x.as_standard_layout();
        matmul(co, ho * wo, ci, ws, x.as_slice().unwrap(), &mut out);
    } else {
        let cols = im2col(x, k, stride, pad);
        matmul(co, ho * wo, ci * k * k, ws, &cols, &mut out);
    }
    Array3::from_shape_vec((co, ho, wo), out).expect("shape")
}

/// Obviously-right direct convolution, for tests.
pub fn conv2d_naive(
    x: ArrayView3<f32>,
    w: ArrayView4<f32>,
    stride: usize,
    pad: usize,
) -> Array3<f32> {
    let (ci, h, wd) = x.dim();
    let (co, _, k, _) = w.dim();
    let (ho, wo) = (out_size(h, k, stride, pad), out_size(wd, k, stride, pad));
    let mut out = Array3::<f32>::zeros((co, ho, wo));
    for o in 0..co {
        for oy in 0..ho {
            for ox in 0..wo {
                let mut acc = 0f64;
                for c in 0..ci {
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * stride + ky) as isize - pad as isize;
                            let ix = (ox * stride + kx) as isize - pad as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd {
                                acc += x[[c, iy as usize, ix as usize]] as f64
                                    * w[[o, c, ky, kx]] as f64;
                            }
                        }
                    }
                }
                out[[o, oy, ox]] = acc as f32;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, Array4};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn fast_conv_matches_naive(ci in 1usize..6, co in 1usize..7, h in 3usize..11, w in 3usize..11,
                                   k in prop::sample::select(vec![1usize, 3, 5]), stride in 1usize..3, seed in 0u64..1000) {
            prop_assume!(h + 2 * (k / 2) >= k && w + 2 * (k / 2) >= k);
            let pad = k / 2;
            let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut rnd = move || { s = s.wrapping_mul(6364136223846793005).wrapping_add(1); ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5 };
            let x = Array3::from_shape_simple_fn((ci, h, w), &mut rnd);
            let wt = Array4::from_shape_simple_fn((co, ci, k, k), &mut rnd);
            let a = conv2d(x.view(), wt.view(), stride, pad);
            let b = conv2d_naive(x.view(), wt.view(), stride, pad);
            prop_assert_eq!(a.dim(), b.dim());
            for (p, q) in a.iter().zip(b.iter()) {
                prop_assert!((p - q).abs() <= 1e-4, "{} vs {}", p, q);
            }
        }
    }
}
