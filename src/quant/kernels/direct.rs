//! Direct u8 × i8 convolution (AVX-512 VNNI `vpdpbusd`) without an im2col panel, for
//! strides 1 and 2.
//!
//! The input is rewritten once per layer as words of four consecutive channels' codes
//! (channel `4j + g` in byte `g`), padded with the pad code and, at stride `s`, split into
//! `s × s` phase planes (`plane(py, px)[r][c] = padded[r·s + py][c·s + px]`), all of one
//! pitch `wph`. Then output position `(oy, ox)` at flat index `p = oy·wph + ox` reads, for
//! kernel tap `(ky, kx)`, the word at `p + (ky / s)·wph + kx / s` of plane
//! `(ky % s, kx % s)`: 32 consecutive flat positions read 32 consecutive words, so the
//! micro-kernel loads its operands straight from the input. Flat positions with `ox ≥ wo`
//! (the `wph - wo` columns at the end of each flat row) are computed and discarded. Sums are
//! the same exact i32 sums as the tiled kernel's (same range check, [`super::tiled::choose`]).

use super::micro::{MR_MAX, NB};
use super::rows::min_max;
use super::{out_hw, QConv, SharedOut};
use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// The input in channel-quad words, phase planes `[c4][s·s][hph][wph]` plus slack so that
/// every block of [`NB`] flat positions reads inside the buffer.
pub struct Quads {
    words: Vec<i32>,
    /// Pitch of a plane row (words).
    wph: usize,
    /// Word offset of every reduction word `(j, ky, kx)` relative to the flat position.
    offs: Vec<usize>,
    /// Input dimensions `(ci, h, w)`.
    dim: (usize, usize, usize),
    /// Smallest and largest input code (read while packing; the words hold only their low
    /// bytes, so they are the input only when this range is within 0..=255).
    pub range: (i32, i32),
}

/// Word of four bytes: `v` (a code in 0..=255) in every byte.
fn splat(v: i32) -> i32 {
    (v as u32 & 0xff).wrapping_mul(0x0101_0101) as i32
}

/// Write `v` into every element of `d`.
fn fill(d: &mut [MaybeUninit<i32>], v: i32) {
    for e in d {
        e.write(v);
    }
}

