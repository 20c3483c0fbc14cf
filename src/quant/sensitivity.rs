//! Per-layer sensitivity: how much the detector's output moves when one convolution's weights
//! alone are quantized to `b` bits (2–8), every other layer staying float.
//!
//! For each convolution and width, the weights are quantized as the real run does it (the
//! same scale choice, GPTQ rounding from the layer's float inputs when `--rounding gptq` (refined
//! with `gptq-refine`), bias
//! correction when on), put back into the float model, and the model is re-run from that
//! layer on over the first [`SENS_IMAGES`] calibration images. The error is measured on what
//! the detections are made of, per anchor `a` and image:
//!
//! ```text
//! E = Σ_a [ Σ_c (σ(z̃_ac) − σ(z_ac))²  +  B · m_a · Σ_sides (d̃_as − d_as)² / size_as² ]
//! ```
//!
//! with `σ` the class sigmoid, `m_a = max_c σ(z_ac)` the float score of the anchor, `d_as` the
//! DFL distance of box side `s` (grid cells) and `size_as` the float box's width (left +
//! right) or height (top + bottom), at least one cell, and `B` = [`BOX_WEIGHT`]: score errors
//! everywhere, relative box errors where there is an object. The figure is the mean over the images.
//!
//! Guarantees: a pure function of its inputs (every sum in a fixed order); the float model's
//! own output has error 0.

mod plot;

pub use plot::plot;

use super::bias_correct;
use super::calibrate::CalibStats;
use super::gptq::{round_weights_with, CalibImages, Hessian, InverseFactor};
use super::weights::quantize_weights;
use super::{HeadMode, QuantConfig, Rounding};
use crate::error::Result;
use crate::graph::{Conv, Graph, Op};
use crate::model::{detect, forward};
use ndarray::{Array1, Array3};
use rayon::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;

/// Widths measured per layer (and the ones the budget allocator may choose).
pub const WIDTHS: [u32; 7] = [2, 3, 4, 5, 6, 7, 8];

/// Weight of the box term against the score term of `E`. With 1, box errors summed to about
/// 1/100 of score errors and the 4.5-bit budget gave the box-branch convolutions 2–3 bits
/// (0.3942 AP, before the running-maximum rule); with 30, 0.4058 (docs/RESULTS.md).
pub const BOX_WEIGHT: f64 = 30.0;

/// Calibration images the sensitivity is measured on (the first ones).
pub const SENS_IMAGES: usize = 4;

/// One convolution's error at each of [`WIDTHS`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerSensitivity {
    /// Node index in the graph.
    pub node: usize,
    pub name: String,
    pub weights: usize,
    /// Output error `E` (module docs) with this layer alone at each width of [`WIDTHS`].
    pub err: Vec<f64>,
}

/// Every integer convolution's sensitivity, in graph order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sensitivity {
    pub images: usize,
    pub layers: Vec<LayerSensitivity>,
}

/// What the error compares, per level: class scores `[nc][hw]`, side distances `[4][hw]`.
struct HeadView {
    scores: Vec<Vec<f32>>,
    sides: Vec<Vec<f32>>,
}

fn head_view(g: &Graph, value: &dyn Fn(usize) -> Array3<f32>) -> Vec<HeadView> {
    let h = &g.head;
    (0..h.box_nodes.len())
        .map(|l| {
            let b = value(h.box_nodes[l]);
            let c = value(h.cls_nodes[l]);
            let hw = b.shape()[1] * b.shape()[2];
            let b = b.as_standard_layout().to_owned();
            let bs = b.as_slice().expect("standard layout");
            let scores = c
                .outer_iter()
                .map(|ch| ch.iter().map(|&v| detect::sigmoid(v)).collect())
                .collect();
            let r = h.reg_max;
            let sides = (0..4)
                .map(|s| {
                    let mut bins = vec![0f32; r];
                    (0..hw)
                        .map(|p| {
                            for (k, v) in bins.iter_mut().enumerate() {
                                *v = bs[(s * r + k) * hw + p];
                            }
                            detect::dfl_expectation(&bins)
                        })
                        .collect()
                })
                .collect();
            HeadView { scores, sides }
        })
        .collect()
}

