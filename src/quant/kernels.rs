//! Integer kernels of the reference model, each with a naive version beside it.
//!
//! The fast convolution is exact: when codes and weights fit i16 and the worst-case sum fits
//! i31 it runs a tiled SIMD integer kernel ([`tiled`]: u8 × i8 VNNI for 8-bit codes, else
//! i16 pairs); otherwise a float GEMM on small
//! integers whose partial sums are bounded (from the actual weights) below 2^24 for f32,
//! else f64 (exact below 2^53). Property tests compare it with the naive i64 loop.

#[macro_use]
mod rows;
#[macro_use]
mod micro;
mod direct;
mod gather;
mod micro_u8;
mod prep;
mod requant32;
mod tiled;

use super::spec::{requant, rshift_round, sat, QFormat};
use super::{QAct, QConv};
use crate::model::conv::{im2col, matmul, matmul_f64, out_size};
use ndarray::{Array3, ArrayView3, Axis};
use rayon::prelude::*;

/// Output height and width of convolution `q` on an `h × w` input.
fn out_hw(q: &QConv, h: usize, w: usize) -> (usize, usize) {
    let k = q.weight.dim().2;
    (
        out_size(h, k, q.stride, q.pad),
        out_size(w, k, q.stride, q.pad),
    )
}

/// Output buffer shared by the parallel tasks of a convolution; each task writes only its
/// own elements.
struct SharedOut<T>(*mut T);
// SAFETY: tasks write disjoint elements and the buffer outlives them.
unsafe impl<T: Send> Sync for SharedOut<T> {}
impl<T> SharedOut<T> {
    fn ptr(&self) -> *mut T {
        self.0
    }
}

/// Accumulators `sum(w * q) + bias` of an integer convolution, padding with `pad_value`.
pub fn conv_acc(x: ArrayView3<i32>, q: &QConv) -> Array3<i64> {
    if tiled::applicable(x, q) {
        return tiled::conv_acc(x, q);
    }
    let (ci, h, w) = x.dim();
    let (co, _, k, _) = q.weight.dim();
    let (ho, wo) = out_hw(q, h, w);
    let z = q.pad_value;
    // Centre the codes on the zero point so that padding is 0.
    let xc = x.mapv(|v| (v - z) as f32);
    let span = x.iter().fold(0i64, |m, &v| m.max((v - z).abs() as i64));
    let wsum_abs: i64 = q
        .weight
        .axis_iter(Axis(0))
        .map(|wc| wc.iter().map(|&v| v.abs() as i64).sum::<i64>())
        .max()
        .unwrap_or(0);
    let kk = ci * k * k;
    let n = ho * wo;
    let cols = if k == 1 && q.stride == 1 && q.pad == 0 {
        xc.into_raw_vec_and_offset().0
    } else {
        im2col(xc.view(), k, q.stride, q.pad)
    };
    let wf: Vec<f32> = q.weight.iter().map(|&v| v as f32).collect();
    let raw: Vec<i64> = if wsum_abs * span < (1 << 24) {
        let mut out = vec![0f32; co * n];
        matmul(co, n, kk, &wf, &cols, &mut out);
        out.into_iter().map(|v| v as i64).collect()
    } else {
        let a: Vec<f64> = wf.iter().map(|&v| v as f64).collect();
        let b: Vec<f64> = cols.iter().map(|&v| v as f64).collect();
        let mut out = vec![0f64; co * n];
        matmul_f64(co, n, kk, &a, &b, &mut out);
        out.into_iter().map(|v| v as i64).collect()
    };
    let mut acc = Array3::from_shape_vec((co, ho, wo), raw).expect("shape");
    // Undo the centring: bias already holds -z*sum(w); centred sums need +z*sum(w) back.
    for (o, mut plane) in acc.outer_iter_mut().enumerate() {
        let wsum: i64 = q
            .weight
            .index_axis(Axis(0), o)
            .iter()
            .map(|&v| v as i64)
            .sum();
        let add = q.bias[o] + z as i64 * wsum;
        plane.mapv_inplace(|v| v + add);
    }
    acc
}

