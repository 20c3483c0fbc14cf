//! Exact tiled integer convolution on SIMD words, used when codes and weights fit i16 and the
//! worst-case sum `max|code| * max_o sum|w_o|` fits i31, so no i32 lane of the micro-kernels
//! ([`super::micro`]) can overflow. Codes in 0..=255 with weights in -128..=127 (8-bit
//! activations, weights of 8 bits or fewer) run the u8 × i8 kernel (`vpdpbusd`, four rows per
//! word) where the CPU has AVX-512 VNNI, everything else the i16-pair kernels. The i32 sums
//! are exact; the bias is added in i64 and the epilogue (requantize / SiLU table, or the raw
//! accumulator) is the scalar definition, so results are bit-identical to the naive loop.
//!
//! Cache blocking: output positions are cut into tiles whose im2col panel (`kw` words of
//! reduction rows × tile) fits in L2; each tile is gathered from the padded input,
//! multiplied block by block (a weight block of `mr` channels stays in L1 while it sweeps the
//! tile's 32-position blocks) and finished while hot. Tiles run in parallel on rayon and own
//! disjoint output positions.

use super::direct;
use super::gather::{pack_block, pair, quad, Padded};
use super::micro::{micro, Isa, MR_MAX, NB};
use super::rows::{max_abs_row_sum, min_max};
use super::{out_hw, QConv, SharedOut};
use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;

/// Panel bytes per tile: half of this machine's 1 MiB L2.
const TILE_BYTES: usize = 1 << 19;

/// The kernel for this layer and input on this CPU, `None` when the exact tiled path does
/// not apply (no AVX2, operands beyond i16, or sums that could leave i31).
pub fn choose(x: ArrayView3<i32>, q: &QConv) -> Option<Isa> {
    let ws = q.weight.as_standard_layout();
    let ws = ws.as_slice().expect("standard layout");
    let (wlo, whi) = min_max(ws);
    let kk = ws.len() / q.weight.dim().0.max(1);
    choose_with(x, q, (wlo, whi), max_abs_row_sum(ws, kk))
}

/// [`choose`] given the layer's weight range `(wlo, whi)` and worst-case row sum
/// `max_o sum |w_o|` (which depend on the weights only).
pub fn choose_with(
    x: ArrayView3<i32>,
    q: &QConv,
    (wlo, whi): (i32, i32),
    wsum: i64,
) -> Option<Isa> {
    Isa::detect()?;
    let range = match x.as_slice() {
        // In chunks on rayon: this scan reads the whole input before the layer can start.
        Some(s) => s
            .par_chunks(1 << 15)
            .map(min_max)
            .reduce(|| (i32::MAX, i32::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1))),
        None => x
            .iter()
            .fold((i32::MAX, i32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v))),
    };
    choose_for_range(range, q, (wlo, whi), wsum)
}

/// [`choose_with`] given the smallest and largest input code `(lo, hi)`.
pub fn choose_for_range(
    (lo, hi): (i32, i32),
    q: &QConv,
    (wlo, whi): (i32, i32),
    wsum: i64,
) -> Option<Isa> {
    let best = Isa::detect()?;
    let (lo, hi) = (lo.min(q.pad_value), hi.max(q.pad_value));
    let fits = |v: i32| (-(1 << 15)..(1 << 15)).contains(&v);
    if !(fits(lo) && fits(hi) && fits(wlo) && fits(whi)) {
        return None;
    }
    let xmax = (lo as i64).abs().max((hi as i64).abs());
    if xmax * wsum >= 1 << 31 {
        return None;
    }
    let bytes = lo >= 0 && hi <= 255 && wlo >= -128 && whi <= 127;
    Some(if bytes && best == Isa::Avx512Vnni {
        Isa::Avx512VnniU8
    } else {
        best
    })
}