impl Quads {
    /// The input of layer `q` in quad words, and its code range.
    pub fn new(x: ArrayView3<i32>, q: &QConv) -> Self {
        let (ci, h, w) = x.dim();
        let n_flat = out_hw(q, h, w).0 * (w + 2 * q.pad).div_ceil(q.stride);
        let (k, s, pad) = (q.weight.dim().2, q.stride, q.pad);
        let (hp, wp) = (h + 2 * pad, w + 2 * pad);
        let (hph, wph) = (hp.div_ceil(s), wp.div_ceil(s));
        let c4 = ci.div_ceil(4);
        let plane = hph * wph;
        let group = s * s * plane;
        let max_off = ((k - 1) / s) * wph + (k - 1) / s;
        let need = (c4 * s * s - 1) * plane + n_flat.next_multiple_of(NB) + max_off;
        let len = need.max(c4 * group);
        let pw = splat(q.pad_value);
        // Not initialized first (no fill pass over the buffer): every word is written once
        // below, the image part of each plane row by `quad_row`, the rest of the row and the
        // slack with the pad word.
        let mut words: Vec<i32> = Vec::with_capacity(len);
        let spare = &mut words.spare_capacity_mut()[..len];
        let (planes, slack) = spare.split_at_mut(c4 * group);
        fill(slack, pw);
        let xs = x.as_standard_layout();
        let xs = xs.as_slice().expect("standard layout");
        let range = planes
            .par_chunks_mut(group)
            .enumerate()
            .map(|(j, g)| {
                let mut range = (i32::MAX, i32::MIN);
                let chans: Vec<&[i32]> = (0..4)
                    .filter(|&d| 4 * j + d < ci)
                    .map(|d| &xs[(4 * j + d) * h * w..(4 * j + d + 1) * h * w])
                    .collect();
                for py in 0..s {
                    for px in 0..s {
                        let pl = &mut g[(py * s + px) * plane..(py * s + px + 1) * plane];
                        // Plane columns c with padded column c·s + px inside the image.
                        let c_lo = pad.saturating_sub(px).div_ceil(s).min(wph);
                        let c_hi = (pad + w).saturating_sub(px).div_ceil(s).min(wph);
                        for (r, row) in pl.chunks_exact_mut(wph).enumerate() {
                            let yp = r * s + py;
                            if yp < pad || yp >= pad + h {
                                fill(row, pw);
                                continue;
                            }
                            let y = yp - pad;
                            if px == 0 {
                                // Every input row once (phase column 0 visits them all).
                                for ch in &chans {
                                    let (lo, hi) = min_max(&ch[y * w..(y + 1) * w]);
                                    range = (range.0.min(lo), range.1.max(hi));
                                }
                            }
                            if c_lo >= c_hi {
                                fill(row, pw);
                                continue;
                            }
                            fill(&mut row[..c_lo], pw);
                            fill(&mut row[c_hi..], pw);
                            let x0 = c_lo * s + px - pad;
                            let at = y * w + x0;
                            quad_row(&chans, at, s, q.pad_value, &mut row[c_lo..c_hi]);
                        }
                    }
                }
                range
            })
            .reduce(|| (i32::MAX, i32::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
        // SAFETY: all `len` words were written above (slack, and every row of every plane:
        // the pad part by `fill`, the image part by `quad_row`, which writes all of `row`).
        unsafe { words.set_len(len) };
        let mut offs = Vec::with_capacity(c4 * k * k);
        for j in 0..c4 {
            for ky in 0..k {
                for kx in 0..k {
                    let ph = (ky % s) * s + kx % s;
                    offs.push(j * group + ph * plane + (ky / s) * wph + kx / s);
                }
            }
        }
        Quads {
            words,
            wph,
            offs,
            dim: (ci, h, w),
            range,
        }
    }
}

/// [`quad_row`] for `M` channels at stride `S`: `ch[g][t·S]` in byte `g` of word `t`, the
/// bytes above `M` from `high` (the fill code in every missing channel's byte).
#[inline(always)]
fn quads<const M: usize, const S: usize>(ch: [&[i32]; M], high: u32, row: &mut [MaybeUninit<i32>]) {
    for (t, o) in row.iter_mut().enumerate() {
        let mut v = high;
        for (g, c) in ch.iter().enumerate() {
            v |= ((c[t * S] & 0xff) as u32) << (8 * g);
        }
        o.write(v as i32);
    }
}

#[inline(always)]
fn quad_row_body(chans: &[&[i32]], at: usize, s: usize, fill: i32, row: &mut [MaybeUninit<i32>]) {
    let n = row.len();
    if n == 0 {
        return;
    }
    let m = chans.len();
    // The missing channels' bytes, and every channel's span sliced to the exact length the
    // loop reads (so that the compiler drops the bounds checks).
    let high = (m..4).fold(0u32, |v, g| v | ((fill as u32 & 0xff) << (8 * g)));
    let span = (n - 1) * s + 1;
    let get = |d: usize| -> &[i32] { &chans[d][at..at + span] };
    match (m, s) {
        (4, 1) => quads::<4, 1>([get(0), get(1), get(2), get(3)], high, row),
        (4, 2) => quads::<4, 2>([get(0), get(1), get(2), get(3)], high, row),
        (3, 1) => quads::<3, 1>([get(0), get(1), get(2)], high, row),
        (3, 2) => quads::<3, 2>([get(0), get(1), get(2)], high, row),
        (2, 1) => quads::<2, 1>([get(0), get(1)], high, row),
        (2, 2) => quads::<2, 2>([get(0), get(1)], high, row),
        (1, 1) => quads::<1, 1>([get(0)], high, row),
        (1, 2) => quads::<1, 2>([get(0)], high, row),
        _ => {
            for (t, o) in row.iter_mut().enumerate() {
                let mut v = high;
                for (g, ch) in chans.iter().enumerate() {
                    v |= ((ch[at + t * s] & 0xff) as u32) << (8 * g);
                }
                o.write(v as i32);
            }
        }
    }
}

multiversion! {
    /// Words of four channels' codes `chans[g][at + t·s]` (missing channels `fill`).
    fn quad_row(chans: &[&[i32]], at: usize, s: usize, fill: i32, row: &mut [MaybeUninit<i32>]) -> () = quad_row_body;
}

/// Weight words `[co / MR_MAX][kw][MR_MAX]`, word `(j, ky, kx)` holding the weights of input
/// channels `4j .. 4j + 4` at tap `(ky, kx)` (0 beyond `ci` and beyond `co`).
pub fn pack_weights(q: &QConv) -> (Vec<i32>, usize) {
    let (co, ci, k, _) = q.weight.dim();
    let (c4, taps) = (ci.div_ceil(4), k * k);
    let kw = c4 * taps;
    let ws = q.weight.as_standard_layout();
    let ws = ws.as_slice().expect("standard layout");
    let mut wp = vec![0i32; co.next_multiple_of(MR_MAX) * kw];
    for (o, wo) in ws.chunks_exact(ci * taps).enumerate() {
        let (blk, r) = (o / MR_MAX, o % MR_MAX);
        let dst = &mut wp[blk * kw * MR_MAX..(blk + 1) * kw * MR_MAX];
        for (c, wc) in wo.chunks_exact(taps).enumerate() {
            let (j, g) = (c / 4, 8 * (c % 4));
            for (t, &v) in wc.iter().enumerate() {
                dst[(j * taps + t) * MR_MAX + r] |= ((v as u32 & 0xff) << g) as i32;
            }
        }
    }
    (wp, kw)
}

/// `acc[r][t] = sum_j a[j·MR_MAX + r] · x[offs[j] + t]` (words of four bytes, codes unsigned,
/// weights signed), `t < NB`.
///
/// # Safety
/// The CPU must have AVX-512 F/BW/VNNI; `a` must hold `offs.len() · MR_MAX` words and
/// `x + offs[j] + NB` must stay inside the input for every `j`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn micro(a: *const i32, x: *const i32, offs: &[usize], acc: &mut [[i32; NB]; MR_MAX]) {
    avx512_micro!(_mm512_dpbusd_epi32, a, offs.len(), |j| x.add(offs[j]), acc)
}

/// Copy `len` (≤ [`NB`]) elements in pieces of constant size (inlined moves, not a `memcpy`
/// call per short run).
///
/// # Safety
/// `src` and `dst` valid for `len` elements, not overlapping.
#[inline(always)]
unsafe fn copy_short<T: Copy>(src: *const T, dst: *mut T, len: usize) {
    let mut i = 0;
    while i + 8 <= len {
        std::ptr::copy_nonoverlapping(src.add(i), dst.add(i), 8);
        i += 8;
    }
    if i + 4 <= len {
        std::ptr::copy_nonoverlapping(src.add(i), dst.add(i), 4);
        i += 4;
    }
    if i + 2 <= len {
        std::ptr::copy_nonoverlapping(src.add(i), dst.add(i), 2);
        i += 2;
    }
    if i < len {
        *dst.add(i) = *src.add(i);
    }
}

/// True when the direct kernel handles this layer (given that the u8 kernel was chosen).
pub fn applies(q: &QConv) -> bool {
    cfg!(target_arch = "x86_64") && (q.stride == 1 || q.stride == 2)
}

/// Input bytes a tile's blocks should span at most (a quarter of this machine's L2).
const TILE_BYTES: usize = 1 << 18;

/// Default tile (in blocks of [`NB`] flat positions) for layer `q` on `ci` input channels:
/// the input words it reads within [`TILE_BYTES`].
pub fn tile_blocks(ci: usize, q: &QConv) -> usize {
    let planes = ci.div_ceil(4) * q.stride * q.stride;
    (TILE_BYTES / (4 * NB * planes)).max(1)
}

/// The convolution with the u8 × i8 direct kernel: `finish(o, sums, dst)` turns the i32
/// sums (without bias) of channel `o` at consecutive output positions into output elements
/// (same contract as [`super::tiled::conv_with`]). The caller has checked the operand ranges
/// for the u8 kernel (codes, pad code in 0..=255, weights in -128..=127, sums below 2^31),
/// that the CPU has AVX-512 F/BW/VNNI, and [`applies`].
pub fn conv_with<T, F>(x: ArrayView3<i32>, q: &QConv, tile_blocks: usize, finish: F) -> Array3<T>
where
    T: Copy + Default + Send,
    F: Fn(usize, &[i32], &mut [T]) + Sync,
{
    let (wp, kw) = pack_weights(q);
    conv_quads(&Quads::new(x, q), q, &wp, kw, tile_blocks, finish)
}

/// [`conv_with`] on the input `src` already in quad words ([`Quads::new`] for `q`), with
/// the weight words `(wp, kw)` of [`pack_weights`] for `q`; the caller has checked the
/// ranges as for [`conv_with`] (the input's from `src.range`).
pub fn conv_quads<T, F>(
    src: &Quads,
    q: &QConv,
    wp: &[i32],
    kw: usize,
    tile_blocks: usize,
    finish: F,
) -> Array3<T>
where
    T: Copy + Default + Send,
    F: Fn(usize, &[i32], &mut [T]) + Sync,
{
    let (_, h, w) = src.dim;
    let co = q.weight.dim().0;
    let (ho, wo) = out_hw(q, h, w);
    let wph = src.wph;
    let n_flat = ho * wph;
    assert_eq!(wp.len(), co.next_multiple_of(MR_MAX) * kw, "packed weights");
    let blocks = n_flat.div_ceil(NB);
    // Tiles of whole blocks; at least 8 tasks when the layer allows (channel groups split
    // the layer further when there are few tiles).
    let tile = tile_blocks.clamp(1, blocks.div_ceil(8).max(1));
    let tiles = blocks.div_ceil(tile);
    let cblocks = co.div_ceil(MR_MAX);
    let groups = 8usize.div_ceil(tiles).clamp(1, cblocks);
    let per_group = cblocks.div_ceil(groups);
    let mut out = vec![T::default(); co * ho * wo];
    let dst = SharedOut(out.as_mut_ptr());
    let dst = &dst;
    (0..tiles * groups).into_par_iter().for_each(|task| {
        let (t, g) = (task / groups, task % groups);
        let mut acc = [[0i32; NB]; MR_MAX];
        let mut tmp = [T::default(); NB];
        for cb in g * per_group..((g + 1) * per_group).min(cblocks) {
            let a = &wp[cb * MR_MAX * kw..(cb + 1) * MR_MAX * kw];
            for b in t * tile..((t + 1) * tile).min(blocks) {
                let p0 = b * NB;
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the caller checked the CPU; `a` holds kw·MR_MAX words and the
                // buffer's slack covers p0 + offs[j] + NB for every block (Quads::new).
                unsafe {
                    micro(a.as_ptr(), src.words.as_ptr().add(p0), &src.offs, &mut acc)
                };
                let end = (p0 + NB).min(n_flat);
                let (oy0, ox0) = (p0 / wph, p0 % wph);
                // The whole block inside one output row's valid part (or the flat layout
                // is the output's, `wph == wo`): finish straight into the output.
                let direct = wph == wo || ox0 + (end - p0) <= wo;
                for (r, row) in acc.iter().enumerate().take(co - cb * MR_MAX) {
                    let o = cb * MR_MAX + r;
                    if direct {
                        // SAFETY: output positions (o, oy0, ox0..) for the block's
                        // `end - p0` flat positions are inside the co×ho×wo buffer (they
                        // are valid positions of one row, or wph == wo) and belong to this
                        // task only (its blocks and channels).
                        let d = unsafe {
                            std::slice::from_raw_parts_mut(
                                dst.ptr().add((o * ho + oy0) * wo + ox0),
                                end - p0,
                            )
                        };
                        finish(o, &row[..end - p0], d);
                        continue;
                    }
                    finish(o, row, &mut tmp);
                    // Copy the valid runs (ox < wo) of flat positions p0..end.
                    let mut p = p0;
                    while p < end {
                        let (oy, ox) = (p / wph, p % wph);
                        let run_end = (p - ox + wph).min(end);
                        if ox < wo {
                            let len = (wo - ox).min(run_end - p);
                            // SAFETY: output positions (o, oy, ox..ox+len) are inside the
                            // co×ho×wo buffer and belong to this task only (its blocks and
                            // channels); tmp holds NB ≥ p - p0 + len elements.
                            unsafe {
                                let d = dst.ptr().add((o * ho + oy) * wo + ox);
                                copy_short(tmp.as_ptr().add(p - p0), d, len);
                            }
                        }
                        p = run_end;
                    }
                }
            }
        }
    });
    Array3::from_shape_vec((co, ho, wo), out).expect("shape")
}

#[cfg(test)]
mod tests {
    use super::super::conv_acc_naive;
    use super::super::micro::Isa;
    use super::super::test_util::Rng;
    use super::super::QConv;
    use ndarray::Array4;

