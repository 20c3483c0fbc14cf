//! Exact integer convolution on 16-bit operands, used when codes and weights fit i16 and the
//! worst-case sum `max|code| * max_o sum|w_o|` fits i31, so no i32 lane of the SIMD
//! micro-kernels ([`super::micro_i16`]: AVX-512 VNNI or AVX2) can overflow. The i32 sums are
//! exact; the bias is added in i64 and the epilogue (requantize / SiLU table, or the raw
//! accumulator) is the scalar definition, so results are bit-identical to the naive loop.
//!
//! Cache blocking: output positions are cut into tiles whose im2col panel (`k2` pairs of
//! reduction rows × tile, i16 pairs) fits in L2; each tile is gathered from the padded input,
//! multiplied block by block (a weight block of `mr` channels stays in L1 while it sweeps the
//! tile's 32-position blocks) and finished while hot. Tiles run in parallel on rayon and own
//! disjoint output positions.

use super::gather::{pack_block, Padded};
use super::micro_i16::{micro, Isa, MR_MAX, NB};
use super::rows::max_abs;
use super::QConv;
use crate::model::conv::out_size;
use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;

/// Panel bytes per tile: half of this machine's 1 MiB L2.
const TILE_BYTES: usize = 1 << 19;

/// True when the exact i16 path applies to this layer and input on this CPU.
pub fn applicable(x: ArrayView3<i32>, q: &QConv) -> bool {
    if Isa::detect().is_none() {
        return false;
    }
    let fits = |v: i64| (-(1 << 15)..(1 << 15)).contains(&v);
    let pad = (q.pad_value as i64).abs();
    let xmax = match x.as_slice() {
        Some(s) => max_abs(s, pad),
        None => x.iter().fold(pad, |m, &v| m.max((v as i64).abs())),
    };
    let ws = q.weight.as_standard_layout();
    let ws = ws.as_slice().expect("standard layout");
    if !fits(xmax) || !fits(max_abs(ws, 0)) {
        return false;
    }
    let kk = ws.len() / q.weight.dim().0.max(1);
    let wsum = ws
        .chunks_exact(kk.max(1))
        .map(|wc| wc.iter().map(|&v| v.unsigned_abs() as i64).sum::<i64>())
        .max()
        .unwrap_or(0);
    xmax * wsum < 1 << 31
}

pub(super) fn pair(lo: i32, hi: i32) -> i32 {
    ((lo as u32 & 0xffff) | ((hi as u32) << 16)) as i32
}

/// Output buffer shared by the tile tasks; each task writes only its own positions.
struct SharedOut<T>(*mut T);
// SAFETY: tasks write disjoint elements (distinct output positions) and the buffer outlives them.
unsafe impl<T: Send> Sync for SharedOut<T> {}
impl<T> SharedOut<T> {
    fn ptr(&self) -> *mut T {
        self.0
    }
}

/// Accumulators `bias + sum(w * code)`; call only when [`applicable`] holds.
pub fn conv_acc(x: ArrayView3<i32>, q: &QConv) -> Array3<i64> {
    conv_fused(x, q, |o, acc, dst: &mut [i64]| {
        let b = q.bias[o];
        for (d, &a) in dst.iter_mut().zip(acc) {
            *d = a as i64 + b;
        }
    })
}

/// Output elements `finish(o, sums, dst)` per channel, with the best kernel and default tiles;
/// call only when [`applicable`] holds.
pub fn conv_fused<T, F>(x: ArrayView3<i32>, q: &QConv, finish: F) -> Array3<T>
where
    T: Copy + Default + Send,
    F: Fn(usize, &[i32], &mut [T]) + Sync,
{
    let isa = Isa::detect().expect("applicable() checked the CPU");
    conv_with(x, q, isa, TILE_BYTES, finish)
}

/// Run the tiled convolution with kernel `isa` and panel budget `tile_bytes`; `finish(o,
/// sums, dst)` turns the i32 sums (without bias) of channel `o` at consecutive output
/// positions into the output elements `dst` (same length). Output `[co, ho, wo]`.
pub fn conv_with<T, F>(
    x: ArrayView3<i32>,
    q: &QConv,
    isa: Isa,
    tile_bytes: usize,
    finish: F,
) -> Array3<T>
where
    T: Copy + Default + Send,
    F: Fn(usize, &[i32], &mut [T]) + Sync,
{
    let (ci, h, w) = x.dim();
    let (co, _, k, _) = q.weight.dim();
    let (ho, wo) = (
        out_size(h, k, q.stride, q.pad),
        out_size(w, k, q.stride, q.pad),
    );
    let (kk, n) = (ci * k * k, ho * wo);
    let k2 = kk.div_ceil(2);
    let mr = isa.mr();
    let src = Padded::new(x, q);
    let wp = pack_weights(q, kk, k2, mr);
    // Tile width: a multiple of NB within the budget, and at least four tiles when possible.
    let tile = (tile_bytes / (4 * k2 * NB))
        .clamp(1, 32)
        .min(n.div_ceil(4 * NB).max(1))
        * NB;
    let mut out = vec![T::default(); co * n];
    let dst = SharedOut(out.as_mut_ptr());
    let dst = &dst;
    (0..n.div_ceil(tile)).into_par_iter().for_each_init(
        || vec![0i32; k2 * tile],
        |panel, t| {
            let (p0, p1) = (t * tile, ((t + 1) * tile).min(n));
            let blocks = (p1 - p0).div_ceil(NB);
            for cb in 0..blocks {
                let pb = &mut panel[cb * k2 * NB..(cb + 1) * k2 * NB];
                pack_block(&src, wo, q.stride, p0 + cb * NB, p1, k2, pb);
            }
            let mut acc = [[0i32; NB]; MR_MAX];
            for ob in (0..co).step_by(mr) {
                let a = &wp[ob * k2..(ob + mr) * k2];
                for cb in 0..blocks {
                    micro(isa, a, &panel[cb * k2 * NB..], k2, &mut acc);
                    let (c0, len) = (p0 + cb * NB, (p1 - p0 - cb * NB).min(NB));
                    for (r, row) in acc.iter().enumerate().take((co - ob).min(mr)) {
                        let o = ob + r;
                        // SAFETY: positions c0..c0+len of channel o are inside the co×n
                        // buffer and belong to tile t only.
                        let d = unsafe {
                            std::slice::from_raw_parts_mut(dst.ptr().add(o * n + c0), len)
                        };
                        finish(o, &row[..len], d);
                    }
                }
            }
        },
    );
    Array3::from_shape_vec((co, ho, wo), out).expect("shape")
}

