//! The folded engine on a board with DRAM: a plan split into row bands ([`super::band`])
//! lowered to the engine's schedule. Per band: a copy descriptor ([`DescKind::Dma`]) for each
//! input tile, the layer itself on its tiles (the same descriptors and records as an unbanded
//! layer, at the band's rows, with the band's `padt`), and a copy of the band's output rows
//! back to DRAM. Every band reads its layer's record again, so the flash image holds it once
//! per band.
//!
//! Not lowered yet: the post-processing stage, which runs on DRAM (its inputs, the head
//! tensors, are in DRAM after the last band). The core does not decode copy descriptors yet;
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
    let da = crate::rtl::ubits((banding.dram_used / 2) as u64);
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
            tensor_bytes: banding.dram_used,
            mem_used: tile_used,
            nms: None,
        },
    )
}
