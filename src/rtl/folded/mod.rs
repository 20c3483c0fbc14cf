//! The folded architecture: one shared P-lane MAC array runs every layer of the network in
//! turn, driven by a descriptor per layer; descriptors, SiLU tables, per-channel parameters
//! and weights come from one sequential flash image, activations live in one single-ported
//! memory (the UP5K's SPRAM). This backend turns the neutral [`Plan`] into that image, the
//! descriptors and the cycle model; `emit` renders the design and its testbench.
//!
//! Guarantees of [`lower`]:
//! - the engine computes exactly the integer reference model: activation codes enter the MAC
//!   array as `x - OFFSET` and every bias carries `OFFSET * sum(w)`, so each accumulator
//!   equals the spec's; widths (accumulator, partial sums, requantizer, add) are proven here
//!   from the actual weights and checked against the engine's fixed widths;
//! - every weight is read from flash exactly once per frame (weight-stationary chunks of at
//!   most `wtaps` taps; partial sums of longer reductions go to a psum region in memory);
//! - a network that does not fit (memory, widths, kinds) is refused with one line naming the
//!   layer and what to change.

pub mod band;
pub mod banded;
pub mod bandrun;
pub mod board;
pub mod cycles;
pub mod desc;
pub mod emit;
pub mod flash;
pub mod host;
pub mod nms;
pub mod post;
pub mod scratch;
pub mod ulx3s;

use super::plan::{LayerKind, LayerPlan, Plan};
use crate::error::{Error, Result};
use desc::{Desc, DescKind, FLAG_LUT};
use serde::Serialize;

/// Activation codes enter the MAC array as signed `x - OFFSET`.
pub const OFFSET: i64 = 128;
/// Widest accumulator and bias of the engine: partial sums are two 16-bit words in memory
/// and biases four bytes in flash. The RTL is built at the widths a design proves it needs
/// ([`FoldedDesign::acc_w`], [`FoldedDesign::bias_w`]).
pub const ACC_W: u32 = 32;
pub const BIAS_W: u32 = 32;
/// Bytes per lane in a group's parameter block: bias (4) + signed shift (1).
pub const PARAM_BYTES: usize = 5;

/// The engine's fixed shape, from the board.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct FoldHw {
    /// MAC lanes (output channels per group).
    pub lanes: usize,
    /// Taps held by one weight slot (two slots, double-buffered).
    pub wtaps: usize,
    /// Bytes of activation memory.
    pub mem_bytes: usize,
    /// Flash stream: cycles from `f_start` to the first byte, and between bytes.
    pub first_byte: u64,
    pub byte_cycles: u64,
}

impl FoldHw {
    /// The iCE40 UP5K engine: 16 lanes (8 SB_MAC16 in dual 8x8 mode), 2 x 256 taps of weights
    /// (16 EBR), 4 SPRAM (128 KiB), quad SPI at half the system clock (4 cycles per byte).
    pub fn up5k() -> Self {
        FoldHw {
            lanes: 16,
            wtaps: 256,
            mem_bytes: 4 * 16384 * 2,
            first_byte: 4,
            byte_cycles: 4,
        }
    }
    /// The ULX3S engine (ECP5 85F, tensors in its SDRAM): 64 lanes (one MULT18X18D each of
    /// the 156), 2 x 256 taps of weights, 128 KiB of row-band tiles (64 DP16KD), weights
    /// streamed from the configuration flash in dual I/O (8 cycles per byte at 50 MHz).
    pub fn ulx3s() -> Self {
        FoldHw {
            lanes: 64,
            wtaps: 256,
            mem_bytes: 4 * 16384 * 2,
            first_byte: 4,
            byte_cycles: ulx3s::FLASH_BYTE_CYCLES,
        }
    }
    pub fn lane_bits(&self) -> u32 {
        self.lanes.trailing_zeros()
    }
    pub fn tap_bits(&self) -> u32 {
        self.wtaps.trailing_zeros()
    }
}