/// Output codes of an integer convolution: [`conv_output`] of [`conv_acc`], with the
/// epilogue fused into the tiled i16 kernel when it applies (same codes, bit for bit).
pub fn conv(x: ArrayView3<i32>, q: &QConv, out: &QFormat) -> Array3<i32> {
    // The i32 form of each channel's requantizer where it is exact (requant32::Requant32).
    let fmt = match &q.act {
        QAct::None => out,
        QAct::Lut { pre, .. } => pre,
    };
    let p = prep::get(q, fmt);
    let r32 = &p.r32;
    let bytes = match &q.act {
        QAct::Lut { table, .. } => requant32::ByteTable::new(table),
        QAct::None => None,
    };
    let finish = |o: usize, acc: &[i32], dst: &mut [i32]| {
        let (m, s, b) = (q.mult[o], q.shift[o], q.bias[o]);
        match (&q.act, &r32[o]) {
            (QAct::None, Some(r)) => requant32::requant32_row(acc, r, dst),
            (QAct::Lut { table, .. }, Some(r)) if table.len() > r.qmax() as usize => match &bytes {
                Some(bt) => requant32::table8_row(acc, r, bt, dst),
                None => requant32::table32_row(acc, r, table, dst),
            },
            (QAct::None, None) => rows::requant_row(acc, b, m, s, out, dst),
            (QAct::Lut { pre, table }, _) => rows::table_row(acc, b, m, s, pre, table, dst),
        }
    };
    let wrange = (p.wlo, p.whi);
    // The direct u8 kernel's layers: the input's range comes from its packing into quad
    // words (one pass over the input instead of a scan and then the packing).
    if let Some((wp, kw)) = p
        .direct
        .as_ref()
        .filter(|_| micro::Isa::Avx512VnniU8.available())
    {
        let src = direct::Quads::new(x, q);
        if tiled::choose_for_range(src.range, q, wrange, p.wsum) == Some(micro::Isa::Avx512VnniU8) {
            let tile = direct::tile_blocks(x.dim().0, q);
            return direct::conv_quads(&src, q, wp, *kw, tile, finish);
        }
    }
    let Some(isa) = tiled::choose_with(x, q, wrange, p.wsum) else {
        return conv_output(&conv_acc(x, q), q, out);
    };
    let packed = p.direct.as_ref().map(|(w, kw)| (&w[..], *kw));
    tiled::conv_isa(x, q, isa, packed, finish)
}

/// Naive accumulators: the definition, in i64.
pub fn conv_acc_naive(x: ArrayView3<i32>, q: &QConv) -> Array3<i64> {
    let (ci, h, w) = x.dim();
    let (co, _, k, _) = q.weight.dim();
    let (ho, wo) = out_hw(q, h, w);
    Array3::from_shape_fn((co, ho, wo), |(o, oy, ox)| {
        let mut acc = q.bias[o];
        for c in 0..ci {
            for ky in 0..k {
                for kx in 0..k {
                    let iy = (oy * q.stride + ky) as isize - q.pad as isize;
                    let ix = (ox * q.stride + kx) as isize - q.pad as isize;
                    let v = if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                        q.pad_value
                    } else {
                        x[[c, iy as usize, ix as usize]]
                    };
                    acc += v as i64 * q.weight[[o, c, ky, kx]] as i64;
                }
            }
        }
        acc
    })
}

/// Requantize accumulators (and look up the SiLU table) into output codes of `out`.
pub fn conv_output(acc: &Array3<i64>, q: &QConv, out: &QFormat) -> Array3<i32> {
    let mut y = Array3::<i32>::zeros(acc.raw_dim());
    y.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(acc.axis_iter(Axis(0)).into_par_iter())
        .enumerate()
        .for_each(|(o, (mut yo, ao))| {
            let (m, s) = (q.mult[o], q.shift[o]);
            match &q.act {
                QAct::None => yo.zip_mut_with(&ao, |d, &a| *d = requant(a, m, s, out)),
                QAct::Lut { pre, table } => {
                    yo.zip_mut_with(&ao, |d, &a| *d = table[requant(a, m, s, pre) as usize])
                }
            }
        });
    y
}

