//! Convolution layers of the layer-sequential design: template parameters, ROM images and
//! the cycle model of `yq_conv_engine` (templates/layerseq/prims/yq_conv_engine.v).
//!
//! The engine runs `P` MAC lanes, one output channel each: output channels go in `G`
//! groups of `P`, each pixel issues its `T = ci*k*k` taps one per cycle (slot of
//! `max(T, P)` cycles). The widths are the plan's ([`ConvPlan`]); this file adds the lanes,
//! counters, the window origin address and the ROM packing.

use super::super::plan::ConvPlan;
use super::super::{hex, ubits};
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

/// Lower one planned convolution to `parallel` lanes over an `aw`-bit address space.
pub fn lower(c: &ConvPlan, aw: u32, parallel: usize) -> ConvP {
    let (co, k) = (c.co, c.k);
    let p = parallel;
    let g = co.div_ceil(p);
    let t = c.taps();
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
                (v as i64, c.wb)
            })
            .collect();
        hex::word(&f)
    };
    let rom_weights = hex::image(
        (0..g)
            .flat_map(|og| (0..t).map(move |i| (og, i)))
            .map(|(og, i)| lanes(og, i)),
    );
    // Lanes past the last channel hold zeros; without multipliers the field is 0.
    let rom_params = hex::image((0..g * p).map(|o| {
        let ch = c.channels.get(o).copied().unwrap_or_default();
        let m = if c.use_mult { ch.mult } else { 0 };
        hex::word(&[
            (ch.bias, c.bias_w),
            (m, c.mult_w),
            (ch.lsh as i64, c.lsh_w),
            (ch.rsh as i64, c.rsh_w),
        ])
    }));
    let rom_lut = c
        .lut
        .as_ref()
        .map(|table| hex::values(table.iter().map(|&v| v as i64), c.out.bits));
    let origin = c.in_base as i64 - (c.pad * c.w + c.pad) as i64;
    ConvP {
        ci: c.ci,
        h: c.h,
        w: c.w,
        co,
        ho: c.ho,
        wo: c.wo,
        k,
        stride: c.stride,
        pad: c.pad,
        cw: ubits((t.max(p) + c.h.max(c.w) + 2 * c.pad + g * p + p) as u64),
        p,
        g,
        t,
        slot: t.max(p),
        in_base: c.in_base,
        out_base: c.out_base,
        pix0: origin.rem_euclid(1i64 << aw) as u64,
        pad_val: c.pad_val,
        wb: c.wb,
        mac_w: c.mac_w,
        bias_w: c.bias_w,
        sum_w: c.sum_w,
        mult_w: c.mult_w,
        use_mult: c.use_mult,
        lsh_w: c.lsh_w,
        rsh_w: c.rsh_w,
        sh_w: c.sh_w,
        req_w: c.req.bits,
        req_zero: c.req.zero,
        req_qmax: c.req.qmax(),
        has_lut: rom_lut.is_some(),
        lut_depth: c.lut_depth(),
        w_depth: g * t,
        wa_w: ubits((g * t - 1) as u64),
        p_depth: g * p,
        pa_w: ubits((g * p - 1) as u64),
        prm_w: c.bias_w + c.mult_w + c.lsh_w + c.rsh_w,
        rom_weights,
        rom_params,
        rom_lut,
    }
}

impl ConvP {
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
