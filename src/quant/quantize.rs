//! `FusedGraph` + calibration statistics + options → [`QuantGraph`].
//!
//! Guarantees: every tensor format has `abits` codes, every weight fits its layer's width
//! (`wbits`, or at least 8 for `--keep8` layers) signed,
//! every accumulator's worst case (from the actual weights and input code range) is proven
//! to fit its recorded width, and the result is a pure function of its inputs.

use super::bias_correct;
use super::calibrate::{choose_format, CalibStats};
use super::gptq::{CalibImages, Sequential};
use super::spec::{mult_shift, partial_sum_range, signed_bits, weight_max, QFormat};
use super::weights::{channel_max, layer_wbits, quantize_weights, scale_candidates, QWeights};
use super::{
    Granularity, HeadMode, QAct, QConv, QNode, QOp, QuantConfig, QuantGraph, Rounding, ScaleMode,
    ScaleSearch,
};
use crate::error::{Error, Result};
use crate::fuse::FusedGraph;
use crate::graph::{Act, Conv, Op};
use ndarray::{Array3, Array4, Axis};

/// Widest accumulator the tool accepts (the RTL and the reference model use at most this).
pub const MAX_ACC_BITS: u32 = 48;

/// `logit(1e-4)`: class logits below it are clipped (scores below 1e-4 are never reported).
pub const CLS_LOGIT_FLOOR: f64 = -9.2102;

/// Check bit widths.
pub fn check_bits(cfg: &QuantConfig) -> Result<()> {
    for (arg, b) in [
        ("--wbits", cfg.wbits),
        ("--abits", cfg.abits),
        ("--lut-bits", cfg.lut_bits),
        ("--input-bits", cfg.input_bits.unwrap_or(cfg.abits)),
    ] {
        if !(2..=16).contains(&b) {
            return Err(Error::arg(
                arg,
                format!("{b} bits is not supported; use a width from 2 to 16"),
            ));
        }
    }
    Ok(())
}

/// Format of the input tensor: raw pixels shifted right to fit `abits` (value = code * 2^shift,
/// in pixel units; layer 0's weights absorb the 1/255).
pub fn input_format(abits: u32) -> (u32, QFormat) {
    let shift = 8u32.saturating_sub(abits);
    (shift, QFormat::pow2(abits, -(shift as i32), 0))
}

/// Quantize one convolution whose input has format `fi`, with integer weights `qw`; `target`
/// is the format the requantizer produces (the table index format when `act` is a table).
/// With `tap_mean` (the
/// mean input under each kernel tap, in the units of `w`'s input) the mean output shift caused
/// by rounding the weights is removed from the bias.
#[allow(clippy::too_many_arguments)]
fn quantize_conv(
    name: &str,
    c: &Conv,
    w: &Array4<f32>,
    fi: &QFormat,
    target: &QFormat,
    act: QAct,
    qw: QWeights,
    tap_mean: Option<&Array3<f64>>,
    cfg: &QuantConfig,
) -> Result<QConv> {
    let co = c.c_out();
    let wbits = qw.wbits;
    let corr = match tap_mean {
        Some(m) => bias_correct::correction(w, &qw.dequant(), m),
        None => vec![0.0; co],
    };
    let (mut bias, mut mult, mut shift) = (vec![0i64; co], vec![1i64; co], vec![0i32; co]);
    let (mut acc_bound, qmax_in) = (0i64, fi.qmax() as i64);
    let b = c.bias.as_ref();
    for o in 0..co {
        let wc = qw.wq.index_axis(Axis(0), o);
        let wsum: i64 = wc.iter().map(|&q| q as i64).sum();
        let (lo_sum, hi_sum) = partial_sum_range(wc.iter(), qmax_in);
        let acc_scale = fi.scale * qw.scale[o];
        let bf = b.map_or(0.0, |b| b[o] as f64) - corr[o];
        bias[o] = (bf / acc_scale).round() as i64 - fi.zero as i64 * wsum;
        let (hi, lo) = (bias[o] + hi_sum, bias[o] + lo_sum);
        acc_bound = acc_bound.max(hi.abs()).max(lo.abs());
        match cfg.scale {
            ScaleMode::Pow2 => shift[o] = fi.frac + qw.frac[o] - target.frac,
            ScaleMode::Mult => (mult[o], shift[o]) = mult_shift(acc_scale / target.scale),
        }
    }
    let acc_bits = signed_bits(acc_bound);
    if acc_bits > MAX_ACC_BITS {
        return Err(Error::arg(
            "--wbits/--abits",
            format!("layer {name}: worst-case accumulator needs {acc_bits} bits (> {MAX_ACC_BITS}); use fewer weight or activation bits"),
        ));
    }
    Ok(QConv {
        weight: qw.wq,
        wbits,
        bias,
        stride: c.stride,
        pad: c.pad,
        pad_value: fi.zero,
        mult,
        shift,
        wscale: qw.scale,
        act,
        acc_bound,
        acc_bits,
    })
}