/// Max pooling on codes (padding never wins, as with -inf): the float model's separable
/// max pooling on `i32`.
pub fn maxpool(x: ArrayView3<i32>, k: usize, stride: usize, pad: usize) -> Array3<i32> {
    crate::model::ops::maxpool(x, k, stride, pad)
}

/// Saturating add of inputs aligned by rounding shifts: `sat(sum(rshift(q_i - z_i, s_i)) + z_out)`.
pub fn add(xs: &[ArrayView3<i32>], fmts: &[QFormat], shifts: &[i32], out: &QFormat) -> Array3<i32> {
    let dim = xs[0].raw_dim();
    let ins: Vec<_> = xs.iter().map(|x| x.as_standard_layout()).collect();
    let ins: Vec<&[i32]> = ins
        .iter()
        .map(|x| {
            assert_eq!(x.raw_dim(), dim, "add input shapes");
            x.as_slice().expect("standard layout")
        })
        .collect();
    let (zero, qmax) = (out.zero as i64, out.qmax() as i64);
    // Per input: zero point, rounding addend, left and right shift, so that
    // `rshift_round(v, s) == ((v + add) << shl) >> shr` with one form for both signs of `s`.
    let parts: Vec<[i64; 4]> = fmts
        .iter()
        .zip(shifts)
        .map(|(f, &s)| match s {
            s if s > 0 => [f.zero as i64, 1 << (s - 1), 0, s as i64],
            s => [f.zero as i64, 0, -s as i64, 0],
        })
        .collect();
    let mut y = vec![0i32; ndarray::Dimension::size(&dim)];
    y.par_chunks_mut(1 << 14).enumerate().for_each(|(c, d)| {
        let at = c << 14;
        let n = d.len();
        if let ([a, b], [pa, pb]) = (&ins[..], &parts[..]) {
            add2_row(&a[at..at + n], &b[at..at + n], *pa, *pb, zero, qmax, d);
            return;
        }
        for (t, v) in d.iter_mut().enumerate() {
            let mut a = zero;
            for ((x, f), &s) in ins.iter().zip(fmts).zip(shifts) {
                a += rshift_round((x[at + t] - f.zero) as i64, s);
            }
            *v = sat(a, 0, qmax) as i32;
        }
    });
    Array3::from_shape_vec(dim, y).expect("add shape")
}

#[inline(always)]
fn add2_body(
    a: &[i32],
    b: &[i32],
    pa: [i64; 4],
    pb: [i64; 4],
    zero: i64,
    qmax: i64,
    d: &mut [i32],
) {
    let term = |v: i32, p: [i64; 4]| ((v as i64 - p[0] + p[1]) << p[2]) >> p[3];
    for ((d, &x), &y) in d.iter_mut().zip(a).zip(b) {
        *d = sat(zero + term(x, pa) + term(y, pb), 0, qmax) as i32;
    }
}

multiversion! {
    /// The two-input [`add`] on one row of elements (the shifts in the form of [`add`]).
    fn add2_row(a: &[i32], b: &[i32], pa: [i64; 4], pb: [i64; 4], zero: i64, qmax: i64, d: &mut [i32]) -> () = add2_body;
}

#[inline(always)]
fn input_codes_body(x: &[f32], shift: u32, d: &mut [i32]) {
    for (d, &v) in d.iter_mut().zip(x) {
        // `f32::round` (half away from zero) from `trunc`, which vectorizes: `y - trunc(y)`
        // is exact, and infinities and NaN come out as `round` gives them.
        let y = v * 255.0;
        let t = y.trunc();
        let r = if (y - t).abs() >= 0.5 {
            t + 1f32.copysign(y)
        } else {
            t
        };
        *d = (r as i32).clamp(0, 255) >> shift;
    }
}

multiversion! {
    /// `d[i] = ((x[i] * 255).round() as i32).clamp(0, 255) >> shift`.
    fn input_codes_row(x: &[f32], shift: u32, d: &mut [i32]) -> () = input_codes_body;
}

