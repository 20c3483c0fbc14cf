//! Partial-sum scratch space of the folded engine: for each convolution whose reduction is
//! split into chunks, a region of `Ho*Wo*P` 32-bit sums placed in activation memory that no
//! live tensor occupies during that layer.
//!
//! Guarantees: a tensor is treated as live from the first layer that writes any part of it
//! to the last layer that reads it or any tensor aliasing it (slices, concatenations), and the
//! network outputs to the end; the region returned overlaps none of them and lies below the
//! memory's capacity.

use crate::quant::{QOp, QuantGraph};
use crate::rtl::plan::Plan;

/// Live intervals `[first step, last step]` of every node's bytes, by node index
/// (`None` for nodes that never hold data).
pub fn live(q: &QuantGraph, plan: &Plan) -> Vec<Option<(usize, usize)>> {
    let n = q.nodes.len();
    let end = plan.layers.len();
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    for (s, l) in plan.layers.iter().enumerate() {
        if l.node < n {
            first[l.node] = first[l.node].min(s);
            last[l.node] = last[l.node].max(s);
            for &j in &q.nodes[l.node].inputs {
                last[j] = last[j].max(s);
            }
        }
    }
    for &o in &plan.outputs {
        last[o] = end;
    }
    // Aliases: a concat holds its members, a slice is a window of its source; propagate until
    // nothing changes (each pass only widens intervals).
    loop {
        let mut changed = false;
        for i in 0..n {
            if matches!(q.nodes[i].op, QOp::Concat | QOp::Slice { .. }) {
                for &j in &q.nodes[i].inputs {
                    let (f, l) = (first[i].min(first[j]), last[i].max(last[j]));
                    if f != first[i] || l != last[i] || f != first[j] || l != last[j] {
                        first[i] = f;
                        first[j] = f;
                        last[i] = l;
                        last[j] = l;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    (0..n)
        .map(|i| (first[i] != usize::MAX).then_some((first[i], last[i])))
        .collect()
}

/// Lowest byte address, a multiple of `align`, of a `bytes`-long region free at `step` (and
/// outside the `extra` busy ranges), below `cap`.
pub fn place(
    plan: &Plan,
    live: &[Option<(usize, usize)>],
    step: usize,
    bytes: usize,
    cap: usize,
    align: usize,
    extra: &[(usize, usize)],
) -> Option<usize> {
    let mut busy: Vec<(usize, usize)> = plan
        .nodes
        .iter()
        .zip(live)
        .filter_map(|(nd, lv)| {
            let (f, l) = (*lv)?;
            (f <= step && step <= l)
                .then(|| (nd.base, nd.base + nd.shape.iter().product::<usize>()))
        })
        .collect();
    busy.extend_from_slice(extra);
    busy.sort_unstable();
    let mut at = 0usize;
    for (lo, hi) in busy {
        if lo >= at + bytes {
            break;
        }
        at = at.max(hi.next_multiple_of(align));
    }
    (at + bytes <= cap).then_some(at)
}