fn head_error(reference: &[HeadView], test: &[HeadView]) -> f64 {
    let mut e = 0f64;
    for (r, t) in reference.iter().zip(test) {
        let hw = r.sides[0].len();
        for p in 0..hw {
            let mut m = 0f32;
            for (rc, tc) in r.scores.iter().zip(&t.scores) {
                let d = (tc[p] - rc[p]) as f64;
                e += d * d;
                m = m.max(rc[p]);
            }
            let width = (r.sides[0][p] + r.sides[2][p]).max(1.0) as f64;
            let height = (r.sides[1][p] + r.sides[3][p]).max(1.0) as f64;
            for s in 0..4 {
                let size = if s % 2 == 0 { width } else { height };
                let d = (t.sides[s][p] - r.sides[s][p]) as f64 / size;
                e += BOX_WEIGHT * m as f64 * d * d;
            }
        }
    }
    e
}

/// The float model's outputs from node `l` on with conv `l` replaced by `conv`, reusing the
/// float values `vals` of every node that does not depend on `l`.
fn rerun_from(g: &Graph, vals: &[Array3<f32>], l: usize, conv: &Conv) -> Vec<HeadView> {
    let n = g.nodes.len();
    let mut new: Vec<Option<Array3<f32>>> = vec![None; n];
    new[l] = Some(forward::run_conv(conv, &vals[g.nodes[l].inputs[0]]));
    for j in l + 1..n {
        let node = &g.nodes[j];
        if node.inputs.iter().any(|&i| new[i].is_some()) {
            let ins: Vec<&Array3<f32>> = node
                .inputs
                .iter()
                .map(|&i| new[i].as_ref().unwrap_or(&vals[i]))
                .collect();
            new[j] = Some(forward::eval_node(&node.op, &ins));
        }
    }
    head_view(g, &|i| new[i].clone().unwrap_or_else(|| vals[i].clone()))
}

/// The convolutions that become integer convolutions (with `--head float`, not the head's
/// last ones).
pub fn integer_convs(g: &Graph, cfg: &QuantConfig) -> Vec<usize> {
    g.nodes
        .iter()
        .enumerate()
        .filter(|(i, n)| {
            let head = g.head.box_nodes.contains(i) || g.head.cls_nodes.contains(i);
            matches!(n.op, Op::Conv(_)) && !(head && cfg.head == HeadMode::Float)
        })
        .map(|(i, _)| i)
        .collect()
}

/// Conv `c` with its weights quantized to `wbits` as the run would (module docs), in float.
fn quantized_conv(
    c: &Conv,
    from_input: bool,
    wbits: u32,
    hess: Option<&InverseFactor>,
    tap_mean: Option<&Array3<f64>>,
    cfg: &QuantConfig,
) -> Conv {
    // The integer model reads pixels (0–255) where the float model reads [0, 1].
    let k: f64 = if from_input { 255.0 } else { 1.0 };
    let w = c.weight.mapv(|v| v / k as f32);
    let mut qw = quantize_weights(&w, wbits, cfg);
    if let Some(f) = hess {
        qw.wq = round_weights_with(&w, &qw.scale, wbits, f);
    }
    let deq = qw.dequant();
    let corr = match tap_mean {
        Some(m) => bias_correct::correction(&w, &deq, &m.mapv(|v| v * k)),
        None => vec![0.0; c.c_out()],
    };
    let bias: Array1<f32> = (0..c.c_out())
        .map(|o| (c.bias.as_ref().map_or(0.0, |b| b[o] as f64) - corr[o]) as f32)
        .collect();
    Conv {
        weight: deq.mapv(|v| (v * k) as f32),
        bias: Some(bias),
        ..c.clone()
    }
}

/// Measure every integer convolution's sensitivity on the first [`SENS_IMAGES`] images.
pub fn measure(
    g: &Graph,
    stats: &CalibStats,
    cfg: &QuantConfig,
    images: CalibImages,
) -> Result<Sensitivity> {
    measure_layers(g, stats, cfg, images, &integer_convs(g, cfg))
}

