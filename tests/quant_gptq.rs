//! GPTQ rounding (`--rounding gptq`) against independent references: the input statistics
//! equal a naive sum over patches; on random layers with correlated inputs the output
//! reconstruction error (a naive convolution) is at most nearest rounding's and the codes stay
//! in range; with a diagonal `H` the result is nearest rounding exactly; one and two threads
//! give the same integers; the scale search by output error keeps, per channel, the candidate
//! whose GPTQ rounding has the least reconstruction error (checked by a naive convolution),
//! and with one candidate it is plain GPTQ; on the synthetic model only the integer weights change (every
//! format, scale and shift equals nearest rounding's) and two runs are identical.

use ndarray::{Array2, Array3, Array4};
use yoloq_gen::quant::gptq::{round_weights, round_weights_search, Hessian, MAX_COLUMNS};
use yoloq_gen::quant::weights::{channel_max, quantize_weights, scale_candidates};
use yoloq_gen::quant::{store, QOp, QuantConfig, Rounding, ScaleMode, ScaleSearch};
use yoloq_gen::synthetic;

struct Rng(u64);
impl Rng {
    /// Uniform in [−1, 1).
    fn f(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Random float weights and 8-bit input codes whose channels mix three smooth shared
/// sources (so the inputs are correlated, as real feature maps are).
fn layer(seed: u64, ci: usize, co: usize, k: usize, hw: usize) -> (Array4<f32>, Array3<i32>) {
    let mut r = Rng(seed | 1);
    let w = Array4::from_shape_fn((co, ci, k, k), |_| (r.f() * 0.5) as f32);
    let mix: Vec<f64> = (0..ci * 3).map(|_| r.f()).collect();
    let ph: Vec<f64> = (0..3).map(|_| r.f() * 3.0).collect();
    let noise = Array3::from_shape_fn((ci, hw, hw), |_| r.f() * 0.2);
    let x = Array3::from_shape_fn((ci, hw, hw), |(c, y, xx)| {
        let src = |s: usize| ((y as f64 * 0.4 + ph[s]) * (s + 1) as f64 + xx as f64 * 0.3).sin();
        let v: f64 = (0..3).map(|s| mix[c * 3 + s] * src(s)).sum::<f64>() + noise[[c, y, xx]];
        (128.0 + 60.0 * v).round().clamp(0.0, 255.0) as i32
    });
    (w, x)
}

/// `Σ (conv(x, w) − conv(x, q·s))²` over every output position: a naive loop, padding with
/// `zero` (0 after centring), like the integer convolution.
fn recon_error(
    w: &Array4<f32>,
    q: &Array4<i32>,
    s: &[f64],
    x: &Array3<i32>,
    zero: i32,
    pad: usize,
) -> f64 {
    let (co, ci, k, _) = w.dim();
    let (_, h, wd) = x.dim();
    let (ho, wo) = (h + 2 * pad - k + 1, wd + 2 * pad - k + 1);
    let mut e = 0.0;
    for o in 0..co {
        for oy in 0..ho {
            for ox in 0..wo {
                let mut d = 0.0;
                for c in 0..ci {
                    for ky in 0..k {
                        for kx in 0..k {
                            let (iy, ix) = (
                                (oy + ky) as isize - pad as isize,
                                (ox + kx) as isize - pad as isize,
                            );
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                continue;
                            }
                            let v = (x[[c, iy as usize, ix as usize]] - zero) as f64;
                            let dw = w[[o, c, ky, kx]] as f64 - q[[o, c, ky, kx]] as f64 * s[o];
                            d += dw * v;
                        }
                    }
                }
                e += d * d;
            }
        }
    }
    e
}

/// `Σ p pᵀ` over the (centred, zero-padded) patches of the output positions `every`-th in
/// raster order.
fn naive_hessian(
    x: &Array3<i32>,
    zero: i32,
    k: usize,
    pad: usize,
    every: usize,
) -> (Array2<f64>, u64) {
    let (ci, h, w) = x.dim();
    let (ho, wo) = (h + 2 * pad - k + 1, w + 2 * pad - k + 1);
    let kk = ci * k * k;
    let mut hs = Array2::<f64>::zeros((kk, kk));
    let mut n = 0;
    for pos in (0..ho * wo).step_by(every) {
        let (oy, ox) = (pos / wo, pos % wo);
        let mut p = vec![0f64; kk];
        for c in 0..ci {
            for ky in 0..k {
                for kx in 0..k {
                    let (iy, ix) = (
                        (oy + ky) as isize - pad as isize,
                        (ox + kx) as isize - pad as isize,
                    );
                    if iy >= 0 && ix >= 0 && iy < h as isize && ix < w as isize {
                        p[(c * k + ky) * k + kx] = (x[[c, iy as usize, ix as usize]] - zero) as f64;
                    }
                }
            }
        }
        for i in 0..kk {
            for j in 0..kk {
                hs[[i, j]] += p[i] * p[j];
            }
        }
        n += 1;
    }
    (hs, n)
}

#[test]
fn hessian_equals_naive_patch_sum() {
    // Small map: every position; large map (more than MAX_COLUMNS positions): every step-th.
    for (seed, ci, k, hw) in [(1, 3, 3, 9), (2, 2, 1, 70), (3, 1, 3, 80)] {
        let (_, x) = layer(seed, ci, 1, k, hw);
        let (zero, pad) = (100, k / 2);
        let mut h = Hessian::zeros(ci * k * k);
        h.add_codes(x.view(), zero, k, 1, pad);
        let every = (hw * hw).div_ceil(MAX_COLUMNS);
        let (want, n) = naive_hessian(&x, zero, k, pad, every);
        assert_eq!(h.samples, n, "seed {seed}");
        assert!(n as usize <= MAX_COLUMNS);
        // Integer products summed in f64: exact.
        assert_eq!(h.h, want, "seed {seed}");
    }
}

#[test]
fn gptq_reconstruction_error_is_at_most_nearest() {
    let cfg = QuantConfig::default();
    for (seed, ci, co, k, bits) in [
        (11, 4, 6, 3, 4),
        (12, 8, 5, 1, 4),
        (13, 3, 4, 3, 3),
        (14, 6, 3, 3, 6),
    ] {
        let (w, x) = layer(seed, ci, co, k, 12);
        let (zero, pad) = (128, k / 2);
        let qw = quantize_weights(&w, bits, &cfg);
        let mut h = Hessian::zeros(ci * k * k);
        h.add_codes(x.view(), zero, k, 1, pad);
        let g = round_weights(&w, &qw.scale, bits, &h).unwrap();
        let wm = (1 << (bits - 1)) - 1;
        assert!(
            g.iter().all(|v| (-wm..=wm).contains(v)),
            "seed {seed}: code out of range"
        );
        let en = recon_error(&w, &qw.wq, &qw.scale, &x, zero, pad);
        let eg = recon_error(&w, &g, &qw.scale, &x, zero, pad);
        eprintln!(
            "seed {seed} W{bits}: nearest {en:.4e}, gptq {eg:.4e} ({:.2}x)",
            en / eg
        );
        assert!(eg <= en, "seed {seed}: gptq {eg} > nearest {en}");
        assert_ne!(g, qw.wq, "seed {seed}: gptq changed nothing");
    }
}

#[test]
fn diagonal_hessian_gives_nearest_exactly() {
    let cfg = QuantConfig::default();
    let (w, _) = layer(21, 5, 7, 3, 4);
    let n = 5 * 9;
    let mut r = Rng(99);
    for bits in [2, 4, 8] {
        let qw = quantize_weights(&w, bits, &cfg);
        // Identity, then unequal diagonals with some never-seen (zero) inputs.
        for diag in [
            vec![1.0; n],
            (0..n)
                .map(|i| {
                    if i % 7 == 3 {
                        0.0
                    } else {
                        1.0 + r.f().abs() * 50.0
                    }
                })
                .collect(),
        ] {
            let mut h = Hessian::zeros(n);
            for (i, d) in diag.iter().enumerate() {
                h.h[[i, i]] = *d;
            }
            let g = round_weights(&w, &qw.scale, bits, &h).unwrap();
            assert_eq!(g, qw.wq, "W{bits}");
        }
    }
}

#[test]
fn one_and_two_threads_give_the_same_integers() {
    let cfg = QuantConfig::default();
    let (w, x) = layer(31, 16, 40, 3, 20);
    let qw = quantize_weights(&w, 4, &cfg);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut h = Hessian::zeros(16 * 9);
            h.add_codes(x.view(), 128, 3, 1, 1);
            (h.h.clone(), round_weights(&w, &qw.scale, 4, &h).unwrap())
        })
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
}

