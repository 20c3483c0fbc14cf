//! The folded engine on a board with DRAM: a plan split into row bands ([`super::band`])
//! lowered to the engine's schedule. Per band: a copy descriptor ([`DescKind::Dma`]) for each
//! input tile, the layer itself on its tiles (the same descriptors and records as an unbanded
//! layer, at the band's rows, with the band's `padt`), and a copy of the band's output rows
//! back to DRAM. Every band reads its layer's record again, so the flash image holds it once
//! per band.
//!
//! The post-processing stage runs on DRAM (its inputs, the head tensors, are there after the
//! last band; its working region is placed in DRAM where no tensor is live), one access at a
//! time through the core's DRAM adapter ([`SdramTiming`] models the wait of each); a last copy
//! brings its records into the tile memory, where the host reads them.
//!
//! [`lower`] gives the descriptors, the flash image and the cycle model of the compute units
//! (exact for the unchanged units) with the copies at the rate `yq_fold_dma` sustains against
//! the SDRAM model ([`DMA_WORD_CYCLES`]).

use super::band::{Band, Banding, Dir, Dma};
use super::desc::{Desc, DescKind};
use super::{assemble, layer_record, Assembly, FoldHw, FoldLayer, FoldedDesign, Proof, Step};
use crate::error::{Error, Result};
use crate::quant::QuantGraph;
use crate::rtl::plan::{LayerPlan, Plan, PlanLayer};

/// Cycles per word of a copy: `tests/rtl_prim_dma.rs` measures 4,192 and 4,189 cycles for
/// 4,096 contiguous words (store, load) at 50 MHz, row changes and refreshes included.
pub const DMA_WORD_CYCLES: f64 = 4192.0 / 4096.0;

/// Cycles of one copy descriptor from go to done, at [`DMA_WORD_CYCLES`] (an estimate until
/// the core runs copies: the rate depends on row changes and refreshes).
pub fn copy_cycles(d: &Desc) -> u64 {
    let words = (d.get("nseg") * d.get("seg")) as f64;
    (words * DMA_WORD_CYCLES).ceil() as u64 + 2
}

/// Bytes of the ULX3S's SDRAM (boards/ulx3s-85f.yaml): where the post-processing stage may
/// place its working region.
pub const SDRAM_BYTES: usize = 32 << 20;

/// The cycles one post-processing load or store holds the sequencer on the SDRAM
/// (`yq_fold_core`'s adapter on `yq_sdram_ctrl`: one access at a time, a row kept open per
/// bank): a read waits for its data, a write for the controller to take it, and an access to
/// a bank whose open row is another (or none) pays the precharge and activation first.
/// Refreshes are not modelled (one per 7.8 µs).
#[derive(Clone, Debug, Default)]
pub struct SdramTiming {
    open: [Option<u64>; 4],
}

/// Hold cycles of a read and of a write to an open row, and the extra for opening a row in an
/// idle bank and for changing a bank's row.
pub const POST_READ: u64 = 7;
pub const POST_WRITE: u64 = 1;
pub const ROW_OPEN: u64 = 3;
pub const ROW_CHANGE: u64 = 5;

impl SdramTiming {
    /// The wait of an access to DRAM byte `addr` (word address `{row, bank, column[8:0]}`).
    pub fn access(&mut self, addr: u64, write: bool) -> u64 {
        let w = addr / 2;
        let (bank, row) = (((w >> 9) & 3) as usize, w >> 11);
        let extra = match self.open[bank] {
            Some(r) if r == row => 0,
            Some(_) => ROW_CHANGE,
            None => ROW_OPEN,
        };
        self.open[bank] = Some(row);
        extra + if write { POST_WRITE } else { POST_READ }
    }
}

/// A band's layer: the plan's parameters at the band's rows, on its tiles.
fn local(l: &PlanLayer, b: &Band) -> LayerPlan {
    let rows = b.r1 - b.r0;
    let hb = b.y1 - b.y0;
    match &l.params {
        LayerPlan::Input(p) => {
            let mut p = p.clone();
            p.n = l.shape[0] * hb * l.shape[2];
            p.out_base = b.chip_out;
            LayerPlan::Input(p)
        }
        LayerPlan::Conv(c) => {
            let mut c = c.as_ref().clone();
            c.h = rows;
            c.ho = hb;
            c.in_base = b.chip_in[0];
            c.out_base = b.chip_out;
            LayerPlan::Conv(Box::new(c))
        }
        LayerPlan::MaxPool(p) => {
            let mut p = p.clone();
            p.h = rows;
            p.ho = hb;
            p.in_base = b.chip_in[0];
            p.out_base = b.chip_out;
            LayerPlan::MaxPool(p)
        }
        LayerPlan::Upsample(u) => {
            let mut u = u.clone();
            u.h = rows;
            u.in_base = b.chip_in[0];
            u.out_base = b.chip_out;
            LayerPlan::Upsample(u)
        }
        LayerPlan::Add(a) => {
            let mut a = a.clone();
            a.n = l.shape[0] * hb * l.shape[2];
            a.a_base = b.chip_in[0];
            a.b_base = b.chip_in[1];
            a.out_base = b.chip_out;
            LayerPlan::Add(a)
        }
        LayerPlan::Qnms(_) => unreachable!("the post-processing stage has no bands"),
    }
}