/// SiLU table: `table[i] = out.quantize(silu(pre.dequant(i)))`.
pub fn silu_table(pre: &QFormat, out: &QFormat) -> Vec<i32> {
    (0..=pre.qmax())
        .map(|i| {
            let v = pre.dequant(i);
            out.quantize(v / (1.0 + (-v).exp()))
        })
        .collect()
}

/// Build the quantized graph (nearest rounding; `--rounding gptq` needs the calibration
/// images: [`quantize_with`]).
pub fn quantize(fg: &FusedGraph, stats: &CalibStats, cfg: &QuantConfig) -> Result<QuantGraph> {
    quantize_with(fg, stats, cfg, None)
}

/// Build the quantized graph; `images` (the calibration images) are read by the rounding
/// passes that run the partly quantized model (`--rounding gptq`).
pub fn quantize_with(
    fg: &FusedGraph,
    stats: &CalibStats,
    cfg: &QuantConfig,
    images: Option<CalibImages>,
) -> Result<QuantGraph> {
    check_bits(cfg)?;
    let g = fg.graph();
    let (cfg, sensitivity) = super::budget::resolve(g, stats, cfg, images)?;
    let cfg = &cfg;
    let mut seq = match (cfg.rounding, images) {
        (Rounding::Nearest, _) => None,
        (r, Some(im)) => Some(Sequential::new(
            g,
            im,
            (r == Rounding::GptqRefine).then_some(cfg.bias_correct),
        )),
        (_, None) => {
            return Err(Error::arg(
                "--rounding",
                "gptq and gptq-refine need the calibration images; quantize through a command that reads them (quantize, sweep, the main job)",
            ))
        }
    };
    let (in_shift, in_fmt) = input_format(cfg.input_bits.unwrap_or(cfg.abits));
    let group_fmt: Vec<QFormat> = stats
        .group_hist
        .iter()
        .map(|h| choose_format(h, cfg.abits, cfg.method, cfg.scale))
        .collect();
    let float_head: Vec<usize> = match cfg.head {
        HeadMode::Float => g
            .head
            .box_nodes
            .iter()
            .chain(&g.head.cls_nodes)
            .copied()
            .collect(),
        HeadMode::Int => vec![],
    };
    let mut nodes: Vec<QNode> = Vec::with_capacity(g.nodes.len());
    for (i, n) in g.nodes.iter().enumerate() {
        let is_head_out = g.head.box_nodes.contains(&i) || g.head.cls_nodes.contains(&i);
        let fmt = if matches!(n.op, Op::Input) {
            in_fmt
        } else if is_head_out {
            let h = &stats.group_hist[stats.groups[i]];
            // Class logits below logit(1e-4) all mean "no object": spend no codes on them.
            let h = if g.head.cls_nodes.contains(&i) {
                h.floored(CLS_LOGIT_FLOOR)
            } else {
                h.clone()
            };
            // Box-distribution logits feed a softmax over all bins: clipping their low end
            // biases every flat distribution towards the middle bin, so they keep the full range.
            let m = if g.head.box_nodes.contains(&i) {
                super::CalibMethod::Max
            } else {
                cfg.method
            };
            choose_format(&h, cfg.head_bits, m, cfg.scale)
        } else {
            group_fmt[stats.groups[i]]
        };
        let (op, fmt) = match &n.op {
            Op::Input => (QOp::Input { shift: in_shift }, Some(fmt)),
            Op::Conv(c) if float_head.contains(&i) => (QOp::FloatConv(c.clone()), None),
            Op::Conv(c) => {
                let src = n.inputs[0];
                let fi = nodes[src].fmt.expect("conv input is an integer tensor");
                // The image input is in pixel units (0–255) where the float model reads [0, 1].
                let from_input = matches!(g.nodes[src].op, Op::Input);
                let w = if from_input {
                    c.weight.mapv(|v| v / 255.0)
                } else {
                    c.weight.clone()
                };
                let wbits = layer_wbits(g, i, cfg);
                let mut qw = quantize_weights(&w, wbits, cfg);
                let search = cfg.scale_search == ScaleSearch::Output
                    && cfg.granularity == Granularity::Channel;
                if let (Some(seq), true) = (seq.as_mut(), search) {
                    let wm = weight_max(wbits) as f64;
                    let cands: Vec<Vec<(f64, i32)>> = channel_max(&w)
                        .iter()
                        .map(|&m| scale_candidates(m, wm, cfg.scale))
                        .collect();
                    let q = seq.weights_search(
                        &nodes,
                        &n.name,
                        src,
                        fi.zero,
                        (c.stride, c.pad),
                        &w,
                        &cands,
                        wbits,
                        cfg.bias_correct,
                    )?;
                    if let Some((q, pick)) = q {
                        qw.wq = q;
                        for (o, &k) in pick.iter().enumerate() {
                            (qw.scale[o], qw.frac[o]) = cands[o][k];
                        }
                    }
                } else if let Some(seq) = seq.as_mut() {
                    let q = seq.weights(
                        &nodes,
                        &n.name,
                        src,
                        fi.zero,
                        (c.stride, c.pad),
                        &w,
                        &qw.scale,
                        wbits,
                    )?;
                    if let Some(q) = q {
                        qw.wq = q;
                    }
                }
                let tap_mean = match (&stats.taps[i], cfg.bias_correct) {
                    (Some(t), true) => {
                        Some(t.mean().mapv(|m| if from_input { m * 255.0 } else { m }))
                    }
                    _ => None,
                };
                let q = if c.act == Act::Silu {
                    let h = stats.pre_hist[i].as_ref().ok_or_else(|| {
                        Error::Other(format!("no pre-activation statistics for {}", n.name))
                    })?;
                    let pre = choose_format(h, cfg.lut_bits, cfg.method, cfg.scale);
                    let act = QAct::Lut {
                        pre,
                        table: silu_table(&pre, &fmt),
                    };
                    quantize_conv(&n.name, c, &w, &fi, &pre, act, qw, tap_mean.as_ref(), cfg)?
                } else {
                    quantize_conv(
                        &n.name,
                        c,
                        &w,
                        &fi,
                        &fmt,
                        QAct::None,
                        qw,
                        tap_mean.as_ref(),
                        cfg,
                    )?
                };
                (QOp::Conv(q), Some(fmt))
            }
            Op::Slice { start, end } => (
                QOp::Slice {
                    start: *start,
                    end: *end,
                },
                Some(fmt),
            ),
            Op::Concat => (QOp::Concat, Some(fmt)),
            Op::Add => {
                let shifts = n
                    .inputs
                    .iter()
                    .map(|&j| align_shift(&nodes[j].fmt.unwrap(), &fmt))
                    .collect();
                (QOp::Add { shifts }, Some(fmt))
            }
            Op::MaxPool { k, stride, pad } => (
                QOp::MaxPool {
                    k: *k,
                    stride: *stride,
                    pad: *pad,
                },
                Some(fmt),
            ),
            Op::Upsample { factor } => (QOp::Upsample { factor: *factor }, Some(fmt)),
        };
        nodes.push(QNode {
            name: n.name.clone(),
            op,
            inputs: n.inputs.clone(),
            fmt,
        });
    }
    if let Some(seq) = &seq {
        seq.finish();
    }
    let qnms = if cfg.qnms {
        Some(super::qhead::QnmsTables::new(&nodes, &g.head, cfg)?)
    } else {
        None
    };
    Ok(QuantGraph {
        nodes,
        head: g.head.clone(),
        class_names: g.class_names.clone(),
        config: cfg.clone(),
        qnms,
        sensitivity,
    })
}

/// Right shift aligning a code of format `a` to format `out` (same group: 0).
fn align_shift(a: &QFormat, out: &QFormat) -> i32 {
    a.frac - out.frac
}