/// One layer of the folded schedule.
#[derive(Clone, Debug, Serialize)]
pub struct FoldLayer {
    pub index: usize,
    pub node: usize,
    pub name: String,
    pub kind: LayerKind,
    pub shape: [usize; 3],
    pub out_base: usize,
    pub macs: u64,
    pub desc: Desc,
    /// Byte range of this layer's record in the flash image.
    pub flash: (usize, usize),
    /// Weight chunks per group (1: no partial sums) and groups.
    pub chunks: usize,
    pub groups: usize,
    /// Cycles from the layer's go to its done (the testbench's `LAYER` figure).
    pub cycles: u64,
    /// In a banded schedule, what this step does (none in an unbanded one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
}

/// One step of a banded schedule ([`banded`]).
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// The layer computed for output rows `[y0, y1)`, its output tile at byte `tile`.
    Band { y0: usize, y1: usize, tile: usize },
    /// A copy between DRAM and the tile memory.
    Copy(band::Dma),
    /// The post-processing stage, on DRAM.
    Post,
}

/// The folded accelerator for one network at one input size.
#[derive(Clone, Debug, Serialize)]
pub struct FoldedDesign {
    pub top: String,
    pub imgsz: [usize; 2],
    pub hw: FoldHw,
    pub abits: u32,
    pub wbits: u32,
    /// Byte address width of the activation memory.
    pub ab: u32,
    /// Bytes of tensors (and NMS records).
    pub tensor_bytes: usize,
    /// Highest byte used by tensors or partial sums.
    pub mem_used: usize,
    /// DRAM word-address bits (0: no DRAM; the tensors live in the activation memory).
    pub da: u32,
    /// Dimension register width (descriptor dimensions, counters, window coordinates).
    pub dw: u32,
    /// The descriptor record's fields and size.
    pub desc_layout: desc::Layout,
    /// The model's class names (for the host program).
    pub class_names: Vec<String>,
    /// Accumulator and bias widths: the widest any layer's proof needs.
    pub acc_w: u32,
    pub bias_w: u32,
    /// Requantizer width and the bits of the largest right and left shift (`lsh_w` 0: no
    /// layer shifts left).
    pub sh_w: u32,
    pub rsh_w: u32,
    pub lsh_w: u32,
    /// Add unit width and the bits of its largest right and left shift (0: none left).
    pub add_w: u32,
    pub add_rsw: u32,
    pub add_lsw: u32,
    /// The post-processing unit (`--qnms`).
    pub nms: Option<nms::NmsUnit>,
    pub layers: Vec<FoldLayer>,
    #[serde(skip)]
    pub flash: Vec<u8>,
    pub frame_cycles: u64,
    pub total_macs: u64,
}

fn wrap24(v: i64) -> i64 {
    v.rem_euclid(1 << 24)
}

fn refuse(layer: &str, what: impl std::fmt::Display) -> Error {
    Error::Other(format!("{layer}: {what}"))
}

/// Widths and shifts every layer's proof raises: the engine is built at the largest.
pub(crate) struct Proof {
    sh_w: u32,
    acc_w: u32,
    bias_w: u32,
    max_rsh: u32,
    max_lsh: u32,
    add_w: u32,
    add_r: u32,
    add_l: u32,
}

impl Default for Proof {
    fn default() -> Self {
        Proof {
            sh_w: 2,
            acc_w: 16,
            bias_w: 2,
            max_rsh: 0,
            max_lsh: 0,
            add_w: 10,
            add_r: 0,
            add_l: 0,
        }
    }
}