/// The copy descriptor of `d` (words).
fn copy_desc(d: &Dma) -> Desc {
    Desc::new(DescKind::Dma)
        .set("dir", (d.dir == Dir::Store) as i64)
        .set("dram", (d.dram / 2) as i64)
        .set("out", (d.chip / 2) as i64)
        .set("nseg", d.nseg as i64)
        .set("seg", (d.seg / 2) as i64)
        .set("dstride", (d.dstride / 2) as i64)
        .set("cstride", (d.cstride / 2) as i64)
}

/// Lower `banding` of `plan` to the engine `hw` (its `mem_bytes` is the tile memory).
pub fn lower(q: &QuantGraph, plan: &Plan, hw: FoldHw, banding: &Banding) -> Result<FoldedDesign> {
    if banding.tile_bytes > hw.mem_bytes {
        return Err(Error::Other(format!(
            "the bands use {} bytes of tile memory, the engine has {}",
            banding.tile_bytes, hw.mem_bytes
        )));
    }
    let mut pf = Proof::default();
    let mut layers = Vec::new();
    let mut bodies = Vec::new();
    let lives = super::scratch::live(q, plan);
    let mut nms = None;
    let mut dram_end = banding.dram_used;
    for bl in &banding.layers {
        let l = &plan.layers[bl.layer];
        let step =
            |name: String, desc: Desc, chunks: usize, groups: usize, macs: u64, role: Step| {
                FoldLayer {
                    index: bl.layer,
                    node: l.node,
                    name,
                    kind: l.kind,
                    shape: l.shape,
                    out_base: l.out_base,
                    macs,
                    desc,
                    flash: (0, 0),
                    chunks,
                    groups,
                    cycles: 0,
                    step: Some(role),
                }
            };
        if let LayerPlan::Qnms(p) = &l.params {
            let u = super::nms::build(p, plan, &lives, bl.layer, SDRAM_BYTES)?;
            let (lo, hi) = (p.out_base & !1, (p.out_base + p.region).next_multiple_of(2));
            dram_end = dram_end.max(u.cand_base + u.region_bytes).max(hi);
            layers.push(step(
                l.name.clone(),
                Desc::new(DescKind::Post),
                0,
                0,
                0,
                Step::Post,
            ));
            bodies.push(Vec::new());
            // The count and the records into the tile memory for the host.
            let d = Dma {
                dir: Dir::Load,
                dram: lo,
                chip: 0,
                nseg: 1,
                seg: hi - lo,
                dstride: hi - lo,
                cstride: hi - lo,
            };
            layers.push(step(
                format!("{}.records", l.name),
                copy_desc(&d),
                0,
                0,
                0,
                Step::Copy(d),
            ));
            bodies.push(Vec::new());
            nms = Some(u);
            continue;
        }
        for (k, b) in bl.bands.iter().enumerate() {
            for (j, d) in b.loads.iter().enumerate() {
                layers.push(step(
                    format!("{}.b{k}.in{j}", l.name),
                    copy_desc(d),
                    0,
                    0,
                    0,
                    Step::Copy(*d),
                ));
                bodies.push(Vec::new());
            }
            let params = local(l, b);
            let mut body = Vec::new();
            let name = format!("{}.b{k}", l.name);
            let mut psum = |bytes: usize| match b.psum {
                Some(at) if at + bytes <= banding.tile_bytes => Ok(at),
                _ => Err(Error::Other(format!(
                    "{name}: the band's partial sums ({bytes} bytes) have no tile region"
                ))),
            };
            let (desc, chunks, groups) = layer_record(
                &mut pf, &hw, &name, &params, b.pad_top, &mut psum, &mut body,
            )?;
            let macs = l.macs * (b.y1 - b.y0) as u64 / l.shape[1] as u64;
            let role = Step::Band {
                y0: b.y0,
                y1: b.y1,
                tile: b.chip_out,
            };
            layers.push(step(name, desc, chunks, groups, macs, role));
            bodies.push(body);
            layers.push(step(
                format!("{}.b{k}.out", l.name),
                copy_desc(&b.store),
                0,
                0,
                0,
                Step::Copy(b.store),
            ));
            bodies.push(Vec::new());
        }
    }
    let da = crate::rtl::ubits((dram_end / 2) as u64);
    let tile_used = banding
        .layers
        .iter()
        .map(|l| l.tile_used)
        .max()
        .unwrap_or(0);
    assemble(
        q,
        plan,
        hw,
        &pf,
        Assembly {
            layers,
            bodies,
            da,
            tensor_bytes: dram_end,
            mem_used: tile_used,
            nms,
        },
    )
}