    /// The direct kernel equals the definition on odd shapes: kernels 1, 3 and 5, strides 1
    /// and 2, pads 0–2, channel counts not multiples of 4 or of the channel block, outputs
    /// narrower and wider than a block, several tile sizes, codes and weights at the ends of
    /// their byte ranges and pad codes 0, 255 and in between.
    #[test]
    fn equals_naive_on_odd_shapes() {
        if !Isa::Avx512VnniU8.available() {
            eprintln!("SKIPPED: no AVX-512 VNNI on this CPU, the direct kernel is never used");
            return;
        }
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for &(co, ci, k, stride, pad, h, w, pad_value) in &[
            (9, 7, 3, 1, 1, 23, 19, 37),
            (6, 5, 3, 2, 1, 17, 30, 0),
            (13, 33, 1, 1, 0, 5, 7, 255),
            (17, 3, 3, 2, 1, 64, 48, 128),
            (8, 4, 1, 2, 0, 9, 13, 5),
            (3, 2, 5, 1, 2, 11, 6, 200),
            (5, 6, 3, 1, 0, 8, 40, 1),
            (16, 16, 3, 2, 1, 1, 1, 99),
            (1, 1, 3, 1, 1, 3, 70, 0),
            (24, 12, 3, 2, 2, 10, 9, 255),
        ] {
            let weight = Array4::from_shape_simple_fn((co, ci, k, k), || match rng.below(6) {
                0 => -128,
                1 => 127,
                _ => rng.below(256) as i32 - 128,
            });
            let bias = (0..co)
                .map(|_| rng.below(1 << 21) as i64 - (1 << 20))
                .collect();
            let q = QConv::plain(weight, bias, stride, pad, pad_value);
            let x = rng.codes((ci, h, w));
            assert_eq!(
                super::super::tiled::choose(x.view(), &q),
                Some(Isa::Avx512VnniU8)
            );
            let want = conv_acc_naive(x.view(), &q);
            for tile in [1, 3, 64] {
                let got = super::conv_with(x.view(), &q, tile, |o, acc, d: &mut [i64]| {
                    for (d, &a) in d.iter_mut().zip(acc) {
                        *d = a as i64 + q.bias[o];
                    }
                });
                assert_eq!(
                    got, want,
                    "{co}<-{ci} k {k} s {stride} p {pad} {h}x{w} tile {tile}"
                );
            }
        }
    }

