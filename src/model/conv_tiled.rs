//! Cache-blocked float convolution with the per-channel epilogue fused in: output rows are
//! cut into tiles whose im2col panel (`Ci*K*K` x tile) stays in L2, each tile is unfolded,
//! multiplied (single-threaded `gemm`) and finished (`scale * v + shift`, optional SiLU)
//! while hot, and the tiles run in parallel on rayon. Same results as
//! [`super::conv::conv2d`] followed by the epilogue, up to float summation order.

use super::conv::out_size;
use super::ops::affine_act_into;
use rayon::prelude::*;
use std::cell::RefCell;

/// Floats of im2col panel per tile: 768 KiB, three quarters of this machine's 1 MiB L2
/// (measured: 256 KiB panels were ~8% slower overall, mostly on the 20x20 layers where they
/// left GEMM tiles of 20-30 columns).
pub const TILE_FLOATS: usize = 3 << 16;

/// Shape of one convolution over a `[ci, h, w]` input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom {
    pub ci: usize,
    pub h: usize,
    pub w: usize,
    pub co: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Geom {
    pub fn ho(&self) -> usize {
        out_size(self.h, self.k, self.stride, self.pad)
    }
    pub fn wo(&self) -> usize {
        out_size(self.w, self.k, self.stride, self.pad)
    }
}

/// Per-output-channel epilogue `y = act(v * scale[c] + shift[c])`.
pub struct Epilogue<'a> {
    pub scale: &'a [f32],
    pub shift: &'a [f32],
    pub silu: bool,
}

/// The input with every row split into `stride` phase rows of `ceil(w / stride)` values
/// (phase `q` holds columns `q, q + stride, ...`), so that a strided window reads contiguous
/// runs. Stride 1 needs no copy.
pub fn split_phases(x: &[f32], g: Geom) -> Vec<f32> {
    let (s, w) = (g.stride, g.w);
    let wp = w.div_ceil(s);
    let mut out = vec![0f32; g.ci * g.h * s * wp];
    out.par_chunks_mut(g.h * s * wp)
        .zip(x.par_chunks(g.h * w))
        .for_each(|(dst, plane)| {
            for (d, src) in dst.chunks_exact_mut(s * wp).zip(plane.chunks_exact(w)) {
                for (q, dq) in d.chunks_exact_mut(wp).enumerate() {
                    for (v, &e) in dq.iter_mut().zip(src.iter().skip(q).step_by(s)) {
                        *v = e;
                    }
                }
            }
        });
    out
}

