//! The folded engine's post-processing unit (`templates/folded/prims/yq_fold_nms.v`): the
//! same integer DFL/decode/NMS as the shared engine, built without multiplier cells and with
//! its candidates and kept boxes in the activation memory. This module places that working
//! region, proves the unit's widths and replays its cycle schedule.
//!
//! Guarantees: [`NmsUnit::cycles`] counts exactly the cycles from `go` to `done` of the RTL
//! for a given list of candidates (state by state as in the Verilog); [`build`] refuses a
//! design whose working region does not fit the memory or whose boxes exceed the unit's
//! widths.

use crate::error::{Error, Result};
use crate::quant::qhead::{self, IntDet, DIST_FRAC};
use crate::rtl::plan::{Plan, QnmsPlan};
use crate::rtl::qnms::RECORD;
use crate::rtl::ubits;
use serde::Serialize;

/// Bytes per stored candidate (x1, y1, x2, y2, score, class: six 16-bit words).
pub const CAND_BYTES: usize = 12;
/// Bytes per kept box (x1, y1, x2, y2, class, area low, area high, one spare word).
pub const KEEP_BYTES: usize = 16;

/// The unit's parameters beyond the shared [`QnmsPlan`].
#[derive(Clone, Debug, Serialize)]
pub struct NmsUnit {
    /// Bits of a box side (and steps of the shift-add multiplier).
    pub mw: u32,
    /// Width of the IoU comparison `inter * den > num * union`.
    pub cmw: u32,
    /// The IoU threshold in lowest terms.
    pub iou_num: i64,
    pub iou_den: i64,
    /// Working region: candidates, then kept boxes.
    pub cand_base: usize,
    pub keep_base: usize,
    pub region_bytes: usize,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Plan the unit for the stage `p`, the last layer `step` of `plan`, in a memory of
/// `mem_bytes`; `lives` are the tensors' live ranges.
pub fn build(
    p: &QnmsPlan,
    plan: &Plan,
    lives: &[Option<(usize, usize)>],
    step: usize,
    mem_bytes: usize,
) -> Result<NmsUnit> {
    // Longest box side: both distances at their maximum, at the coarsest level.
    let dmax = ((p.reg_max as u64) - 1) << DIST_FRAC;
    let side = p
        .levels
        .iter()
        .map(|l| (2 * dmax) << l.sh)
        .max()
        .unwrap_or(1);
    let mw = ubits(side);
    if 2 * mw > 32 || 2 * mw <= 16 || mw > 31 {
        return Err(Error::arg(
            "--imgsz",
            format!(
                "the folded NMS unit stores 32-bit box areas; boxes of {side} units need {} bits",
                2 * mw
            ),
        ));
    }
    let g = gcd(p.iou_num, p.iou_den);
    let (iou_num, iou_den) = (p.iou_num / g, p.iou_den / g);
    let cmw = (2 * mw + 1 + ubits(iou_num.max(iou_den) as u64))
        .max(p.denw + p.rw + 1)
        .max(p.numw + 1);
    let keep = p.max_det.min(p.ncand);
    let region_bytes = CAND_BYTES * p.ncand + KEEP_BYTES * keep;
    let records = (p.out_base, p.out_base + p.region);
    let at = super::scratch::place(plan, lives, step, region_bytes, mem_bytes, 16, &[records])
        .ok_or_else(|| {
            Error::arg(
                "--imgsz",
                format!(
                    "the NMS stage needs {region_bytes} bytes of working memory for {} candidates and none is free at {}x{}; use a smaller --imgsz",
                    p.ncand, plan.imgsz[0], plan.imgsz[1]
                ),
            )
        })?;
    Ok(NmsUnit {
        mw,
        cmw,
        iou_num,
        iou_den,
        cand_base: at,
        keep_base: at + CAND_BYTES * p.ncand,
        region_bytes,
    })
}

impl NmsUnit {
    /// Cycles from `go` to `done` for the candidates `sorted` (score order, as
    /// `qhead::candidates` returns them).
    pub fn cycles(&self, p: &QnmsPlan, sorted: &[IntDet]) -> u64 {
        let n = sorted.len() as u64;
        let mw = self.mw as u64;
        // S_IDLE, then per anchor S_ANCHOR, S_CLS, S_THR, S_NEXT and per candidate the four
        // sides, S_CAND, S_CANDW and six word writes.
        let mut cycles = 1 + p.scan_cycles(sorted.len()) + 6 * n;
        let select = n + 1 + 1; // S_SEL + S_PICK
        let fetch = 7 + 1 + mw; // S_LD, S_AREA, S_MUL
        let keep_cost = 7 + RECORD as u64; // S_KW + S_OUT
        let mut kept: Vec<&IntDet> = Vec::new();
        let mut full = false;
        cycles += 1; // the first S_SELI
        for c in sorted {
            cycles += select + fetch;
            let mut suppressed = false;
            for k in &kept {
                cycles += 8 + 1 + 1; // S_KLD, S_KCHK, S_KCMP
                if k.cls == c.cls {
                    cycles += mw;
                }
                if qhead::suppresses(k, c, p.iou_num) {
                    suppressed = true;
                    break;
                }
            }
            if !suppressed {
                cycles += keep_cost;
                kept.push(c);
                if kept.len() == p.max_det {
                    full = true;
                    break;
                }
            }
            cycles += 1; // S_SELI
        }
        if !full && n > 0 {
            cycles += select; // the selection that finds none
        }
        cycles + 2 + 1 // S_COUNT, S_DONE
    }
}
