//! The im2col gather of the i16 convolution: the input as i16 with a border of pad codes,
//! and the packing of 32 output positions' receptive fields into a panel block of i16 pairs
//! (`[k2][NB]` words), vectorized for the CPU at run time. Every word of the used part of a
//! block is written from the input or the pad code, so blocks are reused without clearing.

use super::conv_i16::pair;
use super::micro_i16::NB;
use super::QConv;
use ndarray::ArrayView3;
use rayon::prelude::*;

/// The input as i16 with a border of `pad` pad codes, and the offset of every reduction row
/// `r = (c, ky, kx)` relative to an output position's window origin.
pub struct Padded {
    xp: Vec<i16>,
    wp: usize,
    rows: Vec<usize>,
}

impl Padded {
    pub fn new(x: ArrayView3<i32>, q: &QConv) -> Self {
        let (ci, h, w) = x.dim();
        let (k, pad) = (q.weight.dim().2, q.pad);
        let (hp, wp) = (h + 2 * pad, w + 2 * pad);
        let mut xp = vec![q.pad_value as i16; ci * hp * wp];
        xp.par_chunks_mut(hp * wp)
            .enumerate()
            .for_each(|(c, plane)| {
                for y in 0..h {
                    let dst = &mut plane[(y + pad) * wp + pad..(y + pad) * wp + pad + w];
                    for (d, &v) in dst.iter_mut().zip(x.slice(ndarray::s![c, y, ..])) {
                        *d = v as i16;
                    }
                }
            });
        let mut rows = Vec::with_capacity(ci * k * k);
        for c in 0..ci {
            for ky in 0..k {
                for kx in 0..k {
                    rows.push((c * hp + ky) * wp + kx);
                }
            }
        }
        Padded { xp, wp, rows }
    }

    /// Gather positions `p0..p0+NB` (clipped to `end`) into `block` as `[k2][NB]` words: rows
    /// `2j` and `2j+1` of position `p0 + t` as the pair at `j * NB + t` (a missing last odd
    /// row is 0; positions past `end` keep stale words, their sums are never read).
    /// Positions are taken in runs along one output row.
    #[inline(always)]
    fn pack_block_body(
        &self,
        wo: usize,
        s: usize,
        p0: usize,
        end: usize,
        k2: usize,
        block: &mut [i32],
    ) {
        let kk = self.rows.len();
        let end = (p0 + NB).min(end);
        let mut pos = p0;
        while pos < end {
            let (oy, ox0) = (pos / wo, pos % wo);
            let len = (wo - ox0).min(end - pos);
            let (t0, origin) = (pos - p0, oy * s * self.wp + ox0 * s);
            for j in 0..k2 {
                let dst = &mut block[j * NB + t0..j * NB + t0 + len];
                let lo = &self.xp[origin + self.rows[2 * j]..];
                if 2 * j + 1 >= kk {
                    for (d, &v) in dst.iter_mut().zip(lo.iter().step_by(s)) {
                        *d = pair(v as i32, 0);
                    }
                    continue;
                }
                let hi = &self.xp[origin + self.rows[2 * j + 1]..];
                let span = (len - 1) * s + 1;
                let (lo, hi) = (&lo[..span], &hi[..span]);
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
            pos += len;
        }
    }
}

multiversion! {
    /// [`Padded::pack_block_body`], vectorized.
    #[allow(clippy::too_many_arguments)]
    pub fn pack_block(src: &Padded, wo: usize, s: usize, p0: usize, end: usize, k2: usize, block: &mut [i32]) -> () = Padded::pack_block_body;
}
