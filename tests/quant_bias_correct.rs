//! Bias correction: against a naive float convolution written here, the corrected quantized
//! convolution has (near) zero mean output error per channel, far less than without the
//! correction; and in the integer model the correction reaches the integer bias of a real layer.

use ndarray::{Array1, Array3, Array4};
use proptest::prelude::*;
use yoloq_gen::fuse::fuse;
use yoloq_gen::graph::Op;
use yoloq_gen::model::FloatGraph;
use yoloq_gen::quant::bias_correct::{correction, TapSums};
use yoloq_gen::quant::int_model::input_codes;
use yoloq_gen::quant::kernels::conv_acc;
use yoloq_gen::quant::weights::quantize_weights;
use yoloq_gen::quant::{QOp, QuantConfig, ScaleMode};
use yoloq_gen::synthetic;

/// Naive float convolution, f64, zero padding.
fn conv(x: &Array3<f32>, w: &Array4<f64>, b: &[f64], stride: usize, pad: usize) -> Array3<f64> {
    let (ci, h, wd) = x.dim();
    let (co, _, k, _) = w.dim();
    let (ho, wo) = (
        (h + 2 * pad - k) / stride + 1,
        (wd + 2 * pad - k) / stride + 1,
    );
    Array3::from_shape_fn((co, ho, wo), |(o, oy, ox)| {
        let mut s = b[o];
        for c in 0..ci {
            for ky in 0..k {
                for kx in 0..k {
                    let y = (oy * stride + ky) as isize - pad as isize;
                    let xx = (ox * stride + kx) as isize - pad as isize;
                    if (0..h as isize).contains(&y) && (0..wd as isize).contains(&xx) {
                        s += w[[o, c, ky, kx]] * x[[c, y as usize, xx as usize]] as f64;
                    }
                }
            }
        }
        s
    })
}

/// Per output channel: mean of `a − b` over all images and positions.
fn mean_err(a: &[Array3<f64>], b: &[Array3<f64>]) -> Vec<f64> {
    let co = a[0].dim().0;
    (0..co)
        .map(|o| {
            let (mut s, mut n) = (0.0, 0usize);
            for (x, y) in a.iter().zip(b) {
                for (p, q) in x
                    .outer_iter()
                    .nth(o)
                    .unwrap()
                    .iter()
                    .zip(y.outer_iter().nth(o).unwrap().iter())
                {
                    s += p - q;
                    n += 1;
                }
            }
            s / n as f64
        })
        .collect()
}

struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A random conv and inputs with a per-channel offset (like SiLU outputs); returns the float
/// outputs and the quantized outputs without and with the correction (computed on `calib`).
#[allow(clippy::type_complexity)]
fn case(seed: u64, wbits: u32, k: usize, stride: usize, held_out: bool) -> (Vec<f64>, Vec<f64>) {
    let mut r = Rng(seed | 1);
    let (ci, co, h) = (3 + (seed % 4) as usize, 2 + (seed % 5) as usize, 9);
    let pad = k / 2;
    let w = Array4::from_shape_simple_fn((co, ci, k, k), || (r.unit() - 0.5) as f32);
    let b: Vec<f64> = (0..co).map(|_| r.unit() - 0.5).collect();
    let offs: Vec<f64> = (0..ci).map(|_| 0.5 + 2.0 * r.unit()).collect();
    let img = |r: &mut Rng| {
        Array3::from_shape_fn((ci, h, h), |(c, _, _)| {
            (offs[c] + 0.2 * (r.unit() - 0.5)) as f32
        })
    };
    let calib: Vec<Array3<f32>> = (0..6).map(|_| img(&mut r)).collect();
    let test: Vec<Array3<f32>> = if held_out {
        (0..6).map(|_| img(&mut r)).collect()
    } else {
        calib.clone()
    };
    let mut taps = TapSums::zeros(ci, k);
    for x in &calib {
        taps.add(x.view(), stride, pad);
    }
    let cfg = QuantConfig {
        wbits,
        scale: ScaleMode::Pow2,
        ..Default::default()
    };
    let wd = quantize_weights(&w, wbits, &cfg).dequant();
    let corr = correction(&w, &wd, &taps.mean());
    let bc: Vec<f64> = b.iter().zip(&corr).map(|(b, c)| b - c).collect();
    let wf = w.mapv(|v| v as f64);
    let f: Vec<_> = test.iter().map(|x| conv(x, &wf, &b, stride, pad)).collect();
    let plain: Vec<_> = test.iter().map(|x| conv(x, &wd, &b, stride, pad)).collect();
    let fixed: Vec<_> = test
        .iter()
        .map(|x| conv(x, &wd, &bc, stride, pad))
        .collect();
    (mean_err(&plain, &f), mean_err(&fixed, &f))
}

