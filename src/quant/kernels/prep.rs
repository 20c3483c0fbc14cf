//! The per-layer work of the integer convolution that depends only on the layer's
//! parameters (weight range and worst-case row sum, the i32 requantizers, the direct
//! kernel's weight words), done once per layer and remembered across calls. An entry is
//! found by the address of the layer's weights and used only after checking that every
//! parameter it was computed from is equal to the layer's (weights compared element by
//! element), so a remembered entry is always the one a fresh computation would give.

use super::direct;
use super::requant32::Requant32;
use super::rows::{max_abs_row_sum, min_max};
use super::QConv;
use crate::quant::spec::QFormat;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What [`get`] remembers for one layer.
pub struct Prep {
    dims: (usize, usize, usize, usize),
    weight: Vec<i32>,
    bias: Vec<i64>,
    mult: Vec<i64>,
    shift: Vec<i32>,
    fmt: QFormat,
    stride: usize,
    /// Smallest and largest weight.
    pub wlo: i32,
    pub whi: i32,
    /// Largest `sum |w|` over the output channels.
    pub wsum: i64,
    /// [`Requant32::new`] of every channel for `fmt`.
    pub r32: Vec<Option<Requant32>>,
    /// The direct kernel's weight words and words per channel, when the weights are bytes
    /// and the stride is one it takes.
    pub direct: Option<(Vec<i32>, usize)>,
}

impl Prep {
    fn build(q: &QConv, fmt: &QFormat) -> Self {
        let ws = q.weight.as_standard_layout();
        let ws = ws.as_slice().expect("standard layout");
        let (wlo, whi) = min_max(ws);
        let kk = ws.len() / q.weight.dim().0.max(1);
        let direct =
            (wlo >= -128 && whi <= 127 && direct::applies(q)).then(|| direct::pack_weights(q));
        Prep {
            dims: q.weight.dim(),
            weight: ws.to_vec(),
            bias: q.bias.clone(),
            mult: q.mult.clone(),
            shift: q.shift.clone(),
            fmt: *fmt,
            stride: q.stride,
            wlo,
            whi,
            wsum: max_abs_row_sum(ws, kk),
            r32: (0..q.bias.len())
                .map(|o| Requant32::new(q.bias[o], q.mult[o], q.shift[o], fmt))
                .collect(),
            direct,
        }
    }

    fn matches(&self, q: &QConv, fmt: &QFormat) -> bool {
        self.dims == q.weight.dim()
            && self.stride == q.stride
            && self.fmt == *fmt
            && self.bias == q.bias
            && self.mult == q.mult
            && self.shift == q.shift
            && match q.weight.as_slice() {
                Some(ws) => self.weight == ws,
                None => self.weight.iter().eq(q.weight.iter()),
            }
    }
}

/// The [`Prep`] of layer `q` with requantizers for `fmt`, computed or remembered.
pub fn get(q: &QConv, fmt: &QFormat) -> Arc<Prep> {
    type Memo = Mutex<Option<HashMap<(usize, usize), Arc<Prep>>>>;
    static MEMO: Memo = Mutex::new(None);
    let key = (q.weight.as_ptr() as usize, q.weight.len());
    let found = MEMO
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(&key).cloned());
    if let Some(p) = found.filter(|p| p.matches(q, fmt)) {
        return p;
    }
    let p = Arc::new(Prep::build(q, fmt));
    let mut memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    let memo = memo.get_or_insert_with(HashMap::new);
    if memo.len() >= 4096 {
        memo.clear();
    }
    memo.insert(key, p.clone());
    p
}

#[cfg(test)]
mod tests {
    use super::super::QConv;
    use crate::quant::spec::QFormat;
    use ndarray::Array4;

    /// A remembered entry is not used for a layer whose weights (same buffer), bias or
    /// format changed; it is used again for the same parameters.
    #[test]
    fn entries_follow_the_parameters() {
        let weight = Array4::from_shape_fn((3, 2, 3, 3), |(o, c, y, x)| {
            (o * 7 + c * 5 + y * 3 + x) as i32 % 9 - 4
        });
        let mut q = QConv::plain(weight, vec![10, -20, 30], 1, 1, 0);
        q.shift = vec![4; 3];
        let fmt = QFormat::pow2(8, 3, 7);
        let a = super::get(&q, &fmt);
        assert!(std::sync::Arc::ptr_eq(&a, &super::get(&q, &fmt)));
        q.weight[[1, 1, 1, 1]] = 100;
        let b = super::get(&q, &fmt);
        assert_eq!((b.whi, b.weight[18 + 9 + 4]), (100, 100));
        q.bias[2] = 31;
        assert_eq!(super::get(&q, &fmt).bias[2], 31);
        let f2 = QFormat::pow2(8, 3, 8);
        assert_eq!(super::get(&q, &f2).fmt, f2);
    }
}
