//! Scale groups: tensors that must share one format so that concat, slice, pooling,
//! upsampling and residual adds need no rescaling in hardware.
//!
//! Rules: a Slice, MaxPool or Upsample output shares its input's format; a Concat output
//! shares every input's; an Add output shares both inputs'. Convolution outputs are free,
//! so a group's format is realised by the convolutions (or tables) that produce it.

use crate::graph::{Graph, Op};

/// Union-find over node indices.
struct Dsu(Vec<usize>);

impl Dsu {
    fn find(&mut self, x: usize) -> usize {
        let mut r = x;
        while self.0[r] != r {
            r = self.0[r];
        }
        let mut y = x;
        while self.0[y] != r {
            let n = self.0[y];
            self.0[y] = r;
            y = n;
        }
        r
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            self.0[hi] = lo;
        }
    }
}

/// `group[i]` is the group number of node `i`'s output; groups are numbered by first member.
pub fn scale_groups(g: &Graph) -> Vec<usize> {
    let n = g.nodes.len();
    let mut d = Dsu((0..n).collect());
    for (i, node) in g.nodes.iter().enumerate() {
        match node.op {
            Op::Slice { .. } | Op::MaxPool { .. } | Op::Upsample { .. } | Op::Concat | Op::Add => {
                for &j in &node.inputs {
                    d.union(i, j);
                }
            }
            Op::Input | Op::Conv(_) => {}
        }
    }
    let roots: Vec<usize> = (0..n).map(|i| d.find(i)).collect();
    let mut ids = vec![usize::MAX; n];
    let mut next = 0;
    roots
        .iter()
        .map(|&r| {
            if ids[r] == usize::MAX {
                ids[r] = next;
                next += 1;
            }
            ids[r]
        })
        .collect()
}