/// Pixel codes of a `[3,H,W]` image in [0,1]: `((v * 255).round() as i32).clamp(0, 255) >>
/// shift` per element, vectorized and on rayon.
pub fn input_codes(x: &Array3<f32>, shift: u32) -> Array3<i32> {
    let xs = x.as_standard_layout();
    let xs = xs.as_slice().expect("standard layout");
    let mut y = vec![0i32; xs.len()];
    y.par_chunks_mut(1 << 14)
        .zip(xs.par_chunks(1 << 14))
        .for_each(|(d, s)| input_codes_row(s, shift, d));
    Array3::from_shape_vec(x.raw_dim(), y).expect("input shape")
}

/// Nearest-neighbour upsampling of codes by an integer factor (each widened row written
/// `f` times).
pub fn upsample(x: ArrayView3<i32>, f: usize) -> Array3<i32> {
    crate::model::ops::upsample_nearest(x, f)
}

/// Concatenation along channels: each input's elements copied once, in order (the same
/// array as `ndarray::concatenate(Axis(0), xs)`).
pub fn concat(xs: &[ArrayView3<i32>]) -> Array3<i32> {
    let (_, h, w) = xs[0].dim();
    let mut c = 0;
    let mut y = Vec::with_capacity(xs.iter().map(|x| x.len()).sum());
    for x in xs {
        assert_eq!((x.dim().1, x.dim().2), (h, w), "concat shapes");
        c += x.dim().0;
        match x.as_slice() {
            Some(v) => y.extend_from_slice(v),
            None => y.extend(x.iter().copied()),
        }
    }
    Array3::from_shape_vec((c, h, w), y).expect("concat shape")
}

/// Shared pieces of the kernel tests: a xorshift generator and random codes.
#[cfg(test)]
mod test_util {
    use ndarray::Array3;

    /// Xorshift64 generator (`seed` must not be 0).
    pub struct Rng(pub u64);

    impl Rng {
        /// Next value in `0..m`.
        pub fn below(&mut self, m: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % m
        }

