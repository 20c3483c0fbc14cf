//! The integer post-processing stage in hardware (`--qnms`): DFL, box decode, class
//! threshold and class-aware NMS, run by `templates/prims/yq_qnms_engine.v` after the last
//! head convolution, reading the head codes from the activation memory and writing the kept
//! detections back into it.
//!
//! Guarantees: the engine computes exactly `quant::qhead::postprocess` with [`NMS`] (the
//! tables are the model's, the arithmetic is the same integer arithmetic); every width is
//! derived here from the tables and the input size, and a configuration that does not fit
//! the 16-bit record format is refused; [`QnmsP::schedule`] is the engine's cycle count
//! for a given set of candidates (the stage is data dependent: one cycle count per image).

use super::ubits;
use crate::error::{Error, Result};
use crate::quant::int_model::NmsParams;
use crate::quant::qhead::{self, IntDet, DIST_FRAC, IOU_DEN};
use crate::quant::QuantGraph;
use serde::Serialize;

/// The post-processing options baked into the hardware (Ultralytics' defaults for
/// prediction): confidence 0.25, IoU 0.7, 300 detections, one label per box.
pub const NMS: NmsParams = NmsParams {
    conf: 0.25,
    iou: 0.7,
    max_det: 300,
    multi_label: false,
};

/// Bytes per detection record: x1, y1, x2, y2 (16 bits each), score (16 bits), class.
pub const RECORD: usize = 11;
/// Width of the exp and sigmoid table entries (values up to `2^15`).
const EW: u32 = 16;

/// Template parameters of the post-processing stage.
#[derive(Clone, Debug, Serialize)]
pub struct QnmsP {
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
    #[serde(skip)]
    pub rom_exp: String,
    #[serde(skip)]
    pub rom_sig: String,
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
) -> Result<QnmsP> {
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
    let (mut l_box, mut l_cls, mut l_h, mut l_w, mut l_hw, mut l_sh, mut l_thr) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut l_eoff, mut l_soff, mut rom_exp, mut rom_sig) = (vec![], vec![], vec![], vec![]);
    let dmax = ((h.reg_max as i64 - 1) << DIST_FRAC) as u64;
    for (l, lt) in t.levels.iter().enumerate() {
        let s = shapes[h.cls_nodes[l]];
        let (hh, ww) = (s[1], s[2]);
        let sh = lt.stride.trailing_zeros() as u64;
        // Coordinate extremes: (ax -/+ d) << sh with ax in [8, (w-1)*16 + 8].
        let lo = (8 - dmax as i64) << sh;
        let hi = (((hh.max(ww) as i64 - 1) << DIST_FRAC) + 8 + dmax as i64) << sh;
        if lo < i16::MIN as i64 || hi > i16::MAX as i64 || !lt.stride.is_power_of_two() {
            return refuse(format!(
                "the hardware NMS records 16-bit coordinates; level {l} (stride {}) reaches {hi}: use a smaller --imgsz",
                lt.stride
            ));
        }
        l_box.push(base[h.box_nodes[l]] as u64);
        l_cls.push(base[h.cls_nodes[l]] as u64);
        l_h.push(hh as u64);
        l_w.push(ww as u64);
        l_hw.push((hh * ww) as u64);
        l_sh.push(sh);
        let thr = qhead::class_threshold(&lt.cls_fmt, NMS.conf).clamp(0, 1 << qw);
        l_thr.push(thr as u64);
        l_eoff.push(rom_exp.len() as u64);
        rom_exp.extend(lt.exp.iter().copied());
        l_soff.push(rom_sig.len() as u64);
        rom_sig.extend(lt.sigmoid.iter().copied());
    }
    let emax = rom_exp.iter().copied().max().unwrap_or(1).max(1) as u64;
    if emax >= 1 << EW || rom_sig.iter().any(|&v| !(0..1 << EW).contains(&v)) {
        return refuse("exp/sigmoid table entries exceed 16 bits".into());
    }
    let rm = h.reg_max as u64;
    let qb = ubits(dmax);
    let denw = ubits(rm * emax);
    let numw = ubits(rm * (rm - 1) * emax).max(denw + qb - DIST_FRAC - 1);
    let ncand = anchors(q, shapes);
    let word = |v: i32| super::hex::word(&[(v as i64, EW)]);
    Ok(QnmsP {
        nl: t.levels.len(),
        nc: h.nc,
        reg_max: h.reg_max,
        rw: ubits(rm - 1),
        frac: DIST_FRAC,
        qb,
        qiw: ubits(qb as u64 - 1),
        qw,
        l_box: packed(&l_box),
        l_cls: packed(&l_cls),
        l_h: packed(&l_h),
        l_w: packed(&l_w),
        l_hw: packed(&l_hw),
        l_sh: packed(&l_sh),
        l_thr: packed(&l_thr),
        l_eoff: packed(&l_eoff),
        l_soff: packed(&l_soff),
        eaw: ubits(rom_exp.len() as u64 - 1).max(qw + 1),
        ew: EW,
        saw: ubits(rom_sig.len() as u64 - 1).max(qw + 1),
        exp_depth: rom_exp.len(),
        sig_depth: rom_sig.len(),
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
        rom_exp: super::hex::image(rom_exp.into_iter().map(word)),
        rom_sig: super::hex::image(rom_sig.into_iter().map(word)),
    })
}

