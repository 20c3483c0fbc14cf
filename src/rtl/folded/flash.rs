//! The folded engine's flash image: one sequential record per layer, read once per frame
//! from the board's user-data offset (docs/hardware.md, "Flash image").
//!
//! Record of a layer: its descriptor ([`super::desc`]); for a convolution then the SiLU table
//! (if any, one output code per entry), and per group of P output channels the P parameter
//! words (bias as 4 bytes little endian, then the signed shift: positive = rounding right
//! shift, negative = left shift) followed by the group's weight chunks, each `tc * P` bytes
//! in tap order (input channel, kernel row, kernel column), lane 0 first; lanes past the
//! last output channel hold zeros. This is the order in which `yq_fold_loader` consumes it.

use super::PARAM_BYTES;
use crate::rtl::plan::ConvPlan;

/// Append a convolution's table, parameters and weights (after its descriptor).
pub fn conv_record(
    img: &mut Vec<u8>,
    c: &ConvPlan,
    biases: &[i64],
    p: usize,
    cpc: usize,
    nch: usize,
) {
    if let Some(t) = &c.lut {
        img.extend(t.iter().map(|&v| v as u8));
    }
    let kk = c.k * c.k;
    for og in 0..c.co.div_ceil(p) {
        for lane in 0..p {
            let o = og * p + lane;
            let (b, sh) = if o < c.co {
                let q = &c.channels[o];
                (biases[o], q.rsh as i64 - q.lsh as i64)
            } else {
                (0, 0)
            };
            let mut word = (b as i32).to_le_bytes().to_vec();
            word.push(sh as i8 as u8);
            debug_assert_eq!(word.len(), PARAM_BYTES);
            img.extend(word);
        }
        for ch in 0..nch {
            let c0 = ch * cpc;
            let c1 = (c0 + cpc).min(c.ci);
            for ci in c0..c1 {
                for t in 0..kk {
                    for lane in 0..p {
                        let o = og * p + lane;
                        let v = if o < c.co {
                            c.weight[[o, ci, t / c.k, t % c.k]]
                        } else {
                            0
                        };
                        img.push(v as i8 as u8);
                    }
                }
            }
        }
    }
}

/// The image as `$readmemh` lines, one byte each.
pub fn hex(img: &[u8]) -> String {
    let mut s = String::with_capacity(img.len() * 3);
    for b in img {
        s.push_str(&format!("{b:02x}\n"));
    }
    s
}