    /// The range read while packing is the input's (every code is read once, at both
    /// strides and any channel count), and `kernels::conv` leaves the direct kernel for the
    /// other paths when a code is outside the bytes: same codes as the definition.
    #[test]
    fn packing_range_is_the_input_range() {
        use super::super::{conv, conv_output};
        use crate::quant::spec::QFormat;
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for &(ci, k, stride, pad, h, w) in &[
            (7, 3, 1, 1, 9, 11),
            (3, 3, 2, 1, 16, 15),
            (5, 1, 2, 0, 7, 7),
            (2, 5, 1, 2, 3, 4),
        ] {
            let weight =
                Array4::from_shape_simple_fn((4, ci, k, k), || rng.below(255) as i32 - 127);
            let q = QConv::plain(weight, vec![0, 5, -5, 100], stride, pad, 3);
            let mut x = rng.codes((ci, h, w));
            for (at, v) in [((ci - 1, h - 1, w - 1), 300), ((0, h / 2, 0), -2)] {
                let want = x
                    .iter()
                    .fold((i32::MAX, i32::MIN), |(a, b), &c| (a.min(c), b.max(c)));
                assert_eq!(
                    super::Quads::new(x.view(), &q).range,
                    want,
                    "{ci} k {k} s {stride}"
                );
                let out = QFormat::pow2(8, 4, 3);
                let naive = conv_output(&conv_acc_naive(x.view(), &q), &q, &out);
                assert_eq!(conv(x.view(), &q, &out), naive, "{ci} k {k} s {stride}");
                x[at] = v;
            }
        }
    }
}