/// True when the exact tiled path applies to this layer and input on this CPU.
pub fn applicable(x: ArrayView3<i32>, q: &QConv) -> bool {
    choose(x, q).is_some()
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

/// Output elements `finish(o, sums, dst)` per channel, with the kernel of [`choose`] and
/// default tiles; call only when [`applicable`] holds.
pub fn conv_fused<T, F>(x: ArrayView3<i32>, q: &QConv, finish: F) -> Array3<T>
where
    T: Copy + Default + Send,
    F: Fn(usize, &[i32], &mut [T]) + Sync,
{
    let isa = choose(x, q).expect("applicable() checked the layer");
    conv_isa(x, q, isa, None, finish)
}

/// [`conv_fused`] with the kernel `isa` that [`choose`] returned for this layer and input:
/// the u8 kernel runs as the direct convolution ([`super::direct`]) where it applies, with
/// the weight words `packed` of [`super::direct::pack_weights`] when given.
pub fn conv_isa<T, F>(
    x: ArrayView3<i32>,
    q: &QConv,
    isa: Isa,
    packed: Option<(&[i32], usize)>,
    finish: F,
) -> Array3<T>
where
    T: Copy + Default + Send,
    F: Fn(usize, &[i32], &mut [T]) + Sync,
{
    if isa == Isa::Avx512VnniU8 && direct::applies(q) {
        let tile = direct::tile_blocks(x.dim().0, q);
        return match packed {
            Some((wp, kw)) => {
                direct::conv_quads(&direct::Quads::new(x, q), q, wp, kw, tile, finish)
            }
            None => direct::conv_with(x, q, tile, finish),
        };
    }
    conv_with(x, q, isa, TILE_BYTES, finish)
}

/// Run the tiled convolution with kernel `isa` (whose operand range the caller has checked,
/// as [`choose`] does) and panel budget `tile_bytes`; `finish(o,
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
    let (ho, wo) = out_hw(q, h, w);
    let (kk, n) = (ci * k * k, ho * wo);
    let kw = kk.div_ceil(isa.group());
    let mr = isa.mr();
    let src = Padded::new(x, q, isa.group());
    let wp = pack_weights(q, kk, isa, kw);
    // Tile width: a multiple of NB within the budget, and at least four tiles when possible.
    let tile = (tile_bytes / (4 * kw * NB))
        .clamp(1, 32)
        .min(n.div_ceil(4 * NB).max(1))
        * NB;
    let mut out = vec![T::default(); co * n];
    let dst = SharedOut(out.as_mut_ptr());
    let dst = &dst;
    (0..n.div_ceil(tile)).into_par_iter().for_each_init(
        || vec![0i32; kw * tile],
        |panel, t| {
            let (p0, p1) = (t * tile, ((t + 1) * tile).min(n));
            let blocks = (p1 - p0).div_ceil(NB);
            for cb in 0..blocks {
                let pb = &mut panel[cb * kw * NB..(cb + 1) * kw * NB];
                pack_block(&src, isa, wo, q.stride, p0 + cb * NB, p1, kw, pb);
            }
            let mut acc = [[0i32; NB]; MR_MAX];
            for ob in (0..co).step_by(mr) {
                let a = &wp[ob * kw..(ob + mr) * kw];
                for cb in 0..blocks {
                    micro(isa, a, &panel[cb * kw * NB..], kw, &mut acc);
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

/// Weight words `[co / mr][kw][mr]` (pairs of i16 or quads of i8 along the reduction, as
/// `isa` takes them), zero-padded to a multiple of `mr` channels and of the word's rows.
fn pack_weights(q: &QConv, kk: usize, isa: Isa, kw: usize) -> Vec<i32> {
    let (co, mr) = (q.weight.dim().0, isa.mr());
    let ws = q.weight.as_standard_layout();
    let ws = ws.as_slice().expect("standard layout");
    let mut wp = vec![0i32; co.next_multiple_of(mr) * kw];
    for o in 0..co {
        let at = |r: usize| if r < kk { ws[o * kk + r] } else { 0 };
        let (blk, r) = (o / mr, o % mr);
        for j in 0..kw {
            wp[(blk * kw + j) * mr + r] = match isa.group() {
                2 => pair(at(2 * j), at(2 * j + 1)),
                _ => quad(std::array::from_fn(|g| at(4 * j + g))),
            };
        }
    }
    wp
}

#[cfg(test)]
mod tests {
    use super::super::test_util::Rng;
    use super::super::{conv_acc_naive, QAct, QConv};
    use super::Isa;
    use ndarray::{Array3, Array4};

    fn layer(co: usize, ci: usize, k: usize, stride: usize, wmax: i64, seed: u64) -> QConv {
        let mut rng = Rng(seed | 1);
        let mut rnd = move |m: i64| rng.below(2 * m as u64 + 1) as i64 - m;
        let weight = Array4::from_shape_simple_fn((co, ci, k, k), || rnd(wmax) as i32);
        let bias = (0..co).map(|_| rnd(1 << 20)).collect();
        QConv::plain(weight, bias, stride, k / 2, 37)
    }

    /// Shapes with several channel blocks, partial blocks, several tiles and blocks that span
    /// output rows, at full 8-bit and near-limit 15-bit ranges, with every kernel this CPU
    /// has and with tiny and default tile budgets: equal to the definition.
    #[test]
    fn equals_naive_on_block_and_tile_tails() {
        let isas: Vec<Isa> = [Isa::Avx2, Isa::Avx512Vnni, Isa::Avx512VnniU8]
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
            let bytes = wmax <= 127 && xmax <= 255;
            for &isa in isas.iter().filter(|i| bytes || **i != Isa::Avx512VnniU8) {
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

    /// The u8 × i8 kernel at the ends of both ranges (codes 0 and 255, weights -128 and 127,
    /// so unsigned/signed handling of every byte matters) and reduction lengths that leave
    /// 1, 2 or 3 rows in the last word: equal to the definition. The kernel choice follows
    /// the ranges: bytes only when codes, pad code and weights all fit.
    #[test]
    fn u8_kernel_at_range_extremes() {
        if !Isa::Avx512VnniU8.available() {
            eprintln!("SKIPPED: no AVX-512 VNNI on this CPU, the u8 kernel is never used");
            return;
        }
        for (i, &(ci, k, stride)) in [(3, 3, 2), (5, 1, 1), (2, 3, 1), (7, 1, 2), (1, 3, 1)]
            .iter()
            .enumerate()
        {
            let mut q = layer(10, ci, k, stride, 127, 90 + i as u64);
            let mut n = 0usize;
            q.weight.mapv_inplace(|v| {
                n += 1;
                match n % 5 {
                    0 => -128,
                    1 => 127,
                    _ => v,
                }
            });
            q.pad_value = if i % 2 == 0 { 255 } else { 0 };
            let x = Array3::from_shape_fn((ci, 13, 11), |(c, y, xx)| {
                [0, 255, 128, 127, 1][(c + y * 3 + xx) % 5]
            });
            assert_eq!(
                super::choose(x.view(), &q),
                Some(Isa::Avx512VnniU8),
                "case {i}"
            );
            let want = conv_acc_naive(x.view(), &q);
            for budget in [1, 5000, super::TILE_BYTES] {
                let got = super::conv_with(
                    x.view(),
                    &q,
                    Isa::Avx512VnniU8,
                    budget,
                    |o, acc, d: &mut [i64]| {
                        for (d, &a) in d.iter_mut().zip(acc) {
                            *d = a as i64 + q.bias[o];
                        }
                    },
                );
                assert_eq!(got, want, "case {i} budget {budget}");
            }
            // One value outside the byte ranges moves the layer to the i16 kernel.
            let mut x16 = x.clone();
            x16[[0, 0, 0]] = 256;
            assert_eq!(super::choose(x16.view(), &q), Some(Isa::Avx512Vnni));
            let mut q16 = q.clone();
            q16.weight[[0, 0, 0, 0]] = -129;
            assert_eq!(super::choose(x.view(), &q16), Some(Isa::Avx512Vnni));
            q16 = q.clone();
            q16.pad_value = -1;
            assert_eq!(super::choose(x.view(), &q16), Some(Isa::Avx512Vnni));
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
