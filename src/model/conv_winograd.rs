//! Winograd F(2×2, 3×3) float convolution for 3×3, stride-1, pad-1 layers, with the
//! per-channel epilogue fused in: 2.25× fewer multiplications than the direct im2col + GEMM
//! of [`super::conv_tiled`]. Every 2×2 output tile is computed from a 4×4 input tile as
//! `Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A`; the element-wise products of all channels become 16 GEMMs
//! `M_e (co × T) = U_e (co × ci) · V_e (ci × T)`, one per tile element `e`, over a band of
//! `T` tiles whose transformed input stays in L2. Bands run in parallel on rayon.
//!
//! Exact in real arithmetic; in f32 the transforms add a few ulps (the tests bound it at the
//! level of the direct convolution's own summation-order differences, 1e-4 on unit data).

use super::conv_tiled::{Epilogue, Geom};
use super::ops::affine_act_into;
use rayon::prelude::*;
use std::cell::RefCell;

/// Floats of transformed input and products (`16 · (ci + co) · T`) per band: 512 KiB, half
/// of this machine's 1 MiB L2.
const BAND_FLOATS: usize = 1 << 17;

/// True when this kernel computes the layer: 3×3, stride 1, pad 1, and enough input
/// channels for the 16 GEMMs to be efficient (measured: below 32 the direct GEMM wins).
pub fn applies(g: Geom) -> bool {
    g.k == 3 && g.stride == 1 && g.pad == 1 && g.ci >= 32 && g.h >= 2 && g.w >= 2
}

/// Transformed weights `U[e][co][ci]` (`e = 4i + j` of `G g Gᵀ`), from `[co, ci, 3, 3]`.
pub fn transform_weights(w: &[f32], co: usize, ci: usize) -> Vec<f32> {
    let mut u = vec![0f32; 16 * co * ci];
    for o in 0..co {
        for c in 0..ci {
            let g = &w[(o * ci + c) * 9..(o * ci + c) * 9 + 9];
            // t = G g (4 × 3), then u = t Gᵀ (4 × 4); G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
            let mut t = [[0f32; 3]; 4];
            for j in 0..3 {
                let (a, b, d) = (g[j], g[3 + j], g[6 + j]);
                t[0][j] = a;
                t[1][j] = 0.5 * (a + b + d);
                t[2][j] = 0.5 * (a - b + d);
                t[3][j] = d;
            }
            for (i, ti) in t.iter().enumerate() {
                let (a, b, d) = (ti[0], ti[1], ti[2]);
                let row = [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d];
                for (j, &v) in row.iter().enumerate() {
                    u[((4 * i + j) * co + o) * ci + c] = v;
                }
            }
        }
    }
    u
}