/// One layer's descriptor, and the record after it appended to `body` (a convolution's
/// table, parameters and weights), raising `pf` to what the layer needs. `pad_top`: the window
/// rows above the tensor (the layer's padding, except in a row band, [`band`]); `psum(bytes)`:
/// the byte address of a chunked reduction's partial sums. Returns the descriptor and the
/// weight chunks per group and groups.
pub(crate) fn layer_record(
    pf: &mut Proof,
    hw: &FoldHw,
    name: &str,
    params: &LayerPlan,
    pad_top: usize,
    psum: &mut dyn FnMut(usize) -> Result<usize>,
    body: &mut Vec<u8>,
) -> Result<(Desc, usize, usize)> {
    let p = hw.lanes;
    Ok(match params {
        LayerPlan::Input(i) => (
            Desc::new(DescKind::Input)
                .set("n", i.n as i64)
                .set("out", i.out_base as i64)
                .set("s", i.shift as i64),
            0,
            0,
        ),
        LayerPlan::MaxPool(q) => (
            Desc::new(DescKind::MaxPool)
                .set("c_m1", q.c as i64 - 1)
                .set("hp", (q.h + pad_top) as i64)
                .set("wp", (q.w + q.pad) as i64)
                .set("ho_m1", q.ho as i64 - 1)
                .set("wo_m1", q.wo as i64 - 1)
                .set("k_m1", q.k as i64 - 1)
                .set("s", q.stride as i64)
                .set("pad", q.pad as i64)
                .set("padt", pad_top as i64)
                .set(
                    "pix0",
                    wrap24(q.in_base as i64 - (pad_top * q.w + q.pad) as i64),
                )
                .set("out", q.out_base as i64)
                .set("rowstep", wrap24(q.w as i64 - q.k as i64 + 1))
                .set("sw", (q.stride * q.w) as i64)
                .set("hw", (q.h * q.w) as i64)
                .set("f_m1", 0),
            0,
            0,
        ),
        // The window unit again: a 1 x 1 window whose position repeats F times per row
        // and column.
        LayerPlan::Upsample(u) => (
            Desc::new(DescKind::Upsample)
                .set("c_m1", u.c as i64 - 1)
                .set("hp", u.h as i64)
                .set("wp", u.w as i64)
                .set("ho_m1", (u.h * u.f) as i64 - 1)
                .set("wo_m1", (u.w * u.f) as i64 - 1)
                .set("k_m1", 0)
                .set("s", 1)
                .set("f_m1", u.f as i64 - 1)
                .set("pix0", u.in_base as i64)
                .set("out", u.out_base as i64)
                .set("sw", u.w as i64)
                .set("hw", (u.h * u.w) as i64),
            0,
            0,
        ),
        LayerPlan::Add(a) => {
            for (z, what) in [
                (a.za, "first input"),
                (a.zb, "second input"),
                (a.zo, "output"),
            ] {
                if !(0..=255).contains(&z) {
                    return Err(refuse(
                        name,
                        format!("{what} zero point {z} is outside the engine's 8-bit range"),
                    ));
                }
            }
            pf.add_w = pf.add_w.max(a.iw);
            for (sh, left) in [(a.sa, a.sa_left), (a.sb, a.sb_left)] {
                if sh > 63 {
                    return Err(refuse(name, "an add shift is outside the engine's range"));
                }
                if left {
                    pf.add_l = pf.add_l.max(sh);
                } else {
                    pf.add_r = pf.add_r.max(sh);
                }
            }
            let signed = |m: u32, left: bool| if left { -(m as i64) } else { m as i64 };
            (
                Desc::new(DescKind::Add)
                    .set("n", a.n as i64)
                    .set("pix0", a.a_base as i64)
                    .set("inb", a.b_base as i64)
                    .set("out", a.out_base as i64)
                    .set("za", a.za as i64)
                    .set("zb", a.zb as i64)
                    .set("zero", a.zo as i64)
                    .set("qmax", a.qmax as i64)
                    .set("sa", signed(a.sa, a.sa_left))
                    .set("sb", signed(a.sb, a.sb_left)),
                0,
                0,
            )
        }
        LayerPlan::Conv(c) => {
            let c = c.as_ref();
            if c.use_mult {
                return Err(Error::arg(
                "--quant",
                format!("{}: multiplier scales (--scale mult) are not supported by the folded engine; quantize with --scale pow2", name),
            ));
            }
            if c.wb > 8 || c.req.bits > 8 || c.out.bits > 8 {
                return Err(refuse(
                    name,
                    "the folded engine takes weights and codes of at most 8 bits",
                ));
            }
            if !(0..=255).contains(&c.req.zero) {
                return Err(refuse(
                    name,
                    format!(
                        "zero point {} is outside the engine's 8-bit range",
                        c.req.zero
                    ),
                ));
            }
            let kk = c.k * c.k;
            if kk > hw.wtaps {
                return Err(refuse(
                    name,
                    format!(
                        "a {}x{} kernel exceeds the {}-tap weight slot",
                        c.k, c.k, hw.wtaps
                    ),
                ));
            }
            let g = c.co.div_ceil(p);
            let taps = c.taps();
            let (cpc, nch) = if taps <= hw.wtaps {
                (c.ci, 1)
            } else {
                let cpc = hw.wtaps / kk;
                (cpc, c.ci.div_ceil(cpc))
            };
            let tc = cpc * kk;
            let tc_last = (c.ci - (nch - 1) * cpc) * kk;
            // Biases with the offset compensation, and the width proof.
            let mut acc_bound = 0i64;
            let mut sum_bound = 0i64;
            let mut biases = Vec::with_capacity(c.co);
            for o in 0..c.co {
                let w = c.weight.index_axis(ndarray::Axis(0), o);
                let sum: i64 = w.iter().map(|&v| v as i64).sum();
                let abs: i64 = w.iter().map(|&v| (v as i64).abs()).sum();
                let b = c.channels[o].bias + OFFSET * sum;
                acc_bound = acc_bound.max(OFFSET * abs);
                sum_bound = sum_bound.max(OFFSET * abs + b.abs());
                biases.push(b);
            }
            let acc_need = crate::quant::spec::signed_bits(acc_bound);
            if acc_need > ACC_W || crate::quant::spec::signed_bits(sum_bound) > BIAS_W {
                return Err(refuse(name, format!("sums need {acc_need} bits, more than the engine's {ACC_W}-bit accumulators")));
            }
            pf.acc_w = pf.acc_w.max(acc_need);
            for &b in &biases {
                pf.bias_w = pf.bias_w.max(crate::quant::spec::signed_bits(b.abs()));
            }
            let lsh = c.channels.iter().map(|q| q.lsh).max().unwrap_or(0);
            let rsh = c.channels.iter().map(|q| q.rsh).max().unwrap_or(0);
            if lsh > 31 || rsh > 62 {
                return Err(refuse(
                    name,
                    "a requantization shift is outside the engine's range",
                ));
            }
            pf.sh_w = pf
                .sh_w
                .max(crate::quant::spec::signed_bits(sum_bound) + lsh + 2)
                .max(rsh + 2);
            pf.max_rsh = pf.max_rsh.max(rsh);
            pf.max_lsh = pf.max_lsh.max(lsh);
            let psum = if nch > 1 {
                psum(c.ho * c.wo * p * 4)? / 2
            } else {
                0
            };
            let lut_len = c.lut.as_ref().map(|t| t.len()).unwrap_or(0);
            if lut_len > 256 {
                return Err(refuse(name, format!("a {lut_len}-entry SiLU table exceeds the engine's 256 entries; use --lut-bits 8")));
            }
            let d = Desc::new(DescKind::Conv)
                .set("flags", if c.lut.is_some() { FLAG_LUT } else { 0 })
                .set("hp", (c.h + pad_top) as i64)
                .set("wp", (c.w + c.pad) as i64)
                .set("ho_m1", c.ho as i64 - 1)
                .set("wo_m1", c.wo as i64 - 1)
                .set("k_m1", c.k as i64 - 1)
                .set("s", c.stride as i64)
                .set("pad", c.pad as i64)
                .set("padt", pad_top as i64)
                .set("padv", c.pad_val as i64)
                .set(
                    "pix0",
                    wrap24(c.in_base as i64 - (pad_top * c.w + c.pad) as i64),
                )
                .set("out", c.out_base as i64)
                .set("psum", psum as i64)
                .set("g", g as i64)
                .set("nch_m1", nch as i64 - 1)
                .set("tc_m1", tc as i64 - 1)
                .set("tc_last_m1", tc_last as i64 - 1)
                .set("lanes_last", (c.co - (g - 1) * p) as i64)
                .set("rowstep", wrap24(c.w as i64 - c.k as i64 + 1))
                .set(
                    "chstep",
                    wrap24((c.h * c.w) as i64 - ((c.k - 1) * c.w) as i64 - c.k as i64 + 1),
                )
                .set("chunkstep", (cpc * c.h * c.w) as i64)
                .set("sw", (c.stride * c.w) as i64)
                .set("gstep", if g > 1 { (p * c.ho * c.wo) as i64 } else { 0 })
                .set("howo", (c.ho * c.wo) as i64)
                .set("zero", c.req.zero as i64)
                .set("qmax", c.req.qmax() as i64)
                .set("lut_len", lut_len as i64);
            flash::conv_record(body, c, &biases, p, cpc, nch);
            (d, nch, g)
        }
        LayerPlan::Qnms(_) => (Desc::new(DescKind::Post), 0, 0),
    })
}

