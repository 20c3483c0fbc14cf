//! The integer post-processing stage (`--qnms`) in the plan: DFL, box decode, class
//! threshold and class-aware NMS over the head outputs, with the kept detections written
//! after every tensor of the activation memory.
//!
//! Guarantees: the stage computes exactly `quant::qhead::postprocess` with
//! [`NMS`](crate::rtl::qnms::NMS) (the tables are the model's, the arithmetic the same
//! integer arithmetic); every width is derived here from the tables and the input size, and
//! a configuration that does not fit the 16-bit record format is refused. The cycle schedule
//! of the shared engine (`templates/common/yq_qnms_engine.v`) is
//! [`QnmsPlan::schedule`](crate::rtl::qnms), in `rtl::qnms`.

use super::super::{hex, ubits};
use crate::error::{Error, Result};
use crate::quant::qhead::{self, DIST_FRAC, IOU_DEN};
use crate::quant::QuantGraph;
use crate::rtl::qnms::{NMS, RECORD};
use serde::Serialize;

/// Width of the exp and sigmoid table entries (values up to `2^15`).
const EW: u32 = 16;

/// The post-processing stage in the plan.
#[derive(Clone, Debug, Serialize)]
pub struct QnmsPlan {
    pub nl: usize,
    pub nc: usize,
    pub reg_max: usize,
    pub rw: u32,
    pub frac: u32,
    /// Quotient bits of a DFL distance.
    pub qb: u32,
    /// Width of the division step counter.
    pub qiw: u32,
    /// Code width of the head outputs.
    pub qw: u32,
    /// Per-level values packed 32 bits per level, as Verilog literals.
    pub l_box: String,
    pub l_cls: String,
    pub l_h: String,
    pub l_w: String,
    pub l_hw: String,
    pub l_sh: String,
    pub l_thr: String,
    pub l_eoff: String,
    pub l_soff: String,
    pub eaw: u32,
    pub ew: u32,
    pub saw: u32,
    pub exp_depth: usize,
    pub sig_depth: usize,
    pub numw: u32,
    pub denw: u32,
    /// Candidate store depth (one per anchor) and its index width.
    pub ncand: usize,
    pub ciw: u32,
    pub max_det: usize,
    pub keep_depth: usize,
    pub kdw: u32,
    pub kiw: u32,
    pub areaw: u32,
    pub pw: u32,
    pub iou_num: i64,
    pub iou_den: i64,
    pub out_base: usize,
    /// Words reserved for the output: count + records.
    pub region: usize,
    /// Per level, typed: the values packed into `l_*`.
    #[serde(skip)]
    pub levels: Vec<QnmsLevel>,
    /// Every level's exp and sigmoid tables, concatenated (level `l` at `levels[l].eoff` /
    /// `soff`), 16-bit entries.
    #[serde(skip)]
    pub exp: Vec<i32>,
    #[serde(skip)]
    pub sig: Vec<i32>,
    /// The two tables as `$readmemh` images.
    #[serde(skip)]
    pub rom_exp: String,
    #[serde(skip)]
    pub rom_sig: String,
}

/// One head level of the NMS stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct QnmsLevel {
    /// Base addresses of the level's box and class codes.
    pub box_base: usize,
    pub cls_base: usize,
    pub h: usize,
    pub w: usize,
    /// `log2(stride)`.
    pub sh: u32,
    /// Smallest class code that passes the confidence threshold.
    pub thr: i32,
    /// Offsets of the level's tables in `exp` / `sig`.
    pub eoff: usize,
    pub soff: usize,
}

fn packed(v: &[u64]) -> String {
    let mut s = format!("{}'h", 32 * v.len());
    for x in v.iter().rev() {
        s.push_str(&format!("{x:08x}"));
    }
    s
}

/// Anchors of the head at the given tensor shapes.
fn anchors(q: &QuantGraph, shapes: &[[usize; 3]]) -> usize {
    q.head
        .cls_nodes
        .iter()
        .map(|&n| shapes[n][1] * shapes[n][2])
        .sum()
}

/// Words of activation memory the stage writes (present only with `--qnms`).
pub fn region(q: &QuantGraph, shapes: &[[usize; 3]]) -> usize {
    match q.qnms {
        Some(_) => 2 + RECORD * NMS.max_det.min(anchors(q, shapes)),
        None => 0,
    }
}