#[test]
fn synthetic_model_only_integer_weights_change() {
    let cfg = |rounding| QuantConfig {
        wbits: 4,
        rounding,
        ..QuantConfig::default()
    };
    let run = |r| synthetic::quant_graph(synthetic::SEED, 32, 3, &cfg(r)).unwrap();
    let (near, g1, g2) = (
        run(Rounding::Nearest),
        run(Rounding::Gptq),
        run(Rounding::Gptq),
    );
    // Two runs: byte-identical scales.yaml and weights.
    assert_eq!(store::encode(&g1).unwrap(), store::encode(&g2).unwrap());
    assert!(store::encode(&g1).unwrap().0.contains("rounding: Gptq"));
    let mut changed = 0;
    for (a, b) in near.nodes.iter().zip(&g1.nodes) {
        assert_eq!(a.fmt, b.fmt, "{}", a.name);
        if let (QOp::Conv(a), QOp::Conv(b)) = (&a.op, &b.op) {
            assert_eq!(
                (&a.shift, &a.mult, &a.wscale),
                (&b.shift, &b.mult, &b.wscale)
            );
            assert_eq!(a.wbits, b.wbits);
            assert!(b.weight.iter().all(|v| (-7..=7).contains(v)));
            changed += usize::from(a.weight != b.weight);
        }
    }
    assert!(changed > 10, "only {changed} layers changed");
}

