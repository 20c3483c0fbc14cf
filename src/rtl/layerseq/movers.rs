//! Data-movement layers of the layer-sequential design: the template parameters the
//! engines need beyond the plan (counter widths, window origin addresses) and the exact
//! cycle count of each engine (templates/layerseq/prims/yq_*_engine.v) from `go` to `done`.
//! The input loader and the residual add take the plan's parameters unchanged.

use super::super::plan::{AddPlan, InputPlan, PoolPlan, UpsamplePlan};
use super::super::ubits;
use serde::Serialize;

/// Input loader: one pixel per cycle when the stream never stalls, plus the `done` register.
pub fn input_cycles(p: &InputPlan) -> u64 {
    p.n as u64 + 1
}

/// Residual add: two reads per element, then the sum stage, the write and the done pulse.
pub fn add_cycles(p: &AddPlan) -> u64 {
    2 * p.n as u64 + 4
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
    /// Address of the (padded) window origin of output pixel 0, modulo 2^aw.
    pub pix0: u64,
    pub out_base: usize,
}

pub fn pool(p: &PoolPlan, aw: u32) -> PoolP {
    let origin = p.in_base as i64 - (p.pad * p.w + p.pad) as i64;
    PoolP {
        cw: ubits((p.c + p.h.max(p.w) + 2 * p.pad + p.k) as u64),
        c: p.c,
        h: p.h,
        w: p.w,
        ho: p.ho,
        wo: p.wo,
        k: p.k,
        stride: p.stride,
        pad: p.pad,
        pix0: origin.rem_euclid(1i64 << aw) as u64,
        out_base: p.out_base,
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

pub fn upsample(p: &UpsamplePlan) -> UpsampleP {
    UpsampleP {
        cw: ubits((p.c + p.h.max(p.w) + p.f) as u64),
        c: p.c,
        h: p.h,
        w: p.w,
        f: p.f,
        in_base: p.in_base,
        out_base: p.out_base,
    }
}

impl UpsampleP {
    /// One code per cycle, then the write and the done pulse.
    pub fn cycles(&self) -> u64 {
        (self.c * self.h * self.w * self.f * self.f) as u64 + 3
    }
}
