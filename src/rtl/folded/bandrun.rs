//! A model of the banded board ([`super::band`]): DRAM and the tile memory as byte arrays, the
//! copies done as the DMA descriptors say, and each band computed from its tile alone with
//! the integer kernels (rows padded at the band's `pad_top`, columns at the layer's padding).
//!
//! It is the reference for the banded hardware's memory traffic and proves the band rule
//! itself: every layer's tensor in DRAM, after its last band, must equal the integer model's
//! (the caller compares with the golden vectors).

use super::band::{Band, Banding, Dir, Dma};
use crate::quant::kernels;
use crate::quant::{QOp, QuantGraph};
use crate::rtl::plan::{LayerPlan, Plan};
use ndarray::{s, Array3};

/// DRAM and tile memory of the banded board.
pub struct Board {
    pub dram: Vec<u8>,
    pub tile: Vec<u8>,
}

impl Board {
    fn copy(&mut self, d: &Dma) {
        for k in 0..d.nseg {
            let (a, b) = (d.dram + k * d.dstride, d.chip + k * d.cstride);
            match d.dir {
                Dir::Load => self.tile[b..b + d.seg].copy_from_slice(&self.dram[a..a + d.seg]),
                Dir::Store => self.dram[a..a + d.seg].copy_from_slice(&self.tile[b..b + d.seg]),
            }
        }
    }

    /// `[c, rows, w]` codes from the tile at `at`.
    fn read(&self, at: usize, c: usize, rows: usize, w: usize) -> Array3<i32> {
        Array3::from_shape_fn((c, rows, w), |(ch, y, x)| {
            self.tile[at + (ch * rows + y) * w + x] as i32
        })
    }

    fn write(&mut self, at: usize, v: &Array3<i32>) {
        for (k, &c) in v.iter().enumerate() {
            self.tile[at + k] = c as u8;
        }
    }
}

/// The band's input tile with its padding made explicit: `pad_top` rows above, rows below to
/// the last window row, `pad` columns each side, all `fill`.
fn padded(x: &Array3<i32>, b: &Band, k: usize, s: usize, pad: usize, fill: i32) -> Array3<i32> {
    let (c, rows, w) = x.dim();
    let need = (b.y1 - b.y0 - 1) * s + k;
    let total = need.max(b.pad_top + rows);
    let mut p = Array3::from_elem((c, total, w + 2 * pad), fill);
    p.slice_mut(s![.., b.pad_top..b.pad_top + rows, pad..pad + w])
        .assign(x);
    p.slice(s![.., ..need, ..]).to_owned()
}

/// Run the banded schedule on `input` (the input node's codes, `[3, h, w]`), calling
/// `after(layer index, dram)` once each layer's last band is stored. The post-processing
/// stage is skipped (it runs on DRAM; its inputs are the head tensors).
pub fn run(
    q: &QuantGraph,
    plan: &Plan,
    banding: &Banding,
    input: &Array3<i32>,
    mut after: impl FnMut(usize, &[u8]),
) -> Board {
    let mut bd = Board {
        dram: vec![0; plan.mem_depth],
        tile: vec![0; banding.tile_bytes],
    };
    for bl in &banding.layers {
        let l = &plan.layers[bl.layer];
        let node = &q.nodes[l.node.min(q.nodes.len() - 1)];
        let [co, _, wo] = l.shape;
        for b in &bl.bands {
            for d in &b.loads {
                bd.copy(d);
            }
            let out = match (&l.params, &node.op) {
                (LayerPlan::Input(p), _) => {
                    input.slice(s![.., b.y0..b.y1, ..]).mapv(|v| v >> p.shift)
                }
                (LayerPlan::Conv(c), QOp::Conv(qc)) => {
                    let x = bd.read(b.chip_in[0], c.ci, b.r1 - b.r0, c.w);
                    let x = padded(&x, b, c.k, c.stride, c.pad, qc.pad_value);
                    let mut k0 = qc.clone();
                    k0.pad = 0;
                    kernels::conv(x.view(), &k0, node.fmt.as_ref().expect("integer conv"))
                }
                (LayerPlan::MaxPool(p), _) => {
                    let x = bd.read(b.chip_in[0], p.c, b.r1 - b.r0, p.w);
                    // Codes are never negative and every window holds a real element, so a
                    // padding of 0 never wins.
                    let x = padded(&x, b, p.k, p.stride, p.pad, 0);
                    kernels::maxpool(x.view(), p.k, p.stride, 0)
                }
                (LayerPlan::Upsample(u), _) => {
                    let x = bd.read(b.chip_in[0], u.c, b.r1 - b.r0, u.w);
                    let f = u.f;
                    Array3::from_shape_fn((u.c, b.y1 - b.y0, u.w * f), |(ch, y, xx)| {
                        x[[ch, (b.y0 + y) / f - b.r0, xx / f]]
                    })
                }
                (LayerPlan::Add(_), QOp::Add { shifts }) => {
                    let [c, _, w] = l.shape;
                    let rows = b.r1 - b.r0;
                    let xs: Vec<Array3<i32>> =
                        b.chip_in.iter().map(|&a| bd.read(a, c, rows, w)).collect();
                    let v: Vec<_> = xs.iter().map(|x| x.view()).collect();
                    let f: Vec<_> = node
                        .inputs
                        .iter()
                        .map(|&j| q.nodes[j].fmt.expect("integer"))
                        .collect();
                    kernels::add(&v, &f, shifts, node.fmt.as_ref().expect("integer add"))
                }
                (p, _) => unreachable!("{} has no bands", p.kind()),
            };
            debug_assert_eq!(out.dim(), (co, b.y1 - b.y0, wo));
            bd.write(b.chip_out, &out);
            bd.copy(&b.store);
        }
        if !bl.bands.is_empty() {
            after(bl.layer, &bd.dram);
        }
    }
    bd
}