/// The centred reconstruction error of one output channel (mean removed, as bias correction
/// does): a naive convolution.
fn centred_error(
    w: &Array4<f32>,
    q: &Array4<i32>,
    s: &[f64],
    x: &Array3<i32>,
    zero: i32,
    o: usize,
) -> f64 {
    let (_, ci, k, _) = w.dim();
    let (_, h, wd) = x.dim();
    let pad = k / 2;
    let mut ds = Vec::new();
    for oy in 0..h {
        for ox in 0..wd {
            let mut d = 0.0;
            for c in 0..ci {
                for ky in 0..k {
                    for kx in 0..k {
                        let (iy, ix) = (
                            (oy + ky) as isize - pad as isize,
                            (ox + kx) as isize - pad as isize,
                        );
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                            continue;
                        }
                        let v = (x[[c, iy as usize, ix as usize]] - zero) as f64;
                        d += (w[[o, c, ky, kx]] as f64 - q[[o, c, ky, kx]] as f64 * s[o]) * v;
                    }
                }
            }
            ds.push(d);
        }
    }
    let m = ds.iter().sum::<f64>() / ds.len() as f64;
    ds.iter().map(|d| (d - m) * (d - m)).sum()
}

#[test]
fn scale_search_keeps_the_least_output_error_per_channel() {
    for (seed, ci, co, k, bits) in [(21, 4, 6, 3, 4), (22, 6, 5, 1, 3), (23, 3, 4, 3, 6)] {
        let (w, x) = layer(seed, ci, co, k, 12);
        let zero = 128;
        let mut h = Hessian::zeros(ci * k * k);
        h.add_codes(x.view(), zero, k, 1, k / 2);
        let wm = ((1 << (bits - 1)) - 1) as f64;
        let cands: Vec<Vec<(f64, i32)>> = channel_max(&w)
            .iter()
            .map(|&m| scale_candidates(m, wm, ScaleMode::Pow2))
            .collect();
        let (q, pick) = round_weights_search(&w, &cands, bits, &h, true).unwrap();
        let chosen: Vec<f64> = (0..co).map(|o| cands[o][pick[o]].0).collect();
        for o in 0..co {
            let e = centred_error(&w, &q, &chosen, &x, zero, o);
            for (kk, &(s, _)) in cands[o].iter().enumerate() {
                let sc = vec![s; co];
                let g = round_weights(&w, &sc, bits, &h).unwrap();
                let ek = centred_error(&w, &g, &sc, &x, zero, o);
                assert!(
                    e <= ek * (1.0 + 1e-9) + 1e-12,
                    "seed {seed} channel {o}: chosen {} error {e} > candidate {kk} error {ek}",
                    pick[o]
                );
                if kk == pick[o] {
                    assert_eq!(
                        q.index_axis(ndarray::Axis(0), o),
                        g.index_axis(ndarray::Axis(0), o)
                    );
                }
            }
        }
        // One candidate per channel: plain GPTQ at that scale.
        let one: Vec<Vec<(f64, i32)>> = cands.iter().map(|c| vec![c[0]]).collect();
        let (q1, p1) = round_weights_search(&w, &one, bits, &h, false).unwrap();
        let s0: Vec<f64> = one.iter().map(|c| c[0].0).collect();
        assert_eq!(q1, round_weights(&w, &s0, bits, &h).unwrap());
        assert!(p1.iter().all(|&p| p == 0));
    }
}

