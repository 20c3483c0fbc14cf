//! Row bands: the folded engine on a board whose tensors live in external memory (the
//! ULX3S's SDRAM). The plan's layout stays as it is, only in DRAM; each layer runs as a
//! sequence of bands of output rows, and each band's input rows (with their halo) are copied
//! into the on-chip tile memory, computed there by the unchanged units, and the band's output
//! rows copied back.
//!
//! Guarantees of [`split`]:
//! - every band's tiles (its inputs, its output and, for a chunked reduction, its partial
//!   sums) fit the tile memory together, or the layer is refused in one line naming it;
//! - the bands of a layer cover its output rows exactly once, in order; a band's input rows
//!   are exactly the rows its windows touch, clipped to the tensor, and `pad_top` is the
//!   number of the window's top rows that fall above the tensor (0 except in the first band),
//!   so a unit that pads rows at `pad_top` and columns at `pad` computes the band exactly;
//! - the copies ([`Dma`]) are channel-major segments: rows `[r0, r1)` of every channel, one
//!   segment per channel, between the tensor in DRAM (the plan's address, aliases included)
//!   and the tile;
//! - every copy is whole 16-bit words (`yq_fold_dma`): tiles start on even bytes and a
//!   tensor whose DRAM base, width or segments are odd is refused, naming it;
//! - the post-processing stage has no bands: it runs on DRAM.

use super::FoldHw;
use crate::error::{Error, Result};
use crate::quant::QuantGraph;
use crate::rtl::plan::{LayerPlan, Plan};
use serde::Serialize;

/// Descriptor bytes assumed by [`split`]'s flash accounting (`Banding::flash_bytes`, a
/// report; the lowered design counts its real records): the banded YOLOv8n design's size.
pub const DESC_BYTES: usize = 34;

/// Direction of a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// DRAM to the tile memory.
    Load,
    /// The tile memory to DRAM.
    Store,
}

/// One strided copy: `nseg` segments of `seg` bytes, DRAM segments `dstride` apart, tile
/// segments `cstride` apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Dma {
    pub dir: Dir,
    pub dram: usize,
    pub chip: usize,
    pub nseg: usize,
    pub seg: usize,
    pub dstride: usize,
    pub cstride: usize,
}

impl Dma {
    pub fn bytes(&self) -> usize {
        self.nseg * self.seg
    }

    /// Rows `[r0, r1)` of every channel of a `[c, h, w]` tensor at `dram`, as a tile at `chip`.
    fn rows(dir: Dir, shape: [usize; 3], dram: usize, r: (usize, usize), chip: usize) -> Self {
        let [c, h, w] = shape;
        Dma {
            dir,
            dram: dram + r.0 * w,
            chip,
            nseg: c,
            seg: (r.1 - r.0) * w,
            dstride: h * w,
            cstride: (r.1 - r.0) * w,
        }
    }
}

/// One band of a layer.
#[derive(Clone, Debug, Serialize)]
pub struct Band {
    /// Output rows `[y0, y1)`.
    pub y0: usize,
    pub y1: usize,
    /// Input rows `[r0, r1)` held in the tile (for every input of the layer).
    pub r0: usize,
    pub r1: usize,
    /// Window rows above the tensor in this band.
    pub pad_top: usize,
    /// Tile addresses of the inputs, the output and the partial sums (if any).
    pub chip_in: Vec<usize>,
    pub chip_out: usize,
    pub psum: Option<usize>,
    pub loads: Vec<Dma>,
    pub store: Dma,
}

/// The bands of one planned layer (none for the post-processing stage).
#[derive(Clone, Debug, Serialize)]
pub struct BandedLayer {
    pub layer: usize,
    pub name: String,
    pub bands: Vec<Band>,
    /// Bytes of this layer's flash record (repeated once per band).
    pub record: usize,
    /// Highest tile byte any band uses.
    pub tile_used: usize,
}

/// A plan split into bands for a tile memory of `tile_bytes`.
#[derive(Clone, Debug, Serialize)]
pub struct Banding {
    pub tile_bytes: usize,
    pub layers: Vec<BandedLayer>,
    /// Bytes copied between DRAM and the tile memory per frame.
    pub dram_load: usize,
    pub dram_store: usize,
    /// Flash bytes per frame (each band reads its layer's record).
    pub flash_bytes: usize,
    /// Highest DRAM byte the tensors use.
    pub dram_used: usize,
}

/// Geometry of one layer that the band rule needs.
struct Geo {
    /// Output `[c, h, w]`, the inputs' `[c, h, w]` and DRAM bases.
    out: [usize; 3],
    ins: Vec<([usize; 3], usize)>,
    /// Rows of a window (k), stride and top padding; an upsample reads row `y / f`.
    k: usize,
    s: usize,
    pad: usize,
    up: usize,
    /// Partial-sum bytes per output row (chunked reductions), and the layer's record bytes.
    psum_row: usize,
    record: usize,
}

