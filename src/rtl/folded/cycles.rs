//! Cycle model of the folded engine: the schedule of `yq_fold_core` (controller, loader,
//! units) and of the flash byte stream, layer by layer.
//!
//! The stream delivers a byte `first_byte` cycles after `f_start` and then at most one byte
//! every `byte_cycles` cycles; a byte nobody takes is held. In a design in row bands it
//! restarts at every step's descriptor and at every convolution's weights. The loader takes a layer's
//! descriptor, then (convolutions) its table and, chunk by chunk, parameters and weights,
//! never more than one chunk ahead of the convolution unit. Every count below is the RTL's
//! own: the testbench checks each layer's simulated cycles against [`FoldLayer::cycles`].
//! The one exception is a copy between DRAM and the tile memory (row bands), counted at the
//! rate the copy unit sustains against the SDRAM model ([`super::banded::copy_cycles`]).

use super::{FoldLayer, FoldedDesign, PARAM_BYTES};
use crate::rtl::plan::LayerKind;

/// `yq_mac_array`: a tap presented in cycle c gives its sum in cycle c + MAC_LAT.
pub const MAC_LAT: u64 = 5;

/// The byte stream as the loader sees it.
struct Stream {
    /// Cycle at which the next byte is available.
    next: u64,
    rate: u64,
}

impl Stream {
    /// Take `n` bytes with a consumer that is ready from cycle `earliest` on; returns the
    /// cycle of the last take.
    fn block(&mut self, n: usize, earliest: u64) -> u64 {
        let first = self.next.max(earliest);
        let last = first + (n as u64 - 1) * self.rate;
        self.next = last + self.rate;
        last
    }
}

/// Cycles of one convolution from `go` (`g0`), with the loader free from `ld_from` (and, in
/// a design in row bands, the stream restarted at the layer's weights first).
fn conv(d: &FoldedDesign, l: &FoldLayer, s: &mut Stream, g0: u64, ld_from: u64) -> u64 {
    let desc = &l.desc;
    let p = d.hw.lanes as u64;
    let (g, nch) = (l.groups, l.chunks);
    let howo = ((desc.get("ho_m1") + 1) * (desc.get("wo_m1") + 1)) as u64;
    let lanes_last = desc.get("lanes_last") as u64;
    let mut ld = ld_from;
    if d.da > 0 {
        // `jump` in the loader's decide cycle, `f_start` the cycle after; the loader waits
        // one cycle more
        s.next = ld_from + d.hw.first_byte;
        ld += 1;
    }
    let lut = desc.get("lut_len") as usize;
    if lut > 0 {
        ld = s.block(lut, ld) + 1;
    }
    let mut done_at: Vec<u64> = Vec::with_capacity(g * nch);
    let mut wait = g0 + 1;
    for n in 0..g * nch {
        let (og, ch) = (n / nch, n % nch);
        let tc = if ch == nch - 1 {
            desc.get("tc_last_m1") + 1
        } else {
            desc.get("tc_m1") + 1
        } as u64;
        let bytes = if ch == 0 { d.hw.lanes * PARAM_BYTES } else { 0 } + (tc * p) as usize;
        let room = if n >= 2 { done_at[n - 2] + 1 } else { 0 };
        let last = s.block(bytes, ld.max(room));
        ld = last + 1;
        let start = wait.max(last + 1) + 1;
        let nl = if og == g - 1 { lanes_last } else { p };
        // taps, the MAC array's latency plus the cycle that sees its result, the drain
        let wait_mac = MAC_LAT + 1;
        let per_px = if nch == 1 {
            tc + wait_mac + nl + 9
        } else {
            let lane = if ch == 0 {
                2
            } else if ch == nch - 1 {
                11
            } else {
                5
            };
            tc + wait_mac + nl * lane + 1
        };
        let end = start + howo * per_px - 1;
        done_at.push(end);
        wait = end + 1;
    }
    // done is visible the cycle after the last chunk's final step
    done_at.last().copied().unwrap_or(g0) + 1 - g0
}

/// Fill in every layer's cycles and the frame's; `post` is the NMS stage's go-to-done count
/// on the golden image (it depends on the number of candidates).
pub fn apply(d: &mut FoldedDesign, post: Option<u64>) {
    let mut s = Stream {
        next: 1 + d.hw.first_byte,
        rate: d.hw.byte_cycles,
    };
    // start is seen in cycle 0; the first layer's load step is cycle 1
    let mut t = 1u64;
    let mut cycles = Vec::with_capacity(d.layers.len());
    for l in &d.layers {
        if d.da > 0 {
            // row bands: the stream restarts at every step's descriptor (`f_start` in t + 1)
            s.next = t + 1 + d.hw.first_byte;
        }
        let c_last = s.block(d.desc_layout.bytes, t + 2);
        let g0 = c_last + 3;
        let dur = if l.desc.kind == super::desc::DescKind::Dma {
            super::banded::copy_cycles(&l.desc)
        } else {
            match l.kind {
                LayerKind::Input => l.desc.get("n") as u64 + 1,
                // the window unit: K*K reads, one cycle taking the last code in, a write per code
                LayerKind::MaxPool | LayerKind::Upsample => {
                    let k = l.desc.get("k_m1") as u64 + 1;
                    let d = |f: &str| l.desc.get(f) as u64 + 1;
                    d("c_m1") * d("ho_m1") * d("wo_m1") * (k * k + 2) + 1
                }
                LayerKind::Add => 4 * l.desc.get("n") as u64 + 3,
                LayerKind::Qnms => post.unwrap_or(0),
                LayerKind::Conv => conv(d, l, &mut s, g0, c_last + 2),
            }
        };
        let done = g0 + dur;
        cycles.push(dur + 1);
        t = done + 2;
    }
    for (l, c) in d.layers.iter_mut().zip(cycles) {
        l.cycles = c;
    }
    // finished is visible two cycles after the last layer's done
    d.frame_cycles = t;
}