#[test]
fn synthetic_model_scale_search_changes_scales_and_is_deterministic() {
    let cfg = QuantConfig {
        wbits: 4,
        rounding: Rounding::Gptq,
        scale_search: ScaleSearch::Output,
        ..QuantConfig::default()
    };
    let a = synthetic::quant_graph(synthetic::SEED, 32, 3, &cfg).unwrap();
    let b = synthetic::quant_graph(synthetic::SEED, 32, 3, &cfg).unwrap();
    assert_eq!(store::encode(&a).unwrap(), store::encode(&b).unwrap());
    assert!(store::encode(&a)
        .unwrap()
        .0
        .contains("scale_search: Output"));
    for n in &a.nodes {
        if let QOp::Conv(c) = &n.op {
            assert!(c.weight.iter().all(|v| (-7..=7).contains(v)), "{}", n.name);
        }
    }
}

/// `--rounding gptq-refine`: the codes stay in range, no single ±1 move of one code lowers
/// any channel's centred reconstruction error (checked by a naive convolution, so the result
/// is a local minimum of the error bias correction leaves), the error is below nearest
/// rounding's, and one and two threads give the same integers.
#[test]
fn refined_rounding_is_a_local_minimum_of_the_centred_error() {
    use yoloq_gen::quant::gptq::{round_weights_with, InverseFactor};
    let cfg = QuantConfig::default();
    for (seed, ci, co, k, bits) in [(21, 4, 3, 3, 4), (22, 6, 2, 1, 3), (23, 3, 2, 3, 6)] {
        let (w, x) = layer(seed, ci, co, k, 10);
        let zero = 128;
        let qw = quantize_weights(&w, bits, &cfg);
        let mut h = Hessian::zeros(ci * k * k);
        h.add_codes(x.view(), zero, k, 1, k / 2);
        let f = InverseFactor::refined(&h, true).unwrap();
        let q = round_weights_with(&w, &qw.scale, bits, &f);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| round_weights_with(&w, &qw.scale, bits, &f));
        assert_eq!(q, one, "seed {seed}: thread count changed the integers");
        let wm = (1 << (bits - 1)) - 1;
        assert!(q.iter().all(|v| (-wm..=wm).contains(v)));
        for o in 0..co {
            let e = centred_error(&w, &q, &qw.scale, &x, zero, o);
            let en = centred_error(&w, &qw.wq, &qw.scale, &x, zero, o);
            assert!(e <= en, "seed {seed} ch {o}: refined {e} > nearest {en}");
            for j in 0..ci * k * k {
                for step in [1, -1] {
                    let mut t = q.clone();
                    let v = &mut t.as_slice_mut().unwrap()[o * ci * k * k + j];
                    if (*v + step).abs() > wm {
                        continue;
                    }
                    *v += step;
                    let et = centred_error(&w, &t, &qw.scale, &x, zero, o);
                    assert!(
                        et >= e * (1.0 - 1e-9),
                        "seed {seed} ch {o} col {j} {step:+}: {et} < {e}"
                    );
                }
            }
        }
    }
}

/// On the synthetic model `gptq-refine` is recorded, changes only integer weights (formats,
/// scales and shifts equal nearest rounding's) and two runs are identical.
#[test]
fn synthetic_model_refined_rounding_is_recorded_and_deterministic() {
    let cfg = |rounding| QuantConfig {
        wbits: 4,
        rounding,
        ..QuantConfig::default()
    };
    let run = |r| synthetic::quant_graph(synthetic::SEED, 32, 3, &cfg(r)).unwrap();
    let (near, r1, r2) = (
        run(Rounding::Nearest),
        run(Rounding::GptqRefine),
        run(Rounding::GptqRefine),
    );
    assert_eq!(store::encode(&r1).unwrap(), store::encode(&r2).unwrap());
    assert!(store::encode(&r1)
        .unwrap()
        .0
        .contains("rounding: GptqRefine"));
    for (a, b) in near.nodes.iter().zip(&r1.nodes) {
        assert_eq!(a.fmt, b.fmt, "{}", a.name);
        if let (QOp::Conv(a), QOp::Conv(b)) = (&a.op, &b.op) {
            assert_eq!(
                (&a.shift, &a.mult, &a.wscale),
                (&b.shift, &b.mult, &b.wscale)
            );
            assert!(b.weight.iter().all(|v| (-7..=7).contains(v)));
        }
    }
}