/// Outcome of the stage on one image.
#[derive(Clone, Debug)]
pub struct QnmsRun {
    pub kept: Vec<IntDet>,
    pub cycles: u64,
    /// The output words (count, then records) as written to the activation memory.
    pub codes: Vec<i32>,
}

impl QnmsP {
    /// Phase 1 (candidate scan) cycles for `ncand` candidates.
    fn scan_cycles(&self, ncand: usize) -> u64 {
        let rm = self.reg_max as u64;
        let anchor = self.nc as u64 + 4;
        let decode = 4 * (2 * (rm + 1) + 1 + self.qb as u64) + 2;
        self.ncand as u64 * anchor + ncand as u64 * decode
    }

    /// Replay the engine's NMS over `sorted` candidates (score order, as
    /// `qhead::candidates` returns them): the kept boxes, the exact cycles from `go` to
    /// `done`, and the output words.
    pub fn schedule(&self, sorted: &[IntDet]) -> QnmsRun {
        let n = sorted.len() as u64;
        // go is seen in S_IDLE; done is registered after S_DONE.
        let mut cycles = 1 + self.scan_cycles(sorted.len()) + 1;
        let mut kept: Vec<IntDet> = Vec::new();
        let mut left = sorted.iter();
        loop {
            if n == 0 {
                break;
            }
            cycles += n + 1 + 1; // S_SEL scan + S_PICK
            let Some(c) = left.next() else { break };
            if !kept.is_empty() {
                cycles += kept.len() as u64 + 3 + 1; // S_NMS pipeline + S_DECIDE
            }
            if kept.iter().any(|k| qhead::suppresses(k, c, self.iou_num)) {
                cycles += 1; // back to S_SELI
                continue;
            }
            kept.push(c.clone());
            cycles += 1 + RECORD as u64; // S_KEEP + S_OUT
            if kept.len() == self.max_det {
                break;
            }
            cycles += 1; // S_SELI
        }
        cycles += 2 + 1; // S_COUNT + S_DONE
        let mut codes = vec![
            (kept.len() & 0xff) as i32,
            ((kept.len() >> 8) & 0xff) as i32,
        ];
        for d in &kept {
            for v in d.xyxy.iter().map(|&v| v as i32).chain([d.score]) {
                codes.push(v & 0xff);
                codes.push((v >> 8) & 0xff);
            }
            codes.push(d.cls as i32);
        }
        QnmsRun {
            kept,
            cycles,
            codes,
        }
    }
}
