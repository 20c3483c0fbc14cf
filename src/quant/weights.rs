//! Weight quantization of one convolution: per-channel (or per-tensor) scales, the symmetric
//! signed integer weights, and which layers keep wider weights (`--keep8`).
//!
//! Guarantees: every weight lies in `[−(2^(W−1) − 1), 2^(W−1) − 1]` for the layer's width `W`;
//! pow2 scales are exact powers of two; the result is a pure function of its inputs.

use super::spec::weight_max;
use super::{CalibMethod, Granularity, QuantConfig, ScaleMode};
use crate::graph::{Graph, Op};
use ndarray::{Array4, Axis};

/// Integer weights of one convolution with their per-output-channel scales.
pub struct QWeights {
    pub wq: Array4<i32>,
    /// Per output channel scale `s_w`.
    pub scale: Vec<f64>,
    /// Per output channel exponent `f_w` (`s_w = 2^−f_w`; 0 with mult scales).
    pub frac: Vec<i32>,
    /// Width of every weight (signed).
    pub wbits: u32,
}

impl QWeights {
    /// The dequantized weights `w_q · s_w`.
    pub fn dequant(&self) -> Array4<f64> {
        let mut d = self.wq.mapv(|v| v as f64);
        for (mut c, &s) in d.axis_iter_mut(Axis(0)).zip(&self.scale) {
            c.mapv_inplace(|v| v * s);
        }
        d
    }
}

/// Weight width of node `i`: the budget's choice (`cfg.layer_bits`) when there is one, else
/// `max(wbits, 8)` when `cfg.keep8` names it (`first`: a convolution
/// reading the input image; `head`: the Detect head's last box/class convolutions; anything
/// else: a node-name prefix such as `model.22`), else `wbits`.
pub fn layer_wbits(g: &Graph, i: usize, cfg: &QuantConfig) -> u32 {
    let n = &g.nodes[i];
    if let Some(&b) = cfg.layer_bits.get(&n.name) {
        return b;
    }
    if keep8(g, i, cfg) {
        cfg.wbits.max(8)
    } else {
        cfg.wbits
    }
}

/// Whether `--keep8` names node `i` (see [`layer_wbits`]).
pub fn keep8(g: &Graph, i: usize, cfg: &QuantConfig) -> bool {
    let n = &g.nodes[i];
    cfg.keep8.iter().any(|k| match k.as_str() {
        "first" => n.inputs.iter().any(|&j| matches!(g.nodes[j].op, Op::Input)),
        "head" => g.head.box_nodes.contains(&i) || g.head.cls_nodes.contains(&i),
        p => n.name == p || n.name.starts_with(&format!("{p}.")),
    })
}

/// Quantize `w` (`[c_out, c_in, k, k]`) to `wbits` signed integers.
pub fn quantize_weights(w: &Array4<f32>, wbits: u32, cfg: &QuantConfig) -> QWeights {
    let co = w.shape()[0];
    let wm = weight_max(wbits) as f64;
    let ch_max = channel_max(w);
    let tensor = match cfg.granularity {
        Granularity::Tensor => {
            let all: Vec<f32> = w.iter().copied().collect();
            let m = ch_max.iter().cloned().fold(0f64, f64::max);
            Some(weight_scale(&all, m, wm, cfg))
        }
        Granularity::Channel => None,
    };
    let mut wq = Array4::<i32>::zeros(w.raw_dim());
    let (mut scale, mut frac) = (vec![0f64; co], vec![0i32; co]);
    for o in 0..co {
        let wc = w.index_axis(Axis(0), o);
        let (sw, fw) = tensor.unwrap_or_else(|| {
            let v: Vec<f32> = wc.iter().copied().collect();
            weight_scale(&v, ch_max[o], wm, cfg)
        });
        (scale[o], frac[o]) = (sw, fw);
        for (dst, &v) in wq.index_axis_mut(Axis(0), o).iter_mut().zip(wc.iter()) {
            *dst = ((v as f64 / sw).round()).clamp(-wm, wm) as i32;
        }
    }
    QWeights {
        wq,
        scale,
        frac,
        wbits,
    }
}

/// The candidate scales `(s, f)` of a channel whose largest magnitude is `m`, widest first
/// (pow2: the exponent covering `m` and the two finer ones; mult: 100 % down to 50 % of `m`).
pub fn scale_candidates(m: f64, wm: f64, scale: ScaleMode) -> Vec<(f64, i32)> {
    match scale {
        ScaleMode::Pow2 => {
            let f0 = (wm / m).log2().floor() as i32;
            (f0..=f0 + 2).map(|f| ((-f as f64).exp2(), f)).collect()
        }
        ScaleMode::Mult => (0..=10)
            .map(|k| (m * (1.0 - 0.05 * k as f64) / wm, 0))
            .collect(),
    }
}

/// Largest |w| of each output channel (at least 1e-12).
pub fn channel_max(w: &Array4<f32>) -> Vec<f64> {
    w.axis_iter(Axis(0))
        .map(|wc| {
            wc.iter()
                .fold(0f64, |m, &v| m.max(v.abs() as f64))
                .max(1e-12)
        })
        .collect()
}

/// Weight scale `(s, f)` for weights `ws` whose largest magnitude is `m` (`s = 2^-f` with
/// pow2 scales; `f = 0` with mult). The widest scale covers `m`; with `--calib-method mse`,
/// narrower scales that clip the largest weights are also tried (pow2: up to two exponents
/// finer; mult: 95% down to 50% of `m`) and the one with the least squared rounding plus
/// clipping error wins (ties keep the wider scale).
pub fn weight_scale(ws: &[f32], m: f64, wm: f64, cfg: &QuantConfig) -> (f64, i32) {
    let cands = scale_candidates(m, wm, cfg.scale);
    if cfg.method != CalibMethod::Mse || ws.is_empty() {
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
