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
    /// Pack one panel block for kernel `isa` ([`pack_body`]), auto-vectorized.
    #[allow(clippy::too_many_arguments)]
    fn pack_block_auto(src: &Padded, isa: Isa, wo: usize, s: usize, p0: usize, end: usize, kw: usize, block: &mut [i32]) -> () = pack_body;
}

/// Pack one panel block for kernel `isa`: positions `p0..p0+NB` (clipped to `end`) of an
/// output `wo` wide at stride `s`, `kw` words per position. The u8 quads at strides 1 and 2
/// (every YOLOv8n layer) take explicit AVX-512 code; the rest the auto-vectorized loops.
#[allow(clippy::too_many_arguments)]
pub fn pack_block(
    src: &Padded,
    isa: Isa,
    wo: usize,
    s: usize,
    p0: usize,
    end: usize,
    kw: usize,
    block: &mut [i32],
) {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512VnniU8 && (s == 1 || s == 2) {
        // SAFETY: `Isa::Avx512VnniU8` is only chosen on CPUs with AVX-512 F/BW (and VNNI).
        unsafe { src.pack_quads_avx512(wo, s, p0, end, kw, block) };
        return;
    }
    pack_block_auto(src, isa, wo, s, p0, end, kw, block)
}

/// Lowest `n` bits set (`n` ≤ 32).
#[inline(always)]
fn low_bits(n: usize) -> u32 {
    if n >= 32 {
        u32::MAX
    } else {
        (1u32 << n) - 1
    }
}