/// Lower a plan to the folded engine `hw`.
pub fn lower(q: &crate::quant::QuantGraph, plan: &Plan, hw: FoldHw) -> Result<FoldedDesign> {
    if plan.abits > 8 {
        return Err(Error::arg(
            "--quant",
            format!(
                "the folded engine stores 8-bit codes, this model has {}-bit tensors; quantize with --abits 8 --head-bits 8",
                plan.abits
            ),
        ));
    }
    let tensor_bytes = plan.mem_depth;
    if tensor_bytes > hw.mem_bytes {
        return Err(Error::arg(
            "--imgsz",
            format!(
                "at {}x{} the live tensors need {tensor_bytes} bytes but the board's activation memory has {}; use a smaller --imgsz (the folded engine's floor is 128)",
                plan.imgsz[0], plan.imgsz[1], hw.mem_bytes
            ),
        ));
    }
    // Partial sums of chunked reductions go to a region free during their layer.
    let lives = scratch::live(q, plan);
    let mut psum_end = 0usize;
    let mut pf = Proof::default();
    let mut nms_unit = None;
    let mut layers = Vec::with_capacity(plan.layers.len());
    // Per layer, the record after its descriptor (the descriptor layout needs every layer).
    let mut bodies: Vec<Vec<u8>> = Vec::with_capacity(plan.layers.len());
    for (index, l) in plan.layers.iter().enumerate() {
        let mut body = Vec::new();
        let (desc, chunks, groups) = match &l.params {
            LayerPlan::Qnms(p) => {
                nms_unit = Some(nms::build(p, plan, &lives, index, hw.mem_bytes)?);
                (Desc::new(DescKind::Post), 0, 0)
            }
            params => {
                let mut psum = |bytes: usize| {
                    let at = scratch::place(plan, &lives, index, bytes, hw.mem_bytes, 4, &[]).ok_or_else(|| {
                        Error::arg(
                            "--imgsz",
                            format!(
                                "{}: its partial sums need {bytes} bytes of activation memory and no such region is free at {}x{}; use a smaller --imgsz",
                                l.name, plan.imgsz[0], plan.imgsz[1]
                            ),
                        )
                    })?;
                    psum_end = psum_end.max(at + bytes);
                    Ok(at)
                };
                let pad_top = match params {
                    LayerPlan::Conv(c) => c.pad,
                    LayerPlan::MaxPool(m) => m.pad,
                    _ => 0,
                };
                layer_record(&mut pf, &hw, &l.name, params, pad_top, &mut psum, &mut body)?
            }
        };
        bodies.push(body);
        layers.push(FoldLayer {
            index,
            node: l.node,
            name: l.name.clone(),
            kind: l.kind,
            shape: l.shape,
            out_base: l.out_base,
            macs: l.macs,
            desc,
            flash: (0, 0),
            chunks,
            groups,
            cycles: 0,
            step: None,
        });
    }
    assemble(
        q,
        plan,
        hw,
        &pf,
        Assembly {
            layers,
            bodies,
            da: 0,
            tensor_bytes,
            mem_used: tensor_bytes.max(psum_end),
            nms: nms_unit,
        },
    )
}