/// Unfold output rows `oy0..oy1` into `dst`: `ci*k*k` rows of `(oy1 - oy0) * wo` values,
/// zero where the window leaves the image. `xp` is the input as laid out by [`split_phases`]
/// (the input itself for stride 1). Every element of the used part of `dst` is written, so
/// the buffer can be reused without clearing.
pub fn im2col_rows(xp: &[f32], g: Geom, oy0: usize, oy1: usize, dst: &mut [f32]) {
    let (k, s, p, h, w) = (g.k, g.stride, g.pad, g.h, g.w);
    let (wo, wp) = (g.wo(), w.div_ceil(s));
    let t = (oy1 - oy0) * wo;
    for (row, d) in dst.chunks_exact_mut(t).take(g.ci * k * k).enumerate() {
        let (c, ky, kx) = (row / (k * k), (row / k) % k, row % k);
        // Output columns whose input column `ox*s + kx - p` lies inside the row; that column
        // is element `ox + off` of phase row `q`.
        let lo = p.saturating_sub(kx).div_ceil(s).min(wo);
        let hi = (w + p).saturating_sub(kx).div_ceil(s).clamp(lo, wo);
        let q = (kx + s * p - p) % s;
        let first = (lo * s + kx + q).saturating_sub(p + q) / s;
        for (oy, o) in (oy0..oy1).zip(d.chunks_exact_mut(wo)) {
            let iy = (oy * s + ky) as isize - p as isize;
            if iy < 0 || iy >= h as isize {
                o.fill(0.0);
                continue;
            }
            let at = ((c * h + iy as usize) * s + q) * wp;
            let src = &xp[at..at + wp];
            o[..lo].fill(0.0);
            o[hi..].fill(0.0);
            if lo < hi {
                o[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
            }
        }
    }
}

fn grow(v: &mut Vec<f32>, len: usize) {
    if v.len() < len {
        v.resize(len, 0.0);
    }
}

/// Raw output pointer shared by the tile tasks, which write disjoint column ranges.
struct OutPtr(*mut f32);
// SAFETY: every task writes only its own tile's columns (disjoint), see `conv2d_fused_with`.
unsafe impl Sync for OutPtr {}

thread_local! {
    /// Per-thread im2col panel and GEMM result tile, reused across tiles and layers.
    static PANEL: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// `out[co, ho*wo] = epilogue(weight (co x ci*k*k) * im2col(x))`, tiles of about
/// [`TILE_FLOATS`] panel floats.
pub fn conv2d_fused(x: &[f32], g: Geom, weight: &[f32], ep: &Epilogue, out: &mut [f32]) {
    conv2d_fused_with(x, g, weight, ep, out, TILE_FLOATS)
}

/// [`conv2d_fused`] with an explicit panel budget (tests use small ones to get many tiles).
pub fn conv2d_fused_with(
    x: &[f32],
    g: Geom,
    weight: &[f32],
    ep: &Epilogue,
    out: &mut [f32],
    tile_floats: usize,
) {
    let (ho, wo) = (g.ho(), g.wo());
    let kk = g.ci * g.k * g.k;
    let n = ho * wo;
    assert!(x.len() >= g.ci * g.h * g.w && weight.len() >= g.co * kk && out.len() >= g.co * n);
    assert!(ep.scale.len() >= g.co && ep.shift.len() >= g.co);
    let cols = (tile_floats / kk).clamp(16, 1024);
    // At least four tiles where the plane allows it, to balance two threads.
    let rows = (cols / wo).min(ho.div_ceil(4)).max(1);
    let tiles = ho.div_ceil(rows);
    // Small-K 1x1 tiles are faster copied into a contiguous panel first (measured).
    let direct = g.k == 1 && g.stride == 1 && g.pad == 0 && kk >= 64;
    let phases = (g.stride > 1).then(|| split_phases(x, g));
    let xp = phases.as_deref().unwrap_or(x);
    let dst = OutPtr(out.as_mut_ptr());
    let run = |t: usize| {
        let dst = &dst;
        let (oy0, oy1) = (t * rows, ((t + 1) * rows).min(ho));
        let tn = (oy1 - oy0) * wo;
        PANEL.with(|bufs| {
            let (panel, acc) = &mut *bufs.borrow_mut();
            grow(panel, kk * tn);
            grow(acc, g.co * tn);
            // A 1x1 stride-1 convolution reads its tile straight from the input (row stride n).
            let (b, b_rs) = if direct {
                (x[oy0 * wo..].as_ptr(), n as isize)
            } else {
                im2col_rows(xp, g, oy0, oy1, &mut panel[..kk * tn]);
                (panel.as_ptr(), tn as isize)
            };
            // The GEMM writes a contiguous `co x tn` tile: writing straight into the output
            // rows (stride `n`) halves its speed on the large planes.
            // SAFETY: `acc` holds `co * tn` floats; the lhs is `co x kk` row-major in `weight`
            // (length checked), the rhs `kk x tn` at `b` with row stride `b_rs` (the panel of
            // `kk * tn` floats, or the input, whose `ci = kk` rows have `n >= tn` elements).
            unsafe {
                gemm::gemm(
                    g.co,
                    tn,
                    kk,
                    acc.as_mut_ptr(),
                    1,
                    tn as isize,
                    false,
                    weight.as_ptr(),
                    1,
                    kk as isize,
                    b,
                    1,
                    b_rs,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            for (o, src) in acc.chunks_exact(tn).take(g.co).enumerate() {
                // SAFETY: row `o` of this tile lies inside `out` (length checked) and no other
                // task writes it.
                let dst =
                    unsafe { std::slice::from_raw_parts_mut(dst.0.add(o * n + oy0 * wo), tn) };
                affine_act_into(Some(src), dst, ep.scale[o], ep.shift[o], ep.silu);
            }
        });
    };
    if tiles > 1 && g.co * n * kk > 1 << 16 {
        (0..tiles).into_par_iter().for_each(run);
    } else {
        (0..tiles).for_each(run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::conv::conv2d_naive;
    use ndarray::{Array3, Array4};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn tiled_conv_matches_naive(ci in 1usize..7, co in 1usize..9, h in 1usize..13, w in 1usize..13,
                                    k in prop::sample::select(vec![1usize, 3, 5]), stride in 1usize..3,
                                    silu_on: bool, budget in prop::sample::select(vec![1usize, 40, 300, 1 << 16]),
                                    seed in 0u64..1000) {
            let pad = k / 2;
            prop_assume!(h + 2 * pad >= k && w + 2 * pad >= k);
            let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut rnd = move || { s = s.wrapping_mul(6364136223846793005).wrapping_add(1); ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5 };
            let x = Array3::from_shape_simple_fn((ci, h, w), &mut rnd);
            let wt = Array4::from_shape_simple_fn((co, ci, k, k), &mut rnd);
            let scale: Vec<f32> = (0..co).map(|_| 1.0 + rnd()).collect();
            let shift: Vec<f32> = (0..co).map(|_| rnd()).collect();
            let g = Geom { ci, h, w, co, k, stride, pad };
            // Stale values in the output must be overwritten, not accumulated.
            let mut out = vec![f32::NAN; co * g.ho() * g.wo()];
            let ep = Epilogue { scale: &scale, shift: &shift, silu: silu_on };
            conv2d_fused_with(x.as_slice().unwrap(), g, wt.as_slice().unwrap(), &ep, &mut out, budget);
            let want = conv2d_naive(x.view(), wt.view(), stride, pad);
            prop_assert_eq!(want.dim(), (co, g.ho(), g.wo()));
            for (i, (&got, &raw)) in out.iter().zip(want.iter()).enumerate() {
                let c = i / (g.ho() * g.wo());
                let lin = raw * scale[c] + shift[c];
                let exp = if silu_on { (lin as f64 / (1.0 + (-(lin as f64)).exp())) as f32 } else { lin };
                prop_assert!((got - exp).abs() <= 1e-4, "{} vs {} at {}", got, exp, i);
            }
        }
    }
}