impl Geo {
    /// Input rows `[r0, r1)` and the window rows above the tensor, for output rows `[y0, y1)`.
    fn rows(&self, y0: usize, y1: usize) -> (usize, usize, usize) {
        let h = self.ins.first().map(|i| i.0[1]).unwrap_or(self.out[1]);
        if self.up > 1 {
            return (y0 / self.up, (y1 - 1) / self.up + 1, 0);
        }
        let top = (y0 * self.s) as isize - self.pad as isize;
        let bot = ((y1 - 1) * self.s + self.k) as isize - self.pad as isize;
        let r0 = top.max(0) as usize;
        let r1 = (bot.max(0) as usize).min(h);
        (r0, r1, (r0 as isize - top) as usize)
    }

    /// Tile bytes of a band of output rows `[y0, y1)`: inputs, output, partial sums.
    fn tile(&self, y0: usize, y1: usize) -> (Vec<usize>, usize, Option<usize>, usize) {
        let (r0, r1, _) = self.rows(y0, y1);
        let mut at = 0;
        let mut ins = Vec::new();
        for (sh, _) in &self.ins {
            ins.push(at);
            at = (at + sh[0] * (r1 - r0) * sh[2]).next_multiple_of(2);
        }
        let out = at;
        at = (at + self.out[0] * (y1 - y0) * self.out[2]).next_multiple_of(2);
        let psum = (self.psum_row > 0).then(|| {
            let p = at.next_multiple_of(4);
            at = p + self.psum_row * (y1 - y0);
            p
        });
        (ins, out, psum, at)
    }
}

fn geo(q: &QuantGraph, plan: &Plan, i: usize, hw: &FoldHw, desc_bytes: usize) -> Option<Geo> {
    let l = &plan.layers[i];
    let node = |j: usize| (plan.nodes[j].shape, plan.nodes[j].base);
    let ins: Vec<_> = match &l.params {
        LayerPlan::Qnms(_) | LayerPlan::Input(_) => Vec::new(),
        _ => q.nodes[l.node].inputs.iter().map(|&j| node(j)).collect(),
    };
    let (k, s, pad, up, psum_row, record) = match &l.params {
        LayerPlan::Qnms(_) => return None,
        LayerPlan::Input(_) | LayerPlan::Add(_) => (1, 1, 0, 1, 0, desc_bytes),
        LayerPlan::MaxPool(p) => (p.k, p.stride, p.pad, 1, 0, desc_bytes),
        LayerPlan::Upsample(u) => (1, 1, 0, u.f, 0, desc_bytes),
        LayerPlan::Conv(c) => {
            let p = hw.lanes;
            let kk = c.k * c.k;
            let chunked = c.ci * kk > hw.wtaps;
            let g = c.co.div_ceil(p);
            let lut = c.lut.as_ref().map(|t| t.len()).unwrap_or(0);
            let record = desc_bytes + lut + g * p * (super::PARAM_BYTES + c.ci * kk);
            let psum = if chunked { c.wo * p * 4 } else { 0 };
            (c.k, c.stride, c.pad, 1, psum, record)
        }
    };
    Some(Geo {
        out: l.shape,
        ins,
        k,
        s,
        pad,
        up,
        psum_row,
        record,
    })
}