/// Weight words `[co / mr][k2][mr]` (pairs of i16 along the reduction), zero-padded to a
/// multiple of `mr` channels and an even reduction length.
fn pack_weights(q: &QConv, kk: usize, k2: usize, mr: usize) -> Vec<i32> {
    let co = q.weight.dim().0;
    let ws = q.weight.as_standard_layout();
    let ws = ws.as_slice().expect("standard layout");
    let mut wp = vec![0i32; co.next_multiple_of(mr) * k2];
    for o in 0..co {
        let at = |r: usize| if r < kk { ws[o * kk + r] } else { 0 };
        let (blk, r) = (o / mr, o % mr);
        for j in 0..k2 {
            wp[(blk * k2 + j) * mr + r] = pair(at(2 * j), at(2 * j + 1));
        }
    }
    wp
}

#[cfg(test)]
mod tests {
    use super::super::{conv_acc_naive, QAct, QConv};
    use super::Isa;
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

    /// Shapes with several channel blocks, partial blocks, several tiles and blocks that span
    /// output rows, at full 8-bit and near-limit 15-bit ranges, with every kernel this CPU
    /// has and with tiny and default tile budgets: equal to the definition.
    #[test]
    fn equals_naive_on_block_and_tile_tails() {
        let isas: Vec<Isa> = [Isa::Avx2, Isa::Avx512Vnni]
            .into_iter()
            .filter(|i| i.available())
            .collect();
        if isas.is_empty() {
            eprintln!("SKIPPED: no AVX2 on this CPU, the i16 path is never used");
            return;
        }
        for (i, &(co, ci, k, stride, h, w, wmax, xmax)) in [
            (9, 7, 3, 1, 23, 19, 127, 255),
            (6, 5, 3, 2, 17, 30, 127, 255),
            (13, 33, 1, 1, 5, 7, 127, 255),
            (5, 2, 1, 2, 40, 40, 1 << 14, 30000),
            (17, 3, 3, 2, 64, 48, 127, 255),
        ]
        .iter()
        .enumerate()
        {
            let q = layer(co, ci, k, stride, wmax, 7 + i as u64);
            let x = Array3::from_shape_fn((ci, h, w), |(c, y, xx)| {
                ((c * 7919 + y * 104729 + xx * 31) % (xmax + 1)) as i32
            });
            assert!(super::applicable(x.view(), &q), "case {i}");
            let want = conv_acc_naive(x.view(), &q);
            assert_eq!(super::conv_acc(x.view(), &q), want, "case {i}");
            for &isa in &isas {
                for budget in [1, 5000, super::TILE_BYTES] {
                    let got =
                        super::conv_with(x.view(), &q, isa, budget, |o, acc, d: &mut [i64]| {
                            for (d, &a) in d.iter_mut().zip(acc) {
                                *d = a as i64 + q.bias[o];
                            }
                        });
                    assert_eq!(got, want, "case {i} {isa:?} budget {budget}");
                }
            }
        }
    }

    /// The fused epilogue of `kernels::conv` (requantize with multipliers and both shift
    /// signs, and a SiLU-style table) gives the codes of `conv_output` of the definition.
    #[test]
    fn fused_epilogue_equals_conv_output_of_naive() {
        use super::super::{conv, conv_output};
        use crate::quant::spec::QFormat;
        let out = QFormat::pow2(8, 4, 3);
        let pre = QFormat::pow2(6, 2, 17);
        for (i, lut) in [false, true].into_iter().enumerate() {
            let mut q = layer(11, 6, 3, 1 + i, 127, 40 + i as u64);
            q.mult = (0..11).map(|o| 1 + 37 * o as i64).collect();
            q.shift = (0..11).map(|o| o * 2 - 3).collect();
            if lut {
                q.act = QAct::Lut {
                    pre,
                    table: (0..64).map(|v| (v * 5 + 1) % 251).collect(),
                };
            }
            let x = Array3::from_shape_fn((6, 29, 37), |(c, y, xx)| {
                ((c * 13 + y * 7 + xx) % 256) as i32
            });
            if !super::applicable(x.view(), &q) {
                eprintln!("SKIPPED: no AVX2 on this CPU, the i16 path is never used");
                return;
            }
            let want = conv_output(&conv_acc_naive(x.view(), &q), &q, &out);
            assert_eq!(conv(x.view(), &q, &out), want, "lut {lut}");
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