/// Per-thread buffers: transformed input `V[16][ci][T]`, products `M[16][co][T]`, and
/// row scratch.
#[derive(Default)]
struct Scratch {
    v: Vec<f32>,
    m: Vec<f32>,
    rows: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn grow(v: &mut Vec<f32>, len: usize) {
    if v.len() < len {
        v.resize(len, 0.0);
    }
}

/// Output pointer shared by the band tasks, which write disjoint output rows.
struct OutPtr(*mut f32);
// SAFETY: every task writes only the output rows of its own band (disjoint).
unsafe impl Sync for OutPtr {}

/// `out[co, h*w] = epilogue(conv3x3(x, weight))` with `u = transform_weights(weight)`;
/// call only when [`applies`] holds.
pub fn conv2d_winograd(x: &[f32], g: Geom, u: &[f32], ep: &Epilogue, out: &mut [f32]) {
    conv2d_winograd_with(x, g, u, ep, out, BAND_FLOATS)
}

/// [`conv2d_winograd`] with an explicit band budget (tests use small ones for many bands).
pub fn conv2d_winograd_with(
    x: &[f32],
    g: Geom,
    u: &[f32],
    ep: &Epilogue,
    out: &mut [f32],
    band_floats: usize,
) {
    assert!(
        applies(g),
        "winograd: not a 3x3 stride-1 pad-1 layer: {g:?}"
    );
    let (ci, co, h, w) = (g.ci, g.co, g.h, g.w);
    assert!(x.len() >= ci * h * w && u.len() >= 16 * co * ci && out.len() >= co * h * w);
    let (th, tw) = (h.div_ceil(2), w.div_ceil(2));
    // Tile rows per band: within the budget but at least 64 tiles (narrower GEMMs lose more
    // to packing than they gain in cache), and at least two bands where the map allows.
    let rb = (band_floats / (16 * (ci + co) * tw))
        .max(64usize.div_ceil(tw))
        .min(th.div_ceil(2))
        .max(1);
    let bands = th.div_ceil(rb);
    let dst = OutPtr(out.as_mut_ptr());
    let run = |b: usize| {
        let dst = &dst;
        let (ty0, ty1) = (b * rb, ((b + 1) * rb).min(th));
        let t = (ty1 - ty0) * tw;
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            grow(&mut s.v, 16 * ci * t);
            grow(&mut s.m, 16 * co * t);
            grow(&mut s.rows, 12 * (tw + 1));
            input_transform(x, g, ty0, ty1, &mut s.v[..16 * ci * t], &mut s.rows);
            for e in 0..16 {
                // SAFETY: U_e is `co × ci` row-major inside `u` (length checked), V_e is
                // `ci × t` and M_e `co × t`, both inside the buffers grown above.
                unsafe {
                    gemm::gemm(
                        co,
                        t,
                        ci,
                        s.m.as_mut_ptr().add(e * co * t),
                        1,
                        t as isize,
                        false,
                        u.as_ptr().add(e * co * ci),
                        1,
                        ci as isize,
                        s.v.as_ptr().add(e * ci * t),
                        1,
                        t as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
            for o in 0..co {
                let plane = o * h * w;
                // SAFETY: output rows 2*ty0 .. min(2*ty1, h) of channel `o` lie inside `out`
                // (length checked) and belong to this band only.
                let rows = unsafe {
                    let r0 = 2 * ty0;
                    let r1 = (2 * ty1).min(h);
                    std::slice::from_raw_parts_mut(dst.0.add(plane + r0 * w), (r1 - r0) * w)
                };
                output_transform(&s.m, co, t, o, g, ty0, ty1, ep, rows, &mut s.rows);
            }
        });
    };
    if bands > 1 {
        (0..bands).into_par_iter().for_each(run);
    } else {
        run(0);
    }
}

/// `fn name(args) = body;` defines `name`, which runs the `#[inline(always)]` function
/// `body` compiled for AVX-512 or AVX2 + FMA when the CPU has them (checked at run time), so
/// the element loops vectorize although the crate targets baseline x86-64.
macro_rules! simd_variants {
    ($(#[$m:meta])* fn $name:ident($($a:ident: $t:ty),*) = $body:ident;) => {
        $(#[$m])*
        fn $name($($a: $t),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx512f")]
                unsafe fn w512($($a: $t),*) {
                    $body($($a),*)
                }
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx2,fma")]
                unsafe fn w256($($a: $t),*) {
                    $body($($a),*)
                }
                use std::arch::is_x86_feature_detected as has;
                if has!("avx512f") {
                    // SAFETY: the CPU has AVX-512F (checked).
                    return unsafe { w512($($a),*) };
                }
                if has!("avx2") && has!("fma") {
                    // SAFETY: the CPU has AVX2 and FMA (checked).
                    return unsafe { w256($($a),*) };
                }
            }
            $body($($a),*)
        }
    };
}

simd_variants! {
    /// `V[e][c][t]` of `Bᵀ d B` for the tiles of tile rows `ty0..ty1`, with
    /// `Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]`. The vertical pass runs over whole
    /// padded rows, the horizontal one over their even/odd columns, so every loop is
    /// contiguous. `scratch` holds at least `8 * (w / 2 + 1)` floats.
    fn input_transform(x: &[f32], g: Geom, ty0: usize, ty1: usize, v: &mut [f32], scratch: &mut [f32]) = input_transform_body;
}

/// Split input row `r` into the even / odd columns of its padded row (padded column `j` =
/// input column `j - 1`, zero outside): `e[k] = r[2k - 1]`, `o[k] = r[2k]`.
#[inline(always)]
fn deinterleave(r: Option<&[f32]>, e: &mut [f32], o: &mut [f32]) {
    e.fill(0.0);
    o.fill(0.0);
    let Some(r) = r else { return };
    let pairs = r.chunks_exact(2);
    let tail = pairs.remainder();
    let m = r.len() / 2;
    for ((p, ok), ek) in pairs.zip(&mut o[..m]).zip(&mut e[1..m + 1]) {
        *ok = p[0];
        *ek = p[1];
    }
    if let [last] = tail {
        o[m] = *last;
    }
}

#[inline(always)]
fn input_transform_body(
    x: &[f32],
    g: Geom,
    ty0: usize,
    ty1: usize,
    v: &mut [f32],
    scratch: &mut [f32],
) {
    let (ci, h, w) = (g.ci, g.h, g.w);
    let tw = w.div_ceil(2);
    let t = (ty1 - ty0) * tw;
    let n = tw + 1; // even (and odd) columns of a padded row of 2 * tw + 2
    let (ev, od) = scratch[..8 * n].split_at_mut(4 * n);
    for c in 0..ci {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for ty in ty0..ty1 {
            for i in 0..4 {
                let iy = (2 * ty + i) as isize - 1;
                let r = (iy >= 0 && (iy as usize) < h)
                    .then(|| &plane[iy as usize * w..(iy as usize + 1) * w]);
                deinterleave(r, &mut ev[i * n..(i + 1) * n], &mut od[i * n..(i + 1) * n]);
            }
            // Vertical: t0 = d0 − d2, t1 = d1 + d2, t2 = d2 − d1, t3 = d1 − d3 (in place).
            for half in [&mut ev[..], &mut od[..]] {
                let (a, rest) = half.split_at_mut(n);
                let (b, rest) = rest.split_at_mut(n);
                let (c2, d) = rest.split_at_mut(n);
                for (((a, b), c2), d) in a.iter_mut().zip(b).zip(c2).zip(d) {
                    let (d0, d1, d2, d3) = (*a, *b, *c2, *d);
                    *a = d0 - d2;
                    *b = d1 + d2;
                    *c2 = d2 - d1;
                    *d = d1 - d3;
                }
            }
            // Horizontal, per tile tx: padded columns 2tx .. 2tx+3 = e[tx], o[tx], e[tx+1],
            // o[tx+1].
            let base = (ty - ty0) * tw;
            for i in 0..4 {
                let (e, o) = (&ev[i * n..(i + 1) * n], &od[i * n..(i + 1) * n]);
                let (e0, e1, o0, o1) = (&e[..tw], &e[1..], &o[..tw], &o[1..]);
                let at = |j: usize| ((4 * i + j) * ci + c) * t + base;
                for ((d, &a), &b) in v[at(0)..at(0) + tw].iter_mut().zip(e0).zip(e1) {
                    *d = a - b;
                }
                for ((d, &a), &b) in v[at(1)..at(1) + tw].iter_mut().zip(o0).zip(e1) {
                    *d = a + b;
                }
                for ((d, &a), &b) in v[at(2)..at(2) + tw].iter_mut().zip(e1).zip(o0) {
                    *d = a - b;
                }
                for ((d, &a), &b) in v[at(3)..at(3) + tw].iter_mut().zip(o0).zip(o1) {
                    *d = a - b;
                }
            }
        }
    }
}

simd_variants! {
    /// Output rows of channel `o` for tile rows `ty0..ty1` from `M[e][o][t]`:
    /// `Aᵀ m A` with `Aᵀ = [1 1 1 0; 0 1 −1 −1]`, then the epilogue; `rows` are the output
    /// rows `2ty0 .. min(2ty1, h)`, `scratch` holds at least `12 * (w / 2 + 1)` floats.
    #[allow(clippy::too_many_arguments)]
    fn output_transform(m: &[f32], co: usize, t: usize, o: usize, g: Geom, ty0: usize, ty1: usize, ep: &Epilogue, rows: &mut [f32], scratch: &mut [f32]) = output_transform_body;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn output_transform_body(
    m: &[f32],
    co: usize,
    t: usize,
    o: usize,
    g: Geom,
    ty0: usize,
    ty1: usize,
    ep: &Epilogue,
    rows: &mut [f32],
    scratch: &mut [f32],
) {
    let (h, w) = (g.h, g.w);
    let tw = w.div_ceil(2);
    let (y0, rest) = scratch.split_at_mut(2 * tw);
    let (y1, rest) = rest.split_at_mut(2 * tw);
    let (s0, s1) = rest[..8 * tw].split_at_mut(4 * tw);
    let (a, b) = (ep.scale[o], ep.shift[o]);
    for ty in ty0..ty1 {
        let base = (ty - ty0) * tw;
        let me = |e: usize| &m[(e * co + o) * t + base..(e * co + o) * t + base + tw];
        // Columns: s0_j = m0j + m1j + m2j, s1_j = m1j − m2j − m3j.
        for j in 0..4 {
            let (r0, r1, r2, r3) = (me(j), me(4 + j), me(8 + j), me(12 + j));
            let (d0, d1) = (&mut s0[j * tw..(j + 1) * tw], &mut s1[j * tw..(j + 1) * tw]);
            for (((((d0, d1), &m0), &m1), &m2), &m3) in d0
                .iter_mut()
                .zip(d1.iter_mut())
                .zip(r0)
                .zip(r1)
                .zip(r2)
                .zip(r3)
            {
                *d0 = m0 + m1 + m2;
                *d1 = m1 - m2 - m3;
            }
        }
        // Rows: y[2k] = s_0 + s_1 + s_2, y[2k + 1] = s_1 − s_2 − s_3.
        for (s, y) in [(&*s0, &mut *y0), (&*s1, &mut *y1)] {
            let (c0, c1, c2, c3) = (&s[..tw], &s[tw..2 * tw], &s[2 * tw..3 * tw], &s[3 * tw..]);
            for ((((y, &a0), &a1), &a2), &a3) in
                y.chunks_exact_mut(2).zip(c0).zip(c1).zip(c2).zip(c3)
            {
                y[0] = a0 + a1 + a2;
                y[1] = a1 - a2 - a3;
            }
        }
        let oy = 2 * (ty - ty0);
        affine_act_into(
            Some(&y0[..w]),
            &mut rows[oy * w..(oy + 1) * w],
            a,
            b,
            ep.silu,
        );
        if 2 * ty + 1 < h {
            affine_act_into(
                Some(&y1[..w]),
                &mut rows[(oy + 1) * w..(oy + 2) * w],
                a,
                b,
                ep.silu,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::conv::conv2d_naive;
    use ndarray::{Array3, Array4};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Odd and even sizes, one or many bands, with and without SiLU: equal to the
        /// definition up to float rounding.
        #[test]
        fn winograd_matches_naive(ci in 32usize..41, co in 1usize..11, h in 2usize..14, w in 2usize..14,
                                  silu_on: bool, budget in prop::sample::select(vec![1usize, 3000, BAND_FLOATS]),
                                  seed in 0u64..1000) {
            let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut rnd = move || { s = s.wrapping_mul(6364136223846793005).wrapping_add(1); ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5 };
            let x = Array3::from_shape_simple_fn((ci, h, w), &mut rnd);
            let wt = Array4::from_shape_simple_fn((co, ci, 3, 3), &mut rnd);
            let scale: Vec<f32> = (0..co).map(|_| 1.0 + rnd()).collect();
            let shift: Vec<f32> = (0..co).map(|_| rnd()).collect();
            let g = Geom { ci, h, w, co, k: 3, stride: 1, pad: 1 };
            prop_assert!(applies(g));
            let mut out = vec![f32::NAN; co * h * w];
            let ep = Epilogue { scale: &scale, shift: &shift, silu: silu_on };
            let u = transform_weights(wt.as_slice().unwrap(), co, ci);
            conv2d_winograd_with(x.as_slice().unwrap(), g, &u, &ep, &mut out, budget);
            let want = conv2d_naive(x.view(), wt.view(), 1, 1);
            for (i, (&got, &raw)) in out.iter().zip(want.iter()).enumerate() {
                let c = i / (h * w);
                let lin = raw * scale[c] + shift[c];
                let exp = if silu_on { (lin as f64 / (1.0 + (-(lin as f64)).exp())) as f32 } else { lin };
                prop_assert!((got - exp).abs() <= 1e-4, "{} vs {} at {}", got, exp, i);
            }
        }
    }
}
