//! Data-movement layers in the plan: the input loader, max-pool, nearest upsample and
//! residual add, with their shapes, addresses, zero points, shifts and proven widths.
//!
//! Guarantees: the input rule is the spec's (codes `p >> shift`, no shift for codes of 8 bits
//! or more); the add's internal width `iw` holds both aligned inputs and their sum before
//! saturation; an add with other than two inputs is refused.

use super::super::ubits;
use crate::error::{Error, Result};
use crate::quant::QFormat;
use serde::Serialize;

/// Input loader: `n` pixels streamed in, codes `p >> shift` written from `out_base`.
#[derive(Clone, Debug, Serialize)]
pub struct InputPlan {
    pub n: usize,
    /// Width of an element counter up to `n`.
    pub nw: u32,
    pub shift: u32,
    pub out_base: usize,
}

pub fn input(shape: &[usize; 3], shift: u32, out_base: usize, abits: u32) -> InputPlan {
    let n = shape.iter().product();
    // Codes wider than 8 bits keep the pixel unshifted (the spec's input rule).
    let shift = if abits >= 8 { 0 } else { shift };
    InputPlan {
        n,
        nw: ubits(n as u64),
        shift,
        out_base,
    }
}

/// Max-pool of `c` channels (padding never wins: it reads as code 0).
#[derive(Clone, Debug, Serialize)]
pub struct PoolPlan {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub ho: usize,
    pub wo: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub in_base: usize,
    pub out_base: usize,
}

pub fn pool(
    i: &[usize; 3],
    o: &[usize; 3],
    k: usize,
    stride: usize,
    pad: usize,
    in_base: usize,
    out_base: usize,
) -> PoolPlan {
    PoolPlan {
        c: i[0],
        h: i[1],
        w: i[2],
        ho: o[1],
        wo: o[2],
        k,
        stride,
        pad,
        in_base,
        out_base,
    }
}

/// Nearest upsample by `f`.
#[derive(Clone, Debug, Serialize)]
pub struct UpsamplePlan {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub f: usize,
    pub in_base: usize,
    pub out_base: usize,
}

pub fn upsample(i: &[usize; 3], f: usize, in_base: usize, out_base: usize) -> UpsamplePlan {
    UpsamplePlan {
        c: i[0],
        h: i[1],
        w: i[2],
        f,
        in_base,
        out_base,
    }
}

/// Residual add of two tensors: `sat(align(a - za) + align(b - zb) + zo)`, each input
/// aligned by a rounding right shift (`s*_left`: a left shift).
#[derive(Clone, Debug, Serialize)]
pub struct AddPlan {
    pub n: usize,
    /// Width of an element counter up to `n`.
    pub nw: u32,
    pub a_base: usize,
    pub b_base: usize,
    pub out_base: usize,
    /// Signed width of the aligned inputs and their sum.
    pub iw: u32,
    pub za: i32,
    pub zb: i32,
    pub zo: i32,
    pub qmax: i32,
    pub sa: u32,
    pub sa_left: bool,
    pub sb: u32,
    pub sb_left: bool,
}

pub fn add(
    name: &str,
    o: &[usize; 3],
    bases: &[usize],
    fmts: &[QFormat],
    shifts: &[i32],
    out: &QFormat,
    out_base: usize,
) -> Result<AddPlan> {
    if bases.len() != 2 {
        return Err(Error::Other(format!(
            "{name}: the RTL add takes exactly 2 inputs, this one has {}",
            bases.len()
        )));
    }
    let n = o.iter().product();
    let left = shifts
        .iter()
        .map(|&s| (-s).max(0) as u32)
        .max()
        .unwrap_or(0);
    Ok(AddPlan {
        n,
        nw: ubits(n as u64),
        a_base: bases[0],
        b_base: bases[1],
        out_base,
        iw: out.bits.max(fmts[0].bits).max(fmts[1].bits) + left + 5,
        za: fmts[0].zero,
        zb: fmts[1].zero,
        zo: out.zero,
        qmax: out.qmax(),
        sa: shifts[0].unsigned_abs(),
        sa_left: shifts[0] < 0,
        sb: shifts[1].unsigned_abs(),
        sb_left: shifts[1] < 0,
    })
}
