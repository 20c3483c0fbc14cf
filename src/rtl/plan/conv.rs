//! Convolutions in the plan: dimensions, addresses, the proven bit widths and the typed
//! per-channel values.
//!
//! Widths are derived from the actual integer weights: with input codes in `[0, qmax]`,
//! every partial sum of channel `c` lies in `[qmax*N[c], qmax*P[c]]` (`P`/`N` the sums of
//! positive/negative weights, `quant::spec::partial_sum_range`, the rule the quantizer's
//! proven `acc_bits` in `scales.yaml` also starts from), so the accumulator holds it; the bias add, multiplier and
//! shifts each get one more bit than their worst case. A multiplier reads memory words of
//! `dw` bits (zero-extended codes), so the accumulator is also at least one product wide.

use super::super::ubits;
use crate::quant::spec::{partial_sum_range, signed_bits, QFormat};
use crate::quant::{QAct, QConv};
use ndarray::Array4;
use serde::Serialize;

/// Requantization values of one output channel: `out = requant(acc + bias, mult, shift)`
/// with `shift = rsh - lsh` (at most one of them non-zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChannelParams {
    pub bias: i64,
    /// The multiplier (1 with power-of-two scales).
    pub mult: i64,
    pub lsh: u32,
    pub rsh: u32,
}

/// One convolution of the plan.
#[derive(Clone, Debug, Serialize)]
pub struct ConvPlan {
    pub ci: usize,
    pub h: usize,
    pub w: usize,
    pub co: usize,
    pub ho: usize,
    pub wo: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub in_base: usize,
    pub out_base: usize,
    /// Code read at padded positions (the input's zero point).
    pub pad_val: i32,
    /// Weight bits.
    pub wb: u32,
    /// Largest |partial sum| of any channel (without the bias).
    pub mac_bound: i64,
    pub mac_w: u32,
    pub bias_w: u32,
    pub sum_w: u32,
    pub mult_w: u32,
    /// Whether any channel has a multiplier other than 1 (`--scale mult`).
    pub use_mult: bool,
    pub lsh_w: u32,
    pub rsh_w: u32,
    /// Width of the shifter input (product, left shift and rounding).
    pub sh_w: u32,
    /// Requantizer target: the output format, or the SiLU table's index format.
    pub req: QFormat,
    /// The layer's output format.
    pub out: QFormat,
    #[serde(skip)]
    pub channels: Vec<ChannelParams>,
    /// `[co, ci, k, k]` signed `wb`-bit weights.
    #[serde(skip)]
    pub weight: Array4<i32>,
    /// SiLU table (`2^req.bits` entries of `out` codes), indexed by the requantized code.
    #[serde(skip)]
    pub lut: Option<Vec<i32>>,
}

impl ConvPlan {
    /// Taps per output value: `ci * k * k`.
    pub fn taps(&self) -> usize {
        self.ci * self.k * self.k
    }
    pub fn macs(&self) -> u64 {
        (self.co * self.ho * self.wo * self.taps()) as u64
    }
    /// Entries of the SiLU table (`2^req.bits`).
    pub fn lut_depth(&self) -> usize {
        1usize << self.req.bits
    }
}

/// Plan one convolution reading `ishape` at `in_base` and writing `oshape` at `out_base`,
/// with memory words of `dw` bits.
#[allow(clippy::too_many_arguments)]
pub fn build(
    c: &QConv,
    fi: &QFormat,
    fo: &QFormat,
    ishape: &[usize; 3],
    oshape: &[usize; 3],
    in_base: usize,
    out_base: usize,
    dw: u32,
) -> ConvPlan {
    let (co, ci, k, _) = c.weight.dim();
    let qmax = fi.qmax() as i64;
    let (mut mac_bound, mut bias_bound) = (0i64, 0i64);
    for o in 0..co {
        let (lo, hi) = partial_sum_range(c.weight.index_axis(ndarray::Axis(0), o), qmax);
        mac_bound = mac_bound.max(hi).max(-lo);
        bias_bound = bias_bound.max(c.bias[o].abs());
    }
    // The engine multiplies memory words (dw bits, zero-extended codes) by weights.
    let prod_w = c.wbits + dw + 1;
    let mac_w = signed_bits(mac_bound).max(prod_w + 1);
    let bias_w = signed_bits(bias_bound).max(2);
    let sum_w = mac_w.max(bias_w) + 1;
    let use_mult = c.mult.iter().any(|&m| m != 1);
    let mult_w = if use_mult {
        ubits(*c.mult.iter().max().unwrap_or(&1) as u64)
    } else {
        1
    };
    let channels: Vec<ChannelParams> = (0..co)
        .map(|o| ChannelParams {
            bias: c.bias[o],
            mult: c.mult[o],
            lsh: (-c.shift[o]).max(0) as u32,
            rsh: c.shift[o].max(0) as u32,
        })
        .collect();
    let lsh_max = channels.iter().map(|p| p.lsh).max().unwrap_or(0);
    let rsh_max = channels.iter().map(|p| p.rsh).max().unwrap_or(0);
    let (lsh_w, rsh_w) = (ubits(lsh_max as u64), ubits(rsh_max as u64));
    let (req, lut) = match &c.act {
        QAct::None => (*fo, None),
        QAct::Lut { pre, table } => (*pre, Some(table.clone())),
    };
    let prod_req = sum_w + if use_mult { mult_w + 1 } else { 0 };
    let sh_w = (prod_req + lsh_max).max(rsh_max + 1).max(req.bits + 1) + 2;
    ConvPlan {
        ci,
        h: ishape[1],
        w: ishape[2],
        co,
        ho: oshape[1],
        wo: oshape[2],
        k,
        stride: c.stride,
        pad: c.pad,
        in_base,
        out_base,
        pad_val: c.pad_value,
        wb: c.wbits,
        mac_bound,
        mac_w,
        bias_w,
        sum_w,
        mult_w,
        use_mult,
        lsh_w,
        rsh_w,
        sh_w,
        req,
        out: *fo,
        channels,
        weight: c.weight.clone(),
        lut,
    }
}