/// [`measure`] for the convolutions `convs` (node indices) only.
pub fn measure_layers(
    g: &Graph,
    stats: &CalibStats,
    cfg: &QuantConfig,
    images: CalibImages,
    convs: &[usize],
) -> Result<Sensitivity> {
    let count = images.count.min(SENS_IMAGES);
    let inputs: Vec<Array3<f32>> = (0..count)
        .map(|i| (images.load)(i))
        .collect::<Result<_>>()?;
    let vals: Vec<Vec<Array3<f32>>> = inputs
        .iter()
        .map(|x| {
            forward::forward(g, x, true)
                .values
                .into_iter()
                .map(|v| v.expect("kept"))
                .collect()
        })
        .collect();
    let reference: Vec<Vec<HeadView>> = vals
        .iter()
        .map(|v| head_view(g, &|i| v[i].clone()))
        .collect();
    let pb = crate::progress::bar(convs.len() as u64, "sensitivity");
    let mut layers = Vec::with_capacity(convs.len());
    for &l in convs {
        let Op::Conv(c) = &g.nodes[l].op else {
            unreachable!("a convolution")
        };
        let src = g.nodes[l].inputs[0];
        let from_input = matches!(g.nodes[src].op, Op::Input);
        // A layer whose inputs do not determine its weights keeps nearest rounding, as in the run.
        let refine = (cfg.rounding == Rounding::GptqRefine).then_some(cfg.bias_correct);
        let hess = cfg
            .rounding
            .learned()
            .then(|| {
                let mut h = Hessian::zeros(c.c_in() * c.k() * c.k());
                for v in &vals {
                    h.add_values(v[src].view(), c.k(), c.stride, c.pad);
                }
                InverseFactor::for_rounding(&h, refine)
            })
            .flatten();
        let tap_mean = match (&stats.taps[l], cfg.bias_correct) {
            (Some(t), true) => Some(t.mean()),
            _ => None,
        };
        let err: Vec<f64> = WIDTHS
            .iter()
            .map(|&b| {
                let qc = quantized_conv(c, from_input, b, hess.as_ref(), tap_mean.as_ref(), cfg);
                let per_image: Vec<f64> = (0..count)
                    .into_par_iter()
                    .map(|i| head_error(&reference[i], &rerun_from(g, &vals[i], l, &qc)))
                    .collect();
                per_image.iter().sum::<f64>() / count as f64
            })
            .collect();
        layers.push(LayerSensitivity {
            node: l,
            name: g.nodes[l].name.clone(),
            weights: c.weight.len(),
            err,
        });
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(Sensitivity {
        images: count,
        layers,
    })
}

impl Sensitivity {
    /// Markdown table: one row per layer, the error at each width, and the chosen width.
    pub fn markdown(&self, chosen: &[u32]) -> String {
        let mut s = format!(
            "Output error `E` with one layer quantized at a time (docs/quantization.md, \
             \"Mixed precision\"), mean over {} calibration images.\n\n| layer | weights |",
            self.images
        );
        for b in WIDTHS {
            let _ = write!(s, " W{b} |");
        }
        s.push_str(" chosen |\n|---|---:|");
        for _ in WIDTHS {
            s.push_str("---:|");
        }
        s.push_str("---:|\n");
        for (l, b) in self.layers.iter().zip(chosen) {
            let _ = write!(s, "| {} | {} |", l.name, l.weights);
            for e in &l.err {
                let _ = write!(s, " {e:.3e} |");
            }
            let _ = writeln!(s, " {b} |");
        }
        s
    }
}

/// The width each layer of `sens` got in `q`.
pub fn chosen_widths(q: &super::QuantGraph, sens: &Sensitivity) -> Vec<u32> {
    sens.layers
        .iter()
        .map(|l| match &q.nodes[l.node].op {
            super::QOp::Conv(c) => c.wbits,
            _ => 0,
        })
        .collect()
}

/// The output error `E` (module docs) of a whole quantized model against the float model,
/// mean over the first [`SENS_IMAGES`] of `images`: what the per-layer figures, summed,
/// predict when the errors add up.
pub fn model_error(g: &Graph, q: &super::QuantGraph, images: CalibImages) -> Result<f64> {
    let count = images.count.min(SENS_IMAGES);
    let mut e = 0f64;
    for i in 0..count {
        let x = (images.load)(i)?;
        let f = forward::forward(g, &x, false);
        let reference = head_view(g, &|j| f.values[j].clone().expect("head input kept"));
        let r = super::int_model::forward(q, &x, true, crate::rtl::qnms::NMS);
        let test = head_view(g, &|j| match r.values[j].as_ref().expect("kept") {
            super::int_model::Value::Int(a) => {
                let fmt = q.nodes[j].fmt.expect("integer head output");
                a.mapv(|c| fmt.dequant(c))
            }
            super::int_model::Value::Float(a) => a.clone(),
        });
        e += head_error(&reference, &test);
    }
    Ok(e / count as f64)
}
