//! Exact integer convolution on 16-bit operands with AVX2 (`vpmaddwd`: pairs of i16 × i16
//! products summed into i32 lanes), used when codes and weights fit i16 and the worst-case
//! sum `max|code| * max_o sum|w_o|` fits i31, so no i32 lane can overflow. The accumulator
//! is then exact; the bias is added in i64 afterwards.
//!
//! Layout: each task gathers the receptive fields of 16 output positions (im2col with the
//! pad code) into a small panel of `k2` pairs of reduction rows × 16 positions × 2 i16, then
//! runs every output channel over it (weights as `[c_out][k2]` words of two i16), 4 channels
//! × 16 positions per micro-kernel call. Tasks own disjoint output positions.

use super::QConv;
use crate::model::conv::out_size;
use ndarray::{Array3, ArrayView3, Axis};
use rayon::prelude::*;

/// Output positions per panel (two AVX2 vectors of i32).
const NB: usize = 16;
/// Output channels per micro-kernel call.
const MR: usize = 4;

/// True when the exact i16 path applies to this layer and input on this CPU.
pub fn applicable(x: ArrayView3<i32>, q: &QConv) -> bool {
    if !avx2() {
        return false;
    }
    let fits = |v: i64| (-(1 << 15)..(1 << 15)).contains(&v);
    let xmax = x.iter().fold(q.pad_value.unsigned_abs() as i64, |m, &v| {
        m.max(v.abs() as i64)
    });
    if !fits(xmax) || !q.weight.iter().all(|&w| fits(w as i64)) {
        return false;
    }
    let wsum = q
        .weight
        .axis_iter(Axis(0))
        .map(|wc| wc.iter().map(|&v| v.unsigned_abs() as i64).sum::<i64>())
        .max()
        .unwrap_or(0);
    xmax * wsum < 1 << 31
}

fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn pair(lo: i32, hi: i32) -> i32 {
    ((lo as u32 & 0xffff) | ((hi as u32) << 16)) as i32
}

/// Output buffer shared by the panel tasks; each task writes only its own columns.
struct SharedOut(*mut i64);
// SAFETY: tasks write disjoint elements (distinct output positions) and the buffer outlives them.
unsafe impl Sync for SharedOut {}
impl SharedOut {
    fn ptr(&self) -> *mut i64 {
        self.0
    }
}

/// Accumulators `bias + sum(w * code)`; call only when [`applicable`] holds.
pub fn conv_acc(x: ArrayView3<i32>, q: &QConv) -> Array3<i64> {
    let (ci, h, w) = x.dim();
    let (co, _, k, _) = q.weight.dim();
    let (ho, wo) = (
        out_size(h, k, q.stride, q.pad),
        out_size(w, k, q.stride, q.pad),
    );
    let (kk, n) = (ci * k * k, ho * wo);
    let k2 = kk.div_ceil(2);
    let src = Padded::new(x, q);
    // Weight words, rows padded to a multiple of MR with zeros.
    let rows = co.next_multiple_of(MR);
    let ws = q.weight.as_standard_layout();
    let ws = ws.as_slice().expect("standard layout");
    let mut wp = vec![0i32; rows * k2];
    for o in 0..co {
        for r2 in 0..k2 {
            let at = |r: usize| if r < kk { ws[o * kk + r] } else { 0 };
            wp[o * k2 + r2] = pair(at(2 * r2), at(2 * r2 + 1));
        }
    }
    let mut out = vec![0i64; co * n];
    let dst = SharedOut(out.as_mut_ptr());
    let dst = &dst;
    (0..n.div_ceil(NB)).into_par_iter().for_each_init(
        || vec![0i16; 2 * k2 * NB],
        |panel, p| {
            src.pack_panel(wo, q.stride, p * NB, n, k2, panel);
            let (c0, c1) = (p * NB, ((p + 1) * NB).min(n));
            let mut acc = [[0i32; NB]; MR];
            for ob in (0..rows).step_by(MR) {
                micro(&wp[ob * k2..(ob + MR) * k2], panel, k2, &mut acc);
                for (r, row) in acc.iter().enumerate().take(co.saturating_sub(ob)) {
                    let (o, b) = (ob + r, q.bias[ob + r]);
                    for (t, &v) in row.iter().enumerate().take(c1 - c0) {
                        // SAFETY: (o, c0 + t) is inside the co×n buffer and belongs to
                        // panel p only.
                        unsafe { *dst.ptr().add(o * n + c0 + t) = v as i64 + b };
                    }
                }
            }
        },
    );
    Array3::from_shape_vec((co, ho, wo), out).expect("shape")
}

/// The input as i16 with a border of `pad` pad codes, and the offset of every reduction row
/// `r = (c, ky, kx)` relative to an output position's window origin.
struct Padded {
    xp: Vec<i16>,
    wp: usize,
    rows: Vec<usize>,
}

