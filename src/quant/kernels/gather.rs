//! The im2col gather of the integer convolution: the input as i16 with a border of pad codes,
//! and the packing of 32 output positions' receptive fields into a panel block of operand
//! words (`[kw][NB]`): pairs of i16 ([`Isa::Avx2`], [`Isa::Avx512Vnni`]) or quads of u8
//! codes ([`Isa::Avx512VnniU8`]), vectorized for the CPU at run time. Every word of the used
//! part of a block is written from the input or the pad code, so blocks are reused without
//! clearing.

use super::micro::{Isa, NB};
use super::QConv;
use ndarray::ArrayView3;
use rayon::prelude::*;

/// Word of two i16 (`lo` in the low half).
pub(super) fn pair(lo: i32, hi: i32) -> i32 {
    ((lo as u32 & 0xffff) | ((hi as u32) << 16)) as i32
}

/// Word of four bytes (`v[0]` in the low byte).
pub(super) fn quad(v: [i32; 4]) -> i32 {
    let b = |i: usize| (v[i] as u32 & 0xff) << (8 * i);
    (b(0) | b(1) | b(2) | b(3)) as i32
}

/// One run of block slots along an output row, see [`Padded::runs`].
#[derive(Clone, Copy, Default)]
struct Run {
    t0: usize,
    len: usize,
    origin: usize,
    span: usize,
}

/// The input as i16 with a border of `pad` pad codes, and the offset of every reduction row
/// `r = (c, ky, kx)` relative to an output position's window origin. The rows are padded to
/// a multiple of the word size with copies of row 0: their weights are 0, so any in-range
/// code there gives the same sums.
pub struct Padded {
    xp: Vec<i16>,
    wp: usize,
    rows: Vec<usize>,
}

impl Padded {
    pub fn new(x: ArrayView3<i32>, q: &QConv, group: usize) -> Self {
        let (ci, h, w) = x.dim();
        let (k, pad) = (q.weight.dim().2, q.pad);
        let (hp, wp) = (h + 2 * pad, w + 2 * pad);
        let mut xp = vec![q.pad_value as i16; ci * hp * wp];
        let xs = x.as_standard_layout();
        let xs = xs.as_slice().expect("standard layout");
        xp.par_chunks_mut(hp * wp)
            .zip(xs.par_chunks(h * w))
            .for_each(|(plane, src)| {
                for (y, row) in src.chunks_exact(w).enumerate() {
                    let at = (y + pad) * wp + pad;
                    narrow(row, &mut plane[at..at + w]);
                }
            });
        let kk = ci * k * k;
        let mut rows = Vec::with_capacity(kk.next_multiple_of(group));
        for c in 0..ci {
            for ky in 0..k {
                for kx in 0..k {
                    rows.push((c * hp + ky) * wp + kx);
                }
            }
        }
        rows.resize(kk.next_multiple_of(group), 0);
        Padded { xp, wp, rows }
    }

    /// The runs of positions `p0..p0+NB` (clipped to `end`) along output rows, and how many
    /// there are: block slots `t0..t0+len`, the window origin of the first one in `xp` and
    /// the input span (`(len - 1) * s + 1`) one reduction row reads. (An array, not a
    /// callback: a closure would not be inlined into the vectorized variants of the packers
    /// and would run as baseline x86-64 code.)
    #[inline(always)]
    fn runs(&self, wo: usize, s: usize, p0: usize, end: usize) -> ([Run; NB], usize) {
        let end = (p0 + NB).min(end);
        let mut out = [Run::default(); NB];
        let (mut pos, mut n) = (p0, 0);
        while pos < end {
            let (oy, ox0) = (pos / wo, pos % wo);
            let len = (wo - ox0).min(end - pos);
            out[n] = Run {
                t0: pos - p0,
                len,
                origin: oy * s * self.wp + ox0 * s,
                span: (len - 1) * s + 1,
            };
            n += 1;
            pos += len;
        }
        (out, n)
    }

    /// Input run of reduction row `r` from `origin`.
    #[inline(always)]
    fn row(&self, r: usize, origin: usize, span: usize) -> &[i16] {
        let at = origin + self.rows[r];
        &self.xp[at..at + span]
    }

    /// Gather positions `p0..p0+NB` (clipped to `end`) into `block` as `[kw][NB]` pairs:
    /// rows `2j, 2j+1` of position `p0 + t` in the word at `j * NB + t` (positions past
    /// `end` keep stale words, their sums are never read).
    #[inline(always)]
    fn pack_pairs(&self, wo: usize, s: usize, p0: usize, end: usize, kw: usize, block: &mut [i32]) {
        let (runs, nr) = self.runs(wo, s, p0, end);
        for &Run {
            t0,
            len,
            origin,
            span,
        } in &runs[..nr]
        {
            for j in 0..kw {
                let dst = &mut block[j * NB + t0..j * NB + t0 + len];
                let (lo, hi) = (
                    self.row(2 * j, origin, span),
                    self.row(2 * j + 1, origin, span),
                );
                if s == 1 {
                    for ((d, &l), &h) in dst.iter_mut().zip(lo).zip(hi) {
                        *d = pair(l as i32, h as i32);
                    }
                } else {
                    for (t, d) in dst.iter_mut().enumerate() {
                        *d = pair(lo[t * s] as i32, hi[t * s] as i32);
                    }
                }
            }
        }
    }

    /// As [`Self::pack_pairs`] with quads of u8 codes: rows `4j .. 4j+4` in one word.
    #[inline(always)]
    fn pack_quads(&self, wo: usize, s: usize, p0: usize, end: usize, kw: usize, block: &mut [i32]) {
        let (runs, nr) = self.runs(wo, s, p0, end);
        for &Run {
            t0,
            len,
            origin,
            span,
        } in &runs[..nr]
        {
            for j in 0..kw {
                let dst = &mut block[j * NB + t0..j * NB + t0 + len];
                let r: [&[i16]; 4] = std::array::from_fn(|g| self.row(4 * j + g, origin, span));
                if s == 1 {
                    for (t, d) in dst.iter_mut().enumerate() {
                        *d = quad([
                            r[0][t] as i32,
                            r[1][t] as i32,
                            r[2][t] as i32,
                            r[3][t] as i32,
                        ]);
                    }
                } else {
                    for (t, d) in dst.iter_mut().enumerate() {
                        let i = t * s;
                        *d = quad([
                            r[0][i] as i32,
                            r[1][i] as i32,
                            r[2][i] as i32,
                            r[3][i] as i32,
                        ]);
                    }
                }
            }
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pack_body(
    src: &Padded,
    isa: Isa,
    wo: usize,
    s: usize,
    p0: usize,
    end: usize,
    kw: usize,
    block: &mut [i32],
) {
    match isa.group() {
        2 => src.pack_pairs(wo, s, p0, end, kw, block),
        _ => src.pack_quads(wo, s, p0, end, kw, block),
    }
}

multiversion! {
    /// Pack one panel block for kernel `isa` ([`Padded::pack_block_body`]), vectorized.
    #[allow(clippy::too_many_arguments)]
    pub fn pack_block(src: &Padded, isa: Isa, wo: usize, s: usize, p0: usize, end: usize, kw: usize, block: &mut [i32]) -> () = pack_body;
}

#[inline(always)]
fn narrow_body(src: &[i32], dst: &mut [i16]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        *d = v as i16;
    }
}

multiversion! {
    /// `dst[i] = src[i] as i16` (the caller has checked the range), vectorized.
    fn narrow(src: &[i32], dst: &mut [i16]) -> () = narrow_body;
}