/// What [`assemble`] turns into a design: the layers (or bands and copies) in order, each
/// one's record after its descriptor, the DRAM word-address width (0: no DRAM), the bytes of
/// tensors and the highest byte used in the engine's memory, the post-processing unit.
pub(crate) struct Assembly {
    pub layers: Vec<FoldLayer>,
    pub bodies: Vec<Vec<u8>>,
    pub da: u32,
    pub tensor_bytes: usize,
    pub mem_used: usize,
    pub nms: Option<nms::NmsUnit>,
}

/// The descriptor layout, the flash image and the cycle model of a lowered schedule.
/// The flash image of a design in row bands: every step's descriptor in schedule order (the
/// program; the engine reads step i's at `i * desc bytes`), then each convolution's table,
/// parameters and weights once (its bands' descriptors point there with `body`). A layer's
/// `flash` range is its descriptor's.
fn program_image(
    layers: &mut [FoldLayer],
    bodies: Vec<Vec<u8>>,
    lay: &desc::Layout,
) -> Result<Vec<u8>> {
    let mut at = layers.len() * lay.bytes;
    let mut placed: std::collections::HashMap<usize, (usize, usize)> = Default::default();
    let mut tail: Vec<u8> = Vec::new();
    for (k, (l, body)) in layers.iter_mut().zip(&bodies).enumerate() {
        if body.is_empty() {
            continue;
        }
        let off = match placed.get(&l.index) {
            Some(&(off, k)) if bodies[k] == *body => off,
            Some(_) => {
                return Err(Error::Other(format!(
                    "internal: {}: the bands of one layer carry different weights",
                    l.name
                )))
            }
            None => {
                let off = at;
                placed.insert(l.index, (off, k));
                tail.extend(body);
                at += body.len();
                off
            }
        };
        if off >= 1 << desc::FLASH_BITS {
            return Err(refuse(
                &l.name,
                format!(
                    "its weights start at flash byte {off}, past the {}-bit image offset",
                    desc::FLASH_BITS
                ),
            ));
        }
        l.desc = l.desc.clone().set("body", off as i64);
    }
    let mut image: Vec<u8> = Vec::with_capacity(at);
    for l in layers.iter_mut() {
        let start = image.len();
        image.extend(l.desc.bytes(lay, &l.name)?);
        l.flash = (start, image.len());
    }
    image.extend(tail);
    Ok(image)
}