/// Build the stage for the quantized graph `q` (which must carry `--qnms` tables).
pub fn build(
    q: &QuantGraph,
    shapes: &[[usize; 3]],
    base: &[usize],
    out_base: usize,
    abits: u32,
) -> Result<QnmsPlan> {
    let t = q.qnms.as_ref().expect("caller checks --qnms");
    let h = &q.head;
    let refuse = |msg: String| Err(Error::arg("--quant", msg));
    if abits < 8 {
        return refuse(format!(
            "the hardware NMS writes byte records but the activation memory is {abits} bits wide; quantize the head with --head-bits 8 or drop --qnms"
        ));
    }
    if h.nc == 0 || h.nc > 256 || h.reg_max < 2 || t.levels.len() > 4 {
        return refuse(format!(
            "the hardware NMS supports 1-256 classes, reg_max >= 2 and at most 4 levels (model: {} classes, reg_max {}, {} levels)",
            h.nc,
            h.reg_max,
            t.levels.len()
        ));
    }
    let qw = t
        .levels
        .iter()
        .map(|l| l.box_fmt.bits.max(l.cls_fmt.bits))
        .max()
        .unwrap_or(8);
    let (mut levels, mut exp, mut sig) = (vec![], vec![], vec![]);
    let dmax = ((h.reg_max as i64 - 1) << DIST_FRAC) as u64;
    for (l, lt) in t.levels.iter().enumerate() {
        let s = shapes[h.cls_nodes[l]];
        let (hh, ww) = (s[1], s[2]);
        let sh = lt.stride.trailing_zeros();
        // Coordinate extremes: (ax -/+ d) << sh with ax in [8, (w-1)*16 + 8].
        let lo = (8 - dmax as i64) << sh;
        let hi = (((hh.max(ww) as i64 - 1) << DIST_FRAC) + 8 + dmax as i64) << sh;
        if lo < i16::MIN as i64 || hi > i16::MAX as i64 || !lt.stride.is_power_of_two() {
            return refuse(format!(
                "the hardware NMS records 16-bit coordinates; level {l} (stride {}) reaches {hi}: use a smaller --imgsz",
                lt.stride
            ));
        }
        levels.push(QnmsLevel {
            box_base: base[h.box_nodes[l]],
            cls_base: base[h.cls_nodes[l]],
            h: hh,
            w: ww,
            sh,
            thr: qhead::class_threshold(&lt.cls_fmt, NMS.conf).clamp(0, 1 << qw),
            eoff: exp.len(),
            soff: sig.len(),
        });
        exp.extend(lt.exp.iter().copied());
        sig.extend(lt.sigmoid.iter().copied());
    }
    let emax = exp.iter().copied().max().unwrap_or(1).max(1) as u64;
    if emax >= 1 << EW || sig.iter().any(|&v| !(0..1 << EW).contains(&v)) {
        return refuse("exp/sigmoid table entries exceed 16 bits".into());
    }
    let rm = h.reg_max as u64;
    let qb = ubits(dmax);
    let denw = ubits(rm * emax);
    let numw = ubits(rm * (rm - 1) * emax).max(denw + qb - DIST_FRAC - 1);
    let ncand = anchors(q, shapes);
    let per_level = |f: fn(&QnmsLevel) -> u64| packed(&levels.iter().map(f).collect::<Vec<_>>());
    Ok(QnmsPlan {
        nl: t.levels.len(),
        nc: h.nc,
        reg_max: h.reg_max,
        rw: ubits(rm - 1),
        frac: DIST_FRAC,
        qb,
        qiw: ubits(qb as u64 - 1),
        qw,
        l_box: per_level(|l| l.box_base as u64),
        l_cls: per_level(|l| l.cls_base as u64),
        l_h: per_level(|l| l.h as u64),
        l_w: per_level(|l| l.w as u64),
        l_hw: per_level(|l| (l.h * l.w) as u64),
        l_sh: per_level(|l| l.sh as u64),
        l_thr: per_level(|l| l.thr as u64),
        l_eoff: per_level(|l| l.eoff as u64),
        l_soff: per_level(|l| l.soff as u64),
        eaw: ubits(exp.len() as u64 - 1).max(qw + 1),
        ew: EW,
        saw: ubits(sig.len() as u64 - 1).max(qw + 1),
        exp_depth: exp.len(),
        sig_depth: sig.len(),
        numw,
        denw,
        ncand,
        ciw: ubits(ncand as u64),
        max_det: NMS.max_det,
        keep_depth: NMS.max_det.min(ncand),
        kdw: ubits(NMS.max_det.min(ncand) as u64 - 1),
        kiw: ubits(NMS.max_det as u64),
        areaw: 34,
        pw: 48,
        iou_num: qhead::iou_num(NMS.iou),
        iou_den: IOU_DEN,
        out_base,
        region: region(q, shapes),
        rom_exp: hex::values(exp.iter().map(|&v| v as i64), EW),
        rom_sig: hex::values(sig.iter().map(|&v| v as i64), EW),
        levels,
        exp,
        sig,
    })
}