        /// Codes in 0..=255, a fifth of them 0 and a fifth 255.
        pub fn codes(&mut self, dim: (usize, usize, usize)) -> Array3<i32> {
            Array3::from_shape_simple_fn(dim, || match self.below(5) {
                0 => 0,
                1 => 255,
                _ => self.below(256) as i32,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `add` and `upsample` equal their element-wise definitions.
    #[test]
    fn add_and_upsample_match_definitions() {
        let a = Array3::from_shape_fn((3, 5, 7), |(c, y, x)| {
            ((c * 31 + y * 7 + x * 13) % 256) as i32
        });
        let b = Array3::from_shape_fn((3, 5, 7), |(c, y, x)| {
            ((c * 17 + y * 3 + x * 29) % 256) as i32
        });
        let fa = QFormat::pow2(8, 4, 37);
        let fb = QFormat::pow2(8, 5, 200);
        let out = QFormat::pow2(8, 3, 11);
        for shifts in [[1, 2], [0, -1], [3, 0]] {
            let got = add(&[a.view(), b.view()], &[fa, fb], &shifts, &out);
            for ((i, &g), (&p, &q)) in got.indexed_iter().zip(a.iter().zip(b.iter())) {
                let s = rshift_round((p - fa.zero) as i64, shifts[0])
                    + rshift_round((q - fb.zero) as i64, shifts[1]);
                assert_eq!(
                    g as i64,
                    sat(s + out.zero as i64, 0, 255),
                    "{i:?} {shifts:?}"
                );
            }
        }
        for f in [1, 2, 3] {
            let up = upsample(a.view(), f);
            assert_eq!(up.dim(), (3, 5 * f, 7 * f));
            for ((c, y, x), &v) in up.indexed_iter() {
                assert_eq!(v, a[[c, y / f, x / f]]);
            }
        }
    }

    /// `input_codes` equals its definition with `f32::round`, on halves, near-halves,
    /// out-of-range values, infinities and NaN; the two-input `add` at saturation.
    #[test]
    fn input_codes_and_add2_match_definitions() {
        let mut v: Vec<f32> = (0..=600).map(|i| i as f32 / 510.0 - 0.1).collect();
        for k in 0..=255 {
            let h = (k as f32 + 0.5) / 255.0;
            v.extend([
                h,
                f32::from_bits(h.to_bits() + 1),
                f32::from_bits(h.to_bits() - 1),
            ]);
        }
        v.extend([
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -0.0,
            1e30,
            -1e30,
            0.5 / 255.0,
        ]);
        v.resize(3 * 7 * (v.len() / 21 + 1), 0.25);
        let n = v.len() / 21;
        let x = Array3::from_shape_vec((3, 7, n), v).unwrap();
        for shift in [0, 1, 3] {
            let got = input_codes(&x, shift);
            for (g, &p) in got.iter().zip(x.iter()) {
                let want = ((p * 255.0).round() as i32).clamp(0, 255) >> shift;
                assert_eq!(*g, want, "{p} shift {shift}");
            }
        }
        let a = Array3::from_shape_fn((2, 3, 50), |(c, y, x)| {
            ((c * 97 + y * 31 + x * 7) % 256) as i32
        });
        let b = Array3::from_shape_fn((2, 3, 50), |(c, y, x)| {
            ((c * 13 + y * 71 + x * 3) % 256) as i32
        });
        let out = QFormat::pow2(8, 3, 250);
        for shifts in [[-2, 4], [0, 0], [5, -1]] {
            let (fa, fb) = (QFormat::pow2(8, 4, 0), QFormat::pow2(8, 5, 255));
            let got = add(&[a.view(), b.view()], &[fa, fb], &shifts, &out);
            for ((g, &p), &q) in got.iter().zip(a.iter()).zip(b.iter()) {
                let s = rshift_round((p - fa.zero) as i64, shifts[0])
                    + rshift_round((q - fb.zero) as i64, shifts[1]);
                assert_eq!(*g as i64, sat(s + out.zero as i64, 0, 255), "{shifts:?}");
            }
        }
    }

    /// `maxpool` on codes equals the window definition (the max over the in-range part of
    /// each window, padding never winning), for the SPPF shape and odd sizes, strides and pads.
    /// `concat` equals ndarray's concatenation, also for a non-contiguous input.
    #[test]
    fn concat_matches_ndarray() {
        let a = Array3::from_shape_fn((2, 3, 4), |(c, y, x)| (c * 100 + y * 10 + x) as i32);
        let b = Array3::from_shape_fn((3, 4, 3), |(c, y, x)| -((c * 100 + y * 10 + x) as i32));
        let bt = b.view().permuted_axes([0, 2, 1]);
        let v = [a.view(), bt, a.view()];
        assert_eq!(concat(&v), ndarray::concatenate(Axis(0), &v).unwrap());
    }

    #[test]
    fn maxpool_matches_definition() {
        for &(c, h, w, k, stride, pad) in &[
            (3, 20, 20, 5, 1, 2),
            (2, 7, 9, 3, 2, 1),
            (1, 5, 4, 2, 2, 0),
            (2, 1, 1, 5, 1, 2),
            (4, 6, 11, 3, 1, 0),
        ] {
            let x = Array3::from_shape_fn((c, h, w), |(ch, y, xx)| {
                ((ch * 7919 + y * 104729 + xx * 31) % 512) as i32 - 256
            });
            let got = maxpool(x.view(), k, stride, pad);
            let (ho, wo) = (out_size(h, k, stride, pad), out_size(w, k, stride, pad));
            assert_eq!(got.dim(), (c, ho, wo));
            for ((ch, oy, ox), &g) in got.indexed_iter() {
                let (y0, x0) = (
                    (oy * stride) as isize - pad as isize,
                    (ox * stride) as isize - pad as isize,
                );
                let mut m = i32::MIN;
                for yy in y0.max(0)..(y0 + k as isize).min(h as isize) {
                    for xx in x0.max(0)..(x0 + k as isize).min(w as isize) {
                        m = m.max(x[[ch, yy as usize, xx as usize]]);
                    }
                }
                assert_eq!(
                    g, m,
                    "{c}x{h}x{w} k {k} s {stride} p {pad} at {ch},{oy},{ox}"
                );
            }
        }
    }
}
