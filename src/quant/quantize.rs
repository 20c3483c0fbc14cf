//! `FusedGraph` + calibration statistics + options → [`QuantGraph`].
//!
//! Guarantees: every tensor format has `abits` codes, every weight fits `wbits` signed,
//! every accumulator's worst case (from the actual weights and input code range) is proven
//! to fit its recorded width, and the result is a pure function of its inputs.

use super::calibrate::{choose_format, CalibStats};
use super::spec::{mult_shift, signed_bits, weight_max, QFormat};
use super::{Granularity, HeadMode, QAct, QConv, QNode, QOp, QuantConfig, QuantGraph, ScaleMode};
use crate::error::{Error, Result};
use crate::fuse::FusedGraph;
use crate::graph::{Act, Conv, Op};
use ndarray::{Array4, Axis};

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

/// Quantize one convolution whose input has format `fi`; `target` is the format the
/// requantizer produces (the table index format when `act` is a table).
fn quantize_conv(
    name: &str,
    c: &Conv,
    w: &Array4<f32>,
    fi: &QFormat,
    target: &QFormat,
    act: QAct,
    cfg: &QuantConfig,
) -> Result<QConv> {
    let co = c.c_out();
    let wm = weight_max(cfg.wbits) as f64;
    let ch_max: Vec<f64> = w
        .axis_iter(Axis(0))
        .map(|wc| {
            wc.iter()
                .fold(0f64, |m, &v| m.max(v.abs() as f64))
                .max(1e-12)
        })
        .collect();
    let tensor_max = ch_max.iter().cloned().fold(0f64, f64::max);
    let all: Vec<f32> = match cfg.granularity {
        Granularity::Tensor => w.iter().copied().collect(),
        Granularity::Channel => vec![],
    };
    let tensor_scale = weight_scale(&all, tensor_max, wm, cfg);
    let mut wq = Array4::<i32>::zeros(w.raw_dim());
    let (mut bias, mut mult, mut shift, mut wscale) = (
        vec![0i64; co],
        vec![1i64; co],
        vec![0i32; co],
        vec![0f64; co],
    );
    let (mut acc_bound, qmax_in) = (0i64, fi.qmax() as i64);
    let b = c.bias.as_ref();
    for o in 0..co {
        let (sw, fw) = match cfg.granularity {
            Granularity::Channel => {
                let wc: Vec<f32> = w.index_axis(Axis(0), o).iter().copied().collect();
                weight_scale(&wc, ch_max[o], wm, cfg)
            }
            Granularity::Tensor => tensor_scale,
        };
        wscale[o] = sw;
        let mut wsum = 0i64;
        let (mut pos, mut neg) = (0i64, 0i64);
        for (dst, &v) in wq
            .index_axis_mut(Axis(0), o)
            .iter_mut()
            .zip(w.index_axis(Axis(0), o).iter())
        {
            let q = ((v as f64 / sw).round() as i64).clamp(-(wm as i64), wm as i64);
            *dst = q as i32;
            wsum += q;
            if q > 0 {
                pos += q
            } else {
                neg += q
            }
        }
        let acc_scale = fi.scale * sw;
        let bf = b.map_or(0.0, |b| b[o] as f64);
        bias[o] = (bf / acc_scale).round() as i64 - fi.zero as i64 * wsum;
        let hi = bias[o] + qmax_in * pos;
        let lo = bias[o] + qmax_in * neg;
        acc_bound = acc_bound.max(hi.abs()).max(lo.abs());
        match cfg.scale {
            ScaleMode::Pow2 => shift[o] = fi.frac + fw - target.frac,
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
        weight: wq,
        wbits: cfg.wbits,
        bias,
        stride: c.stride,
        pad: c.pad,
        pad_value: fi.zero,
        mult,
        shift,
        wscale,
        act,
        acc_bound,
        acc_bits,
    })
}

/// Weight scale `(s, f)` for weights `ws` whose largest magnitude is `m` (`s = 2^-f` with
/// pow2 scales; `f = 0` with mult). The widest scale covers `m`; with `--calib-method mse`,
/// narrower scales that clip the largest weights are also tried (pow2: up to two exponents
/// finer; mult: 95% down to 50% of `m`) and the one with the least squared rounding plus
/// clipping error wins (ties keep the wider scale).
fn weight_scale(ws: &[f32], m: f64, wm: f64, cfg: &QuantConfig) -> (f64, i32) {
    let cands: Vec<(f64, i32)> = match cfg.scale {
        ScaleMode::Pow2 => {
            let f0 = (wm / m).log2().floor() as i32;
            (f0..=f0 + 2).map(|f| ((-f as f64).exp2(), f)).collect()
        }
        ScaleMode::Mult => (0..=10)
            .map(|k| (m * (1.0 - 0.05 * k as f64) / wm, 0))
            .collect(),
    };
    if cfg.method != super::CalibMethod::Mse || ws.is_empty() {
        return cands[0];
    }
    let err = |s: f64| -> f64 {
        ws.iter()
            .map(|&v| {
                let d = (v as f64 / s).round().clamp(-wm, wm) * s - v as f64;
                d * d
            })
            .sum()
    };
    let mut best = (err(cands[0].0), cands[0]);
    for &c in &cands[1..] {
        let e = err(c.0);
        if e < best.0 {
            best = (e, c);
        }
    }
    best.1
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

/// Build the quantized graph.
pub fn quantize(fg: &FusedGraph, stats: &CalibStats, cfg: &QuantConfig) -> Result<QuantGraph> {
    check_bits(cfg)?;
    let g = fg.graph();
    let (in_shift, in_fmt) = input_format(cfg.abits);
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
                let w = if matches!(g.nodes[src].op, Op::Input) {
                    c.weight.mapv(|v| v / 255.0)
                } else {
                    c.weight.clone()
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
                    quantize_conv(&n.name, c, &w, &fi, &pre, act, cfg)?
                } else {
                    quantize_conv(&n.name, c, &w, &fi, &fmt, QAct::None, cfg)?
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
    })
}

/// Right shift aligning a code of format `a` to format `out` (same group: 0).
fn align_shift(a: &QFormat, out: &QFormat) -> i32 {
    a.frac - out.frac
}