impl Padded {
    /// [`Self::pack_quads`] at stride 1 or 2 with AVX-512 F/BW: each run of up to 32
    /// positions loads its span of the four reduction rows of a word with masked loads (no
    /// element outside the span is read), combines the low bytes into quads and stores them
    /// with masked stores (no slot outside the run is written). Codes are in 0..=255 here
    /// (the caller chose the u8 kernel), so a code is its own low byte.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and BW; `s` must be 1 or 2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn pack_quads_avx512(
        &self,
        wo: usize,
        s: usize,
        p0: usize,
        end: usize,
        kw: usize,
        block: &mut [i32],
    ) {
        use std::arch::x86_64::*;
        debug_assert!(s == 1 || s == 2);
        // 16-bit lane 2i of the low result takes lane i of `a`, lane 2i+1 lane i of `b`
        // (index 32 + i); the high result the same from lane 16 + i.
        let lo_idx: [i16; 32] = std::array::from_fn(|l| ((l / 2) + 32 * (l % 2)) as i16);
        let hi_idx: [i16; 32] = std::array::from_fn(|l| (16 + (l / 2) + 32 * (l % 2)) as i16);
        let lo_idx = _mm512_loadu_si512(lo_idx.as_ptr() as *const __m512i);
        let hi_idx = _mm512_loadu_si512(hi_idx.as_ptr() as *const __m512i);
        let byte = _mm512_set1_epi32(0xff);
        let (runs, nr) = self.runs(wo, s, p0, end);
        for &Run {
            t0,
            len,
            origin,
            span,
        } in &runs[..nr]
        {
            let (m_lo, m_hi) = (
                low_bits(len) as u16,
                low_bits(len.saturating_sub(16)) as u16,
            );
            // (No closures here: they would not inherit the target features.)
            let (m1, m0, m32) = (
                low_bits(len),
                low_bits(span),
                low_bits(span.saturating_sub(32)),
            );
            for j in 0..kw {
                let r = [
                    self.row(4 * j, origin, span).as_ptr(),
                    self.row(4 * j + 1, origin, span).as_ptr(),
                    self.row(4 * j + 2, origin, span).as_ptr(),
                    self.row(4 * j + 3, origin, span).as_ptr(),
                ];
                let (q_lo, q_hi) = if s == 1 {
                    // 32 codes per row, one per 16-bit lane; pair rows into u16 lanes
                    // (r0 | r1 << 8, r2 | r3 << 8), then interleave the pairs into words.
                    let a = _mm512_or_si512(
                        _mm512_maskz_loadu_epi16(m1, r[0]),
                        _mm512_slli_epi16::<8>(_mm512_maskz_loadu_epi16(m1, r[1])),
                    );
                    let b = _mm512_or_si512(
                        _mm512_maskz_loadu_epi16(m1, r[2]),
                        _mm512_slli_epi16::<8>(_mm512_maskz_loadu_epi16(m1, r[3])),
                    );
                    (
                        _mm512_permutex2var_epi16(a, lo_idx, b),
                        _mm512_permutex2var_epi16(a, hi_idx, b),
                    )
                } else {
                    // Stride 2: position t's code is the low half of 32-bit word t of the
                    // span; two loads of up to 32 elements cover up to 32 positions.
                    let mut d = [[_mm512_setzero_si512(); 4]; 2];
                    for g in 0..4 {
                        d[0][g] = _mm512_maskz_loadu_epi16(m0, r[g]);
                        if m32 != 0 {
                            d[1][g] = _mm512_maskz_loadu_epi16(m32, r[g].add(32));
                        }
                    }
                    let mut q = [_mm512_setzero_si512(); 2];
                    for (q, d) in q.iter_mut().zip(&d) {
                        let b0 = _mm512_and_si512(d[0], byte);
                        let b1 = _mm512_slli_epi32::<8>(_mm512_and_si512(d[1], byte));
                        let b2 = _mm512_slli_epi32::<16>(_mm512_and_si512(d[2], byte));
                        let b3 = _mm512_slli_epi32::<24>(d[3]);
                        *q = _mm512_or_si512(_mm512_or_si512(b0, b1), _mm512_or_si512(b2, b3));
                    }
                    (q[0], q[1])
                };
                let dst = block[j * NB + t0..j * NB + t0 + len].as_mut_ptr();
                _mm512_mask_storeu_epi32(dst, m_lo, q_lo);
                if m_hi != 0 {
                    _mm512_mask_storeu_epi32(dst.add(16), m_hi, q_hi);
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::super::test_util::Rng;
    use super::super::QConv;
    use super::{pack_block, pack_body, Isa, Padded, NB};
    use ndarray::Array4;

    /// The AVX-512 quad packer writes the same words as the scalar definition of the packing
    /// (and leaves every slot outside the packed runs untouched): strides 1 and 2, kernel 1
    /// and 3, widths that make runs end inside a block, one position and a full block, codes
    /// at both ends of the byte range and pad codes 0 and 255.
    #[test]
    fn avx512_quads_equal_scalar_packing() {
        if !Isa::Avx512VnniU8.available() {
            eprintln!("SKIPPED: no AVX-512 VNNI on this CPU, the u8 packer is never used");
            return;
        }
        let mut rng = Rng(0x9e37_79b9);
        for &(ci, k, s, h, w, pad_value) in &[
            (3, 3, 2, 21, 17, 0),
            (5, 1, 1, 7, 9, 255),
            (4, 3, 1, 33, 40, 17),
            (2, 3, 2, 64, 64, 255),
            (7, 1, 2, 11, 35, 3),
            (1, 3, 1, 1, 1, 0),
            (6, 3, 1, 5, 80, 0),
        ] {
            let q = QConv::plain(Array4::zeros((1, ci, k, k)), vec![0], s, k / 2, pad_value);
            let x = rng.codes((ci, h, w));
            let src = Padded::new(x.view(), &q, 4);
            let kw = (ci * k * k).div_ceil(4);
            let (ho, wo) = super::super::out_hw(&q, h, w);
            let n = ho * wo;
            for p0 in (0..n).step_by(NB) {
                for end in [n, (p0 + 1).min(n), (p0 + 19).min(n)] {
                    let mut want = vec![-7i32; kw * NB];
                    let mut got = want.clone();
                    pack_body(&src, Isa::Avx512VnniU8, wo, s, p0, end, kw, &mut want);
                    pack_block(&src, Isa::Avx512VnniU8, wo, s, p0, end, kw, &mut got);
                    assert_eq!(got, want, "ci {ci} k {k} s {s} {h}x{w} p0 {p0} end {end}");
                }
            }
        }
    }
}