pub(crate) fn assemble(
    q: &crate::quant::QuantGraph,
    plan: &Plan,
    hw: FoldHw,
    pf: &Proof,
    a: Assembly,
) -> Result<FoldedDesign> {
    let Assembly {
        mut layers,
        bodies,
        da,
        tensor_bytes,
        mem_used,
        nms,
    } = a;
    let ab = super::ubits((hw.mem_bytes - 1) as u64);
    // Sizes must fit the address registers (steps and origins wrap modulo the memory).
    for l in &layers {
        for name in ["n", "howo", "hw", "gstep", "chunkstep", "sw"] {
            if l.desc.get(name) >= 1 << ab {
                return Err(refuse(
                    &l.name,
                    format!("descriptor field `{name}` exceeds the {ab}-bit activation memory"),
                ));
            }
        }
    }
    let dw = desc::dim_bits(layers.iter().map(|l| &l.desc));
    let desc_layout = desc::Layout::new(ab, dw, da, layers.iter().map(|l| &l.desc));
    let image = if da > 0 {
        program_image(&mut layers, bodies, &desc_layout)?
    } else {
        let mut image: Vec<u8> = Vec::new();
        for (l, body) in layers.iter_mut().zip(bodies) {
            let start = image.len();
            image.extend(l.desc.bytes(&desc_layout, &l.name)?);
            image.extend(body);
            l.flash = (start, image.len());
        }
        image
    };
    let mut d = FoldedDesign {
        top: "yq_top".into(),
        imgsz: plan.imgsz,
        hw,
        abits: plan.abits,
        wbits: plan.wbits,
        ab,
        tensor_bytes,
        mem_used,
        da,
        dw,
        desc_layout,
        class_names: q.class_names.clone(),
        acc_w: pf.acc_w,
        bias_w: pf.bias_w,
        sh_w: pf.sh_w,
        rsh_w: super::ubits(pf.max_rsh as u64),
        lsh_w: if pf.max_lsh > 0 {
            super::ubits(pf.max_lsh as u64)
        } else {
            0
        },
        add_w: pf.add_w,
        add_rsw: super::ubits(pf.add_r as u64),
        add_lsw: if pf.add_l > 0 {
            super::ubits(pf.add_l as u64)
        } else {
            0
        },
        nms,
        layers,
        flash: image,
        frame_cycles: 0,
        total_macs: plan.total_macs,
    };
    cycles::apply(&mut d, None);
    Ok(d)
}