impl Padded {
    fn new(x: ArrayView3<i32>, q: &QConv) -> Self {
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

    /// Gather positions `p0..p0+NB` (clipped to `n`) into `panel` as `[k2][NB][2]` i16: row
    /// `r` of position `p0 + t` at `((r / 2) * NB + t) * 2 + r % 2` (a missing last odd row
    /// is left as is: its weights are 0). Positions are taken in runs along one output row.
    fn pack_panel(&self, wo: usize, s: usize, p0: usize, n: usize, k2: usize, panel: &mut [i16]) {
        let kk = self.rows.len();
        let end = (p0 + NB).min(n);
        let mut pos = p0;
        while pos < end {
            let (oy, ox0) = (pos / wo, pos % wo);
            let len = (wo - ox0).min(end - pos);
            let (t0, origin) = (pos - p0, oy * s * self.wp + ox0 * s);
            for r2 in 0..k2 {
                let dst = &mut panel[(r2 * NB + t0) * 2..(r2 * NB + t0 + len) * 2];
                for half in 0..2 {
                    let r = 2 * r2 + half;
                    if r >= kk {
                        continue;
                    }
                    let src = &self.xp[origin + self.rows[r]..];
                    if s == 1 && len == NB {
                        let src: &[i16; NB] = src[..NB].try_into().expect("NB codes");
                        for (t, &v) in src.iter().enumerate() {
                            dst[2 * t + half] = v;
                        }
                    } else {
                        for (t, v) in src.iter().step_by(s).take(len).enumerate() {
                            dst[2 * t + half] = *v;
                        }
                    }
                }
            }
            pos += len;
        }
    }
}

/// `acc[r][t] = sum_j a[r*k2 + j] · b[j*NB + t]` over i16 pairs.
fn micro(a: &[i32], b: &[i16], k2: usize, acc: &mut [[i32; NB]; MR]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: only reached when `applicable` saw AVX2; the slices hold MR*k2 words and
    // k2*NB pairs (checked inside).
    unsafe {
        micro_avx2(a, b, k2, acc)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, b, k2, acc);
        unreachable!("the i16 path needs AVX2")
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn micro_avx2(a: &[i32], b: &[i16], k2: usize, acc: &mut [[i32; NB]; MR]) {
    use std::arch::x86_64::*;
    assert!(a.len() >= MR * k2 && b.len() >= 2 * k2 * NB);
    let mut s = [[_mm256_setzero_si256(); 2]; MR];
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    for j in 0..k2 {
        let b0 = _mm256_loadu_si256(bp.add(2 * j * NB) as *const __m256i);
        let b1 = _mm256_loadu_si256(bp.add(2 * j * NB + 16) as *const __m256i);
        for (r, sr) in s.iter_mut().enumerate() {
            let w = _mm256_set1_epi32(*ap.add(r * k2 + j));
            sr[0] = _mm256_add_epi32(sr[0], _mm256_madd_epi16(w, b0));
            sr[1] = _mm256_add_epi32(sr[1], _mm256_madd_epi16(w, b1));
        }
    }
    for (r, sr) in s.iter().enumerate() {
        _mm256_storeu_si256(acc[r].as_mut_ptr() as *mut __m256i, sr[0]);
        _mm256_storeu_si256(acc[r].as_mut_ptr().add(8) as *mut __m256i, sr[1]);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{conv_acc_naive, QAct, QConv};
    use ndarray::{Array3, Array4};

    fn layer(co: usize, ci: usize, k: usize, stride: usize, wmax: i64, seed: u64) -> QConv {
        let mut s = seed | 1;
        let mut rnd = move |m: i64| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % (2 * m as u64 + 1)) as i64 - m
        };
        QConv {
            weight: Array4::from_shape_simple_fn((co, ci, k, k), || rnd(wmax) as i32),
            wbits: 8,
            bias: (0..co).map(|_| rnd(1 << 20)).collect(),
            stride,
            pad: k / 2,
            pad_value: 37,
            mult: vec![1; co],
            shift: vec![0; co],
            wscale: vec![1.0; co],
            act: QAct::None,
            acc_bound: 0,
            acc_bits: 0,
        }
    }

    /// Shapes with several channel blocks, partial blocks, several panels and a panel that
    /// spans output rows, at full 8-bit and near-limit 15-bit ranges: equal to the definition.
    #[test]
    fn equals_naive_on_block_and_panel_tails() {
        for (i, &(co, ci, k, stride, h, w, wmax, xmax)) in [
            (9, 7, 3, 1, 23, 19, 127, 255),
            (6, 5, 3, 2, 17, 30, 127, 255),
            (13, 33, 1, 1, 5, 7, 127, 255),
            (5, 2, 1, 2, 40, 40, 1 << 14, 30000),
        ]
        .iter()
        .enumerate()
        {
            let q = layer(co, ci, k, stride, wmax, 7 + i as u64);
            let x = Array3::from_shape_fn((ci, h, w), |(c, y, xx)| {
                ((c * 7919 + y * 104729 + xx * 31) % (xmax + 1)) as i32
            });
            if !super::avx2() {
                eprintln!("SKIPPED: no AVX2 on this CPU, the i16 path is never used");
                return;
            }
            assert!(super::applicable(x.view(), &q), "case {i}");
            assert_eq!(super::conv_acc(x.view(), &q), conv_acc_naive(x.view(), &q));
        }
    }

    /// Ranges whose worst-case sum could leave i32 take the other path.
    #[test]
    fn refuses_sums_beyond_i31() {
        let q = layer(2, 64, 3, 1, 1 << 14, 3);
        let x = Array3::from_elem((64, 4, 4), 30000);
        assert!(!super::applicable(x.view(), &q));
    }
}
