//! Convolution layers: parameters, proven bit widths, ROM images and the cycle model of
//! `yq_conv_engine` (templates/prims/yq_conv_engine.v).
//!
//! Widths are derived from the actual integer weights: with input codes in `[0, qmax]`,
//! every partial sum of channel `c` lies in `[qmax*N[c], qmax*P[c]]` (`P`/`N` the sums of
//! positive/negative weights), so the accumulator holds it; the bias add, multiplier and
//! shifts each get one more bit than their worst case.

use super::{hex, ubits};
use crate::error::Result;
use crate::quant::spec::{signed_bits, QFormat};
use crate::quant::{QAct, QConv};
use serde::Serialize;

/// Everything the conv template and engine need.
#[derive(Clone, Debug, Serialize)]
pub struct ConvP {
    pub ci: usize,
    pub h: usize,
    pub w: usize,
    pub co: usize,
    pub ho: usize,
    pub wo: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    /// MAC lanes, output-channel groups, taps per pixel, cycles per pixel.
    /// Counter width of this layer's engine.
    pub cw: u32,
    pub p: usize,
    pub g: usize,
    pub t: usize,
    pub slot: usize,
    pub in_base: usize,
    pub out_base: usize,
    /// Address of the (padded) window origin of output pixel 0, modulo 2^aw.
    pub pix0: u64,
    pub pad_val: i32,
    pub wb: u32,
    pub mac_w: u32,
    pub bias_w: u32,
    pub sum_w: u32,
    pub mult_w: u32,
    pub use_mult: bool,
    pub lsh_w: u32,
    pub rsh_w: u32,
    pub sh_w: u32,
    /// Requantizer target: the output format, or the SiLU table's index format.
    pub req_w: u32,
    pub req_zero: i32,
    pub req_qmax: i32,
    pub has_lut: bool,
    /// Entries of the SiLU table (2^req_w).
    pub lut_depth: usize,
    pub w_depth: usize,
    pub wa_w: u32,
    pub p_depth: usize,
    pub pa_w: u32,
    pub prm_w: u32,
    #[serde(skip)]
    pub rom_weights: String,
    #[serde(skip)]
    pub rom_params: String,
    #[serde(skip)]
    pub rom_lut: Option<String>,
}

/// Build the parameters of one convolution.
#[allow(clippy::too_many_arguments)]
pub fn build(
    c: &QConv,
    fi: &QFormat,
    fo: &QFormat,
    ishape: &[usize; 3],
    oshape: &[usize; 3],
    in_base: usize,
    out_base: usize,
    aw: u32,
    dw: u32,
    parallel: usize,
) -> Result<ConvP> {
    let (co, ci, k, _) = c.weight.dim();
    let p = parallel;
    let g = co.div_ceil(p);
    let t = ci * k * k;
    let qmax = fi.qmax() as i64;
    let (mut mac_bound, mut bias_bound) = (0i64, 0i64);
    for o in 0..co {
        let (pos, neg) = c
            .weight
            .index_axis(ndarray::Axis(0), o)
            .iter()
            .fold((0i64, 0i64), |(p, n), &v| {
                (p + (v.max(0)) as i64, n + (v.min(0)) as i64)
            });
        mac_bound = mac_bound.max(qmax * pos).max(-qmax * neg);
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
    let lsh_max = c.shift.iter().map(|&s| (-s).max(0)).max().unwrap_or(0) as u32;
    let rsh_max = c.shift.iter().map(|&s| s.max(0)).max().unwrap_or(0) as u32;
    let (lsh_w, rsh_w) = (ubits(lsh_max as u64), ubits(rsh_max as u64));
    let req = match &c.act {
        QAct::None => *fo,
        QAct::Lut { pre, .. } => *pre,
    };
    let prod_req = sum_w + if use_mult { mult_w + 1 } else { 0 };
    let sh_w = (prod_req + lsh_max).max(rsh_max + 1).max(req.bits + 1) + 2;

    let lanes = |og: usize, idx: usize| -> String {
        let f: Vec<(i64, u32)> = (0..p)
            .map(|l| {
                let o = og * p + l;
                let (cin, ky, kx) = (idx / (k * k), idx / k % k, idx % k);
                let v = if o < co {
                    c.weight[[o, cin, ky, kx]]
                } else {
                    0
                };
                (v as i64, c.wbits)
            })
            .collect();
        hex::word(&f)
    };
    let rom_weights = hex::image(
        (0..g)
            .flat_map(|og| (0..t).map(move |i| (og, i)))
            .map(|(og, i)| lanes(og, i)),
    );
    let rom_params = hex::image((0..g * p).map(|o| {
        let (b, m, s) = if o < co {
            (c.bias[o], c.mult[o], c.shift[o])
        } else {
            (0, 0, 0)
        };
        let m = if use_mult { m } else { 0 };
        hex::word(&[
            (b, bias_w),
            (m, mult_w),
            ((-s).max(0) as i64, lsh_w),
            (s.max(0) as i64, rsh_w),
        ])
    }));
    let rom_lut = match &c.act {
        QAct::None => None,
        QAct::Lut { table, .. } => Some(hex::image(
            table.iter().map(|&v| hex::word(&[(v as i64, fo.bits)])),
        )),
    };
    let (h, w) = (ishape[1], ishape[2]);
    let origin = in_base as i64 - (c.pad * w + c.pad) as i64;
    Ok(ConvP {
        ci,
        h,
        w,
        co,
        ho: oshape[1],
        wo: oshape[2],
        k,
        stride: c.stride,
        pad: c.pad,
        cw: ubits((t.max(p) + ishape[1].max(ishape[2]) + 2 * c.pad + g * p + p) as u64),
        p,
        g,
        t,
        slot: t.max(p),
        in_base,
        out_base,
        pix0: origin.rem_euclid(1i64 << aw) as u64,
        pad_val: c.pad_value,
        wb: c.wbits,
        mac_w,
        bias_w,
        sum_w,
        mult_w,
        use_mult,
        lsh_w,
        rsh_w,
        sh_w,
        req_w: req.bits,
        req_zero: req.zero,
        req_qmax: req.qmax(),
        has_lut: rom_lut.is_some(),
        lut_depth: 1usize << req.bits,
        w_depth: g * t,
        wa_w: ubits((g * t - 1) as u64),
        p_depth: g * p,
        pa_w: ubits((g * p - 1) as u64),
        prm_w: bias_w + mult_w + lsh_w + rsh_w,
        rom_weights,
        rom_params,
        rom_lut,
    })
}

impl ConvP {
    pub fn macs(&self) -> u64 {
        (self.co * self.ho * self.wo * self.t) as u64
    }
    /// Issue slots (the last pixel's last tap comes `SLOT - T` cycles before the end), then
    /// 2 MAC stages, the P-cycle drain and 4 drain stages; the done pulse follows the later
    /// of the drain's end and the last valid write (`r` = channels of the last group).
    pub fn cycles(&self) -> u64 {
        let issue = (self.g * self.ho * self.wo * self.slot) as u64;
        let last_tap = issue - (self.slot - self.t) as u64;
        let r = (self.co - (self.g - 1) * self.p) as u64;
        last_tap + (self.p as u64 + 4).max(r + 8)
    }
}