/// Split every layer of `plan` into bands for a tile memory of `tile_bytes`.
pub fn split(
    q: &QuantGraph,
    plan: &Plan,
    hw: &FoldHw,
    tile_bytes: usize,
    desc_bytes: usize,
) -> Result<Banding> {
    let mut layers = Vec::new();
    let (mut load, mut stored, mut flash) = (0, 0, 0);
    for (i, l) in plan.layers.iter().enumerate() {
        let Some(g) = geo(q, plan, i, hw, desc_bytes) else {
            layers.push(BandedLayer {
                layer: i,
                name: l.name.clone(),
                bands: Vec::new(),
                record: desc_bytes,
                tile_used: 0,
            });
            flash += desc_bytes;
            continue;
        };
        let ho = g.out[1];
        // The tallest band that fits (an upsample's bands start on a multiple of its factor),
        // then bands of equal height.
        let step = g.up;
        let mut hb = 0;
        let mut t = step;
        while t <= ho.next_multiple_of(step) && g.tile(0, t.min(ho)).3 <= tile_bytes {
            hb = t.min(ho);
            t += step;
        }
        // The first band is not always the largest (halo rows clipped at the top): check
        // the chosen height wherever it lands.
        while hb > 0
            && (0..ho)
                .step_by(hb)
                .any(|y| g.tile(y, (y + hb).min(ho)).3 > tile_bytes)
        {
            hb -= step.min(hb);
        }
        if hb == 0 {
            let need = g.tile(0, step.min(ho)).3;
            return Err(Error::arg(
                "--imgsz",
                format!(
                    "{}: one band of {} output rows needs {need} bytes of tile memory, the board has {tile_bytes}; use a smaller --imgsz or a board with more block RAM",
                    l.name,
                    step.min(ho)
                ),
            ));
        }
        let n = ho.div_ceil(hb);
        let hb = ho.div_ceil(n).next_multiple_of(step);
        let mut bands = Vec::new();
        let mut used = 0;
        let mut y0 = 0;
        while y0 < ho {
            let y1 = (y0 + hb).min(ho);
            let (r0, r1, pad_top) = g.rows(y0, y1);
            let (chip_in, chip_out, psum, end) = g.tile(y0, y1);
            used = used.max(end);
            let loads: Vec<Dma> = g
                .ins
                .iter()
                .zip(&chip_in)
                .map(|((sh, base), &c)| Dma::rows(Dir::Load, *sh, *base, (r0, r1), c))
                .collect();
            let store = Dma::rows(Dir::Store, g.out, l.out_base, (y0, y1), chip_out);
            for d in loads.iter().chain([&store]) {
                if [d.dram, d.chip, d.seg, d.dstride, d.cstride]
                    .iter()
                    .any(|v| v % 2 == 1)
                {
                    return Err(Error::arg(
                        "--imgsz",
                        format!(
                            "{}: a band copy of {} bytes at DRAM byte {} is not whole 16-bit words (tensor widths must be even); use an --imgsz that is a multiple of 64",
                            l.name,
                            d.seg,
                            d.dram
                        ),
                    ));
                }
            }
            load += loads.iter().map(Dma::bytes).sum::<usize>();
            stored += store.bytes();
            flash += g.record;
            bands.push(Band {
                y0,
                y1,
                r0,
                r1,
                pad_top,
                chip_in,
                chip_out,
                psum,
                loads,
                store,
            });
            y0 = y1;
        }
        debug_assert!(used <= tile_bytes);
        layers.push(BandedLayer {
            layer: i,
            name: l.name.clone(),
            bands,
            record: g.record,
            tile_used: used,
        });
    }
    Ok(Banding {
        tile_bytes,
        layers,
        dram_load: load,
        dram_store: stored,
        flash_bytes: flash,
        dram_used: plan.mem_depth,
    })
}

/// The order in which the host sends the input pixels: band by band, and in a band every
/// channel's rows (the planar order when the input is one band). Indices into the planar
/// `[3, h, w]` image.
pub fn pixel_order(b: &Banding, plan: &Plan) -> Vec<usize> {
    let Some(input) = b
        .layers
        .iter()
        .find(|l| matches!(plan.layers[l.layer].params, LayerPlan::Input(_)))
    else {
        return Vec::new();
    };
    rows_order(
        plan.layers[input.layer].shape,
        input.bands.iter().map(|b| (b.y0, b.y1)),
    )
}

/// The element order of a `[c, h, w]` tensor produced in bands of rows `[y0, y1)`: band by
/// band, channel-major within a band.
pub fn rows_order(shape: [usize; 3], bands: impl Iterator<Item = (usize, usize)>) -> Vec<usize> {
    let [c, h, w] = shape;
    let mut order = Vec::with_capacity(c * h * w);
    for (y0, y1) in bands {
        for ch in 0..c {
            order.extend((ch * h + y0) * w..(ch * h + y1) * w);
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(k: usize, s: usize, pad: usize, h: usize, ho: usize) -> Geo {
        Geo {
            out: [1, ho, ho],
            ins: vec![([1, h, h], 0)],
            k,
            s,
            pad,
            up: 1,
            psum_row: 0,
            record: 0,
        }
    }

    /// Every output row's window rows lie inside its band's input rows or in the padding,
    /// and the band's `pad_top` places them.
    #[test]
    fn band_rows_hold_every_window_row() {
        for (k, s, pad, h) in [
            (3, 1, 1, 20),
            (3, 2, 1, 20),
            (3, 2, 1, 19),
            (5, 1, 2, 13),
            (1, 1, 0, 7),
        ] {
            let ho = (h + 2 * pad - k) / s + 1;
            let geo = g(k, s, pad, h, ho);
            for hb in 1..=ho {
                let mut y0 = 0;
                while y0 < ho {
                    let y1 = (y0 + hb).min(ho);
                    let (r0, r1, pt) = geo.rows(y0, y1);
                    for y in y0..y1 {
                        for ky in 0..k {
                            let iy = (y * s + ky) as isize - pad as isize;
                            // the band-local padded row of this tap
                            let local = ((y - y0) * s + ky) as isize;
                            let inside = iy >= 0 && (iy as usize) < h;
                            let local_inside =
                                local >= pt as isize && local < (pt + r1 - r0) as isize;
                            assert_eq!(
                                inside, local_inside,
                                "k{k} s{s} p{pad} h{h} band {y0}..{y1} y{y} ky{ky}"
                            );
                            if inside {
                                assert_eq!(iy as usize, r0 + (local as usize - pt));
                            }
                        }
                    }
                    y0 = y1;
                }
            }
        }
    }
}
