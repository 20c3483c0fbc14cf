//! The NMS engine shared by every architecture (`templates/common/yq_qnms_engine.v`): the
//! options baked into it, its record format and its exact cycle schedule. Its parameters
//! (widths, tables, level bases) are planned in [`plan::qnms`](super::plan::qnms).
//!
//! Guarantees: [`QnmsPlan::schedule`] keeps exactly the boxes `quant::qhead::nms` keeps and
//! counts the engine's cycles from `go` to `done` for a given set of candidates (the stage is
//! data dependent: one cycle count per image); the output words are the count and records as
//! the engine writes them.

use super::plan::QnmsPlan;
use crate::quant::int_model::NmsParams;
use crate::quant::qhead::{self, IntDet};

/// The post-processing options baked into the hardware (Ultralytics' defaults for
/// prediction): confidence 0.25, IoU 0.7, 300 detections, one label per box.
pub const NMS: NmsParams = crate::defaults::PREDICT_NMS;

/// Bytes per detection record: x1, y1, x2, y2 (16 bits each), score (16 bits), class.
pub const RECORD: usize = 11;

/// Outcome of the stage on one image.
#[derive(Clone, Debug)]
pub struct QnmsRun {
    pub kept: Vec<IntDet>,
    pub cycles: u64,
    /// The output words (count, then records) as written to the activation memory.
    pub codes: Vec<i32>,
    /// The candidates in score order (what an engine's own schedule replays).
    pub sorted: Vec<IntDet>,
}

impl QnmsPlan {
    /// Phase 1 (candidate scan) cycles for `ncand` candidates.
    pub fn scan_cycles(&self, ncand: usize) -> u64 {
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
        let kept = qhead::nms_steps(sorted, self.iou_num, self.max_det, |s| {
            cycles += n + 1 + 1; // S_SEL scan + S_PICK
            if s.kept_before > 0 {
                cycles += s.kept_before as u64 + 3 + 1; // S_NMS pipeline + S_DECIDE
            }
            if !s.keep {
                cycles += 1; // back to S_SELI
                return;
            }
            cycles += 1 + RECORD as u64; // S_KEEP + S_OUT
            if s.kept_before + 1 < self.max_det {
                cycles += 1; // S_SELI
            }
        });
        // Out of candidates before max_det: one more selection finds none.
        if n > 0 && kept.len() < self.max_det {
            cycles += n + 1 + 1;
        }
        cycles += 2 + 1; // S_COUNT + S_DONE
        let codes = encode_records(&kept).into_iter().map(i32::from).collect();
        QnmsRun {
            kept,
            cycles,
            codes,
            sorted: sorted.to_vec(),
        }
    }
}

/// The stage's output bytes: the count (16 bits), then per box x1, y1, x2, y2, score (16 bits
/// each, little endian, two's complement) and the class byte.
pub fn encode_records(kept: &[IntDet]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + RECORD * kept.len());
    out.extend((kept.len() as u16).to_le_bytes());
    for d in kept {
        for v in d.xyxy.iter().map(|&v| v as i32).chain([d.score]) {
            out.extend((v as u16).to_le_bytes());
        }
        out.push(d.cls as u8);
    }
    out
}

/// The boxes of `n` records (the bytes after the count); the anchor is not recorded (0).
pub fn decode_records(bytes: &[u8]) -> Vec<IntDet> {
    bytes
        .chunks_exact(RECORD)
        .map(|r| {
            let w = |i: usize| i16::from_le_bytes([r[2 * i], r[2 * i + 1]]);
            IntDet {
                xyxy: [0, 1, 2, 3].map(|i| w(i) as i64),
                score: u16::from_le_bytes([r[8], r[9]]) as i32,
                cls: r[10] as usize,
                anchor: 0,
            }
        })
        .collect()
}

#[cfg(test)]
mod record_tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let kept = vec![
            IntDet {
                xyxy: [-16, 3, 5000, 32767],
                score: 65535,
                cls: 79,
                anchor: 0,
            },
            IntDet {
                xyxy: [0, -32768, 1, 2],
                score: 0,
                cls: 0,
                anchor: 0,
            },
        ];
        let b = encode_records(&kept);
        assert_eq!(b.len(), 2 + 2 * RECORD);
        assert_eq!(u16::from_le_bytes([b[0], b[1]]), 2);
        assert_eq!(decode_records(&b[2..]), kept);
    }
}