fn l1(v: &[f64]) -> f64 {
    v.iter().map(|x| x.abs()).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    /// On the calibration inputs themselves the corrected mean error is zero.
    #[test]
    fn corrected_mean_error_is_zero_on_calibration_inputs(seed in any::<u64>(), wbits in 3u32..9,
            k in prop::sample::select(vec![1usize, 3]), stride in 1usize..3) {
        let (plain, fixed) = case(seed, wbits, k, stride, false);
        prop_assert!(l1(&fixed) <= 1e-9 * (1.0 + l1(&plain)), "{plain:?} -> {fixed:?}");
    }
}

/// On held-out inputs from the same distribution the mean error shrinks several times.
#[test]
fn correction_reduces_mean_error_on_held_out_inputs() {
    for wbits in [4, 6] {
        let (mut plain, mut fixed) = (0.0, 0.0);
        for seed in 0..20u64 {
            let (p, f) = case(seed * 7919 + 3, wbits, 3, 1 + (seed % 2) as usize, true);
            plain += l1(&p);
            fixed += l1(&f);
        }
        eprintln!("W{wbits}: sum |mean error| {plain:.5} -> {fixed:.5}");
        assert!(fixed * 3.0 < plain, "W{wbits}: {plain} -> {fixed}");
    }
}

/// Integer model, first layer of the synthetic network (input in pixel units, weights /255):
/// the dequantized accumulator's mean error against the float pre-activation is within half an
/// accumulator step with the correction, and larger without it.
#[test]
fn integer_bias_carries_the_correction() {
    let fg = fuse(&FloatGraph::from_checkpoint(&synthetic::checkpoint(synthetic::SEED)).unwrap());
    let g = fg.graph();
    let i = g
        .nodes
        .iter()
        .position(|n| matches!(n.op, Op::Conv(_)))
        .unwrap();
    let Op::Conv(c) = &g.nodes[i].op else {
        unreachable!()
    };
    let images: Vec<Array3<f32>> = (0..synthetic::CALIB_IMAGES)
        .map(|j| synthetic::image(synthetic::SEED + 1 + j as u64, 32))
        .collect();
    let b = c.bias.clone().unwrap_or_else(|| Array1::zeros(c.c_out()));
    let b: Vec<f64> = b.iter().map(|&v| v as f64).collect();
    let float: Vec<_> = images
        .iter()
        .map(|x| conv(x, &c.weight.mapv(|v| v as f64), &b, c.stride, c.pad))
        .collect();
    let mut errs = vec![];
    for bias_correct in [false, true] {
        let cfg = QuantConfig {
            wbits: 4,
            bias_correct,
            qnms: false,
            ..Default::default()
        };
        let q = synthetic::quant_graph(synthetic::SEED, 32, synthetic::CALIB_IMAGES, &cfg).unwrap();
        let QOp::Conv(qc) = &q.nodes[i].op else {
            panic!("node {i} is not an integer conv")
        };
        // Codes are pixels and the weights absorbed the 1/255: acc · s_in · s_w is in float units.
        let s_in = q.nodes[g.nodes[i].inputs[0]].fmt.unwrap().scale;
        let deq: Vec<Array3<f64>> = images
            .iter()
            .map(|x| {
                let mut a = conv_acc(input_codes(x, 0).view(), qc).mapv(|v| v as f64);
                for (o, mut ch) in a.outer_iter_mut().enumerate() {
                    ch.mapv_inplace(|v| v * s_in * qc.wscale[o]);
                }
                a
            })
            .collect();
        let e = mean_err(&deq, &float);
        if bias_correct {
            for (o, &v) in e.iter().enumerate() {
                let step = s_in * qc.wscale[o];
                assert!(
                    v.abs() <= 0.5 * step + 1e-9,
                    "channel {o}: mean error {v} > half step {step}"
                );
            }
        }
        errs.push(l1(&e));
    }
    eprintln!("layer 0 sum |mean error|: {:.5} -> {:.5}", errs[0], errs[1]);
    assert!(errs[1] < errs[0], "{errs:?}");
}
