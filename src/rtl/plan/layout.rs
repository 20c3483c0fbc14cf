//! Activation memory layout: tensor shapes, aliasing of slices and concats, and address
//! allocation with reuse.
//!
//! Guarantees: every tensor is stored channel-major (`base + c*H*W + y*W + x`); a concat's
//! inputs are laid out back to back inside the concat's buffer and a slice is a window of
//! its source, so neither needs hardware; two buffers that are alive in the same schedule
//! step never overlap; the network outputs stay alive to the end.

use crate::error::{Error, Result};
use crate::model::conv::out_size;
use crate::quant::{QOp, QuantGraph};

/// Output shape `[c, h, w]` of every node for an `h x w` input.
pub fn shapes(q: &QuantGraph, h: usize, w: usize) -> Result<Vec<[usize; 3]>> {
    let mut s: Vec<[usize; 3]> = Vec::with_capacity(q.nodes.len());
    for n in &q.nodes {
        let inp = |k: usize| s[n.inputs[k]];
        let sh = match &n.op {
            QOp::Input { .. } => [3, h, w],
            QOp::Conv(c) => {
                let [_, ih, iw] = inp(0);
                let k = c.weight.shape()[2];
                let co = c.weight.shape()[0];
                [
                    co,
                    out_size(ih, k, c.stride, c.pad),
                    out_size(iw, k, c.stride, c.pad),
                ]
            }
            QOp::FloatConv(c) => {
                let [_, ih, iw] = inp(0);
                [
                    c.c_out(),
                    out_size(ih, c.k(), c.stride, c.pad),
                    out_size(iw, c.k(), c.stride, c.pad),
                ]
            }
            QOp::Slice { start, end } => [end - start, inp(0)[1], inp(0)[2]],
            QOp::Concat => [
                n.inputs.iter().map(|&j| s[j][0]).sum(),
                inp(0)[1],
                inp(0)[2],
            ],
            QOp::Add { .. } => inp(0),
            QOp::MaxPool { k, stride, pad } => {
                let [c, ih, iw] = inp(0);
                [
                    c,
                    out_size(ih, *k, *stride, *pad),
                    out_size(iw, *k, *stride, *pad),
                ]
            }
            QOp::Upsample { factor } => {
                let [c, ih, iw] = inp(0);
                [c, ih * factor, iw * factor]
            }
        };
        if sh.contains(&0) {
            return Err(Error::arg(
                "--imgsz",
                format!(
                    "{} would have an empty output {sh:?}; use a larger input",
                    n.name
                ),
            ));
        }
        s.push(sh);
    }
    Ok(s)
}

/// Nodes whose values leave the accelerator: the head's box and class logits.
pub fn outputs(q: &QuantGraph) -> Vec<usize> {
    let mut o: Vec<usize> = q
        .head
        .box_nodes
        .iter()
        .chain(&q.head.cls_nodes)
        .copied()
        .collect();
    o.sort_unstable();
    o
}

/// The result of [`place`].
pub struct Layout {
    /// Base address of every node's tensor.
    pub base: Vec<usize>,
    /// Words of activation memory needed.
    pub depth: usize,
}

/// Resolve aliases (concat members, slices) and allocate buffers with lifetime-based reuse.
pub fn place(q: &QuantGraph, shapes: &[[usize; 3]]) -> Result<Layout> {
    let n = q.nodes.len();
    // parent[i] = (node whose buffer holds i, channel offset inside it)
    let mut parent: Vec<(usize, usize)> = (0..n).map(|i| (i, 0)).collect();
    let mut placed = vec![false; n];
    let conflict = |name: &str| {
        Error::Other(format!(
            "{name}: a tensor would have to live in two concatenations; this graph needs a copy layer, which the RTL generator does not provide"
        ))
    };
    for i in (0..n).rev() {
        let node = &q.nodes[i];
        match &node.op {
            QOp::Concat => {
                let mut off = 0;
                for &j in &node.inputs {
                    if placed[j] || matches!(q.nodes[j].op, QOp::Input { .. }) {
                        return Err(conflict(&q.nodes[j].name));
                    }
                    parent[j] = (i, off);
                    placed[j] = true;
                    off += shapes[j][0];
                }
            }
            QOp::Slice { start, .. } => {
                let src = node.inputs[0];
                if placed[i] {
                    let (r, o) = parent[i];
                    if o < *start {
                        return Err(conflict(&q.nodes[src].name));
                    }
                    let want = (r, o - start);
                    if placed[src] && parent[src] != want {
                        return Err(conflict(&q.nodes[src].name));
                    }
                    parent[src] = want;
                    placed[src] = true;
                } else {
                    parent[i] = (src, *start);
                }
            }
            _ => {}
        }
    }
    // Root buffer and element offset of every node.
    let root_of = |mut i: usize| {
        let mut ch = 0;
        while parent[i].0 != i {
            ch += parent[i].1;
            i = parent[i].0;
        }
        (i, ch)
    };
    let roots: Vec<(usize, usize)> = (0..n).map(root_of).collect();
    // Schedule steps: hardware layers in node order.
    let hw = |i: usize| !matches!(q.nodes[i].op, QOp::Slice { .. } | QOp::Concat);
    let mut step = vec![usize::MAX; n];
    let mut s = 0;
    for i in (0..n).filter(|&i| hw(i)) {
        step[i] = s;
        s += 1;
    }
    let end_step = s;
    let (mut first, mut last) = (vec![usize::MAX; n], vec![0usize; n]);
    for i in (0..n).filter(|&i| hw(i)) {
        let r = roots[i].0;
        first[r] = first[r].min(step[i]);
        last[r] = last[r].max(step[i]);
        for &j in &q.nodes[i].inputs {
            let rj = roots[j].0;
            last[rj] = last[rj].max(step[i]);
        }
    }
    for o in outputs(q) {
        last[roots[o].0] = end_step;
    }
    let size = |r: usize| shapes[r].iter().product::<usize>();
    let mut order: Vec<usize> = (0..n)
        .filter(|&r| roots[r].0 == r && first[r] != usize::MAX)
        .collect();
    order.sort_by_key(|&r| (first[r], r));
    let mut addr = vec![0usize; n];
    let mut done: Vec<usize> = Vec::new();
    let mut depth = 0;
    for &r in &order {
        let live: Vec<(usize, usize)> = done
            .iter()
            .filter(|&&o| first[o] <= last[r] && first[r] <= last[o])
            .map(|&o| (addr[o], addr[o] + size(o)))
            .collect();
        let mut cands: Vec<usize> = std::iter::once(0).chain(live.iter().map(|l| l.1)).collect();
        cands.sort_unstable();
        let a = cands
            .into_iter()
            .find(|&a| live.iter().all(|&(lo, hi)| a + size(r) <= lo || a >= hi))
            .expect("the end of the highest live buffer is always free");
        addr[r] = a;
        depth = depth.max(a + size(r));
        done.push(r);
    }
    let base = (0..n)
        .map(|i| {
            let (r, ch) = roots[i];
            addr[r] + ch * shapes[i][1] * shapes[i][2]
        })
        .collect();
    Ok(Layout { base, depth })
}
