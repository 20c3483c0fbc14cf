//! Data-movement layers: the input loader, max-pool, nearest upsample and residual add.
//! Each carries its template parameters and the exact cycle count of its engine
//! (templates/prims/yq_*_engine.v) from `go` to `done`.

use super::ubits;
use crate::error::{Error, Result};
use crate::quant::QFormat;
use serde::Serialize;

/// Input loader: `n` pixels streamed in, codes `p >> shift` written from `out_base`.
#[derive(Clone, Debug, Serialize)]
pub struct InputP {
    pub n: usize,
    pub nw: u32,
    pub shift: u32,
    pub out_base: usize,
}

pub fn input(shape: &[usize; 3], shift: u32, out_base: usize, abits: u32) -> InputP {
    let n = shape.iter().product();
    // Codes wider than 8 bits keep the pixel unshifted (the spec's input rule).
    let shift = if abits >= 8 { 0 } else { shift };
    InputP {
        n,
        nw: ubits(n as u64),
        shift,
        out_base,
    }
}

impl InputP {
    /// One pixel per cycle when the stream never stalls, plus the `done` register.
    pub fn cycles(&self) -> u64 {
        self.n as u64 + 1
    }
}

/// Max-pool of `c` channels.
#[derive(Clone, Debug, Serialize)]
pub struct PoolP {
    pub cw: u32,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub ho: usize,
    pub wo: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub pix0: u64,
    pub out_base: usize,
}

#[allow(clippy::too_many_arguments)]
pub fn pool(
    i: &[usize; 3],
    o: &[usize; 3],
    k: usize,
    stride: usize,
    pad: usize,
    in_base: usize,
    out_base: usize,
    aw: u32,
) -> PoolP {
    let origin = in_base as i64 - (pad * i[2] + pad) as i64;
    PoolP {
        cw: ubits((i[0] + i[1].max(i[2]) + 2 * pad + k) as u64),
        c: i[0],
        h: i[1],
        w: i[2],
        ho: o[1],
        wo: o[2],
        k,
        stride,
        pad,
        pix0: origin.rem_euclid(1i64 << aw) as u64,
        out_base,
    }
}

impl PoolP {
    /// `k*k` taps per output code, then the max stage, the write and the done pulse.
    pub fn cycles(&self) -> u64 {
        (self.c * self.ho * self.wo * self.k * self.k) as u64 + 4
    }
}

/// Nearest upsample by `f`.
#[derive(Clone, Debug, Serialize)]
pub struct UpsampleP {
    pub cw: u32,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub f: usize,
    pub in_base: usize,
    pub out_base: usize,
}

pub fn upsample(i: &[usize; 3], f: usize, in_base: usize, out_base: usize) -> UpsampleP {
    UpsampleP {
        cw: ubits((i[0] + i[1].max(i[2]) + f) as u64),
        c: i[0],
        h: i[1],
        w: i[2],
        f,
        in_base,
        out_base,
    }
}

impl UpsampleP {
    /// One code per cycle, then the write and the done pulse.
    pub fn cycles(&self) -> u64 {
        (self.c * self.h * self.w * self.f * self.f) as u64 + 3
    }
}

/// Residual add of two tensors.
#[derive(Clone, Debug, Serialize)]
pub struct AddP {
    pub n: usize,
    pub nw: u32,
    pub a_base: usize,
    pub b_base: usize,
    pub out_base: usize,
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
) -> Result<AddP> {
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
    Ok(AddP {
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

impl AddP {
    /// Two reads per element, then the sum stage, the write and the done pulse.
    pub fn cycles(&self) -> u64 {
        2 * self.n as u64 + 4
    }
}
